package daprx

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/tracing"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// Invoker uses daprd's HTTP API, which keeps the callee's status and body.
type Invoker struct {
	// SidecarURL is http://127.0.0.1:{DAPR_HTTP_PORT}.
	SidecarURL string
	// Token is DAPR_API_TOKEN.
	Token string
	HTTP  *http.Client
}

// Response is the callee's answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Invoke returns any answer as is. Only a transport failure is an error.
func (in Invoker) Invoke(ctx context.Context, appID, verb, method string, body []byte, header http.Header) (Response, error) {
	url := strings.TrimRight(in.SidecarURL, "/") + "/v1.0/invoke/" + appID + "/method/" + strings.TrimLeft(method, "/")
	req, err := http.NewRequestWithContext(ctx, verb, url, bytes.NewReader(body))
	if err != nil {
		return Response{}, fmt.Errorf("build request to %s: %w", appID, err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if in.Token != "" {
		req.Header.Set(TokenHeader, in.Token)
	}
	// daprd continues the trace when its tracing is on.
	if tp := tracing.Traceparent(ctx); tp != "" && req.Header.Get(tracing.Header) == "" {
		req.Header.Set(tracing.Header, tp)
	}
	if body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	c := in.HTTP
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return Response{}, errs.Wrap(errs.Unavailable, err, appID+" unreachable")
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return Response{}, errs.Wrap(errs.Unavailable, err, appID+" answer unreadable")
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// Exists maps 200 to true, 404 to false and anything else to Unavailable.
func (in Invoker) Exists(ctx context.Context, appID, method string) (bool, error) {
	resp, err := in.Invoke(ctx, appID, http.MethodGet, method, nil, nil)
	if err != nil {
		return false, err
	}
	switch resp.Status {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	default:
		return false, errs.E(errs.Unavailable, "%s answered %d", appID, resp.Status)
	}
}
