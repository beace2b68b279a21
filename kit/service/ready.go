package service

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/httpx"
)

// Needs names what /readyz checks.
type Needs struct {
	// Components are names the sidecar's metadata API must list.
	Components []string
	// Stores must answer a read.
	Stores []string
}

const readyTimeout = time.Second

// probeKey is never written; any key would do.
const probeKey = "readyz-probe"

// Readiness checks what the app needs, so traffic can be held off while a
// store is down without a restart.
type Readiness struct {
	Sidecar Sidecar
	Needs   Needs
	// Started, if set, tells whether the routes are served.
	Started func() bool
	// HTTP may be nil; each check has readyTimeout.
	HTTP *http.Client
}

type readyAnswer struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

func (rd Readiness) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if rd.Started != nil && !rd.Started() {
		httpx.WriteProblem(w, r, errStarting)
		return
	}
	checks := rd.Check(r.Context())
	var failed []string
	for name, result := range checks {
		if result != "ok" {
			failed = append(failed, name+": "+result)
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	if len(failed) > 0 {
		sort.Strings(failed)
		httpx.WriteProblem(w, r, errs.E(errs.Unavailable, "not ready: %s", strings.Join(failed, "; ")))
		return
	}
	httpx.Encode(w, http.StatusOK, readyAnswer{Status: "ready", Checks: checks})
}

// Check runs every check at once. Each result is "ok" or what went wrong.
func (rd Readiness) Check(ctx context.Context) map[string]string {
	checks := map[string]func(context.Context) error{
		"sidecar": rd.sidecar,
	}
	if len(rd.Needs.Components) > 0 {
		checks["components"] = rd.components
	}
	for _, s := range rd.Needs.Stores {
		checks["store "+s] = func(ctx context.Context) error { return rd.store(ctx, s) }
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	out := make(map[string]string, len(checks))
	for name, check := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(ctx, readyTimeout)
			defer cancel()
			result := "ok"
			if err := check(ctx); err != nil {
				result = err.Error()
				if ctx.Err() != nil {
					result = fmt.Sprintf("no answer within %s", readyTimeout)
				}
			}
			mu.Lock()
			out[name] = result
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

func (rd Readiness) sidecar(ctx context.Context) error {
	if rd.Sidecar.HTTPPort == "" {
		return fmt.Errorf("DAPR_HTTP_PORT is not set")
	}
	_, err := rd.get(ctx, "/v1.0/healthz")
	return err
}

func (rd Readiness) components(ctx context.Context) error {
	body, err := rd.get(ctx, "/v1.0/metadata")
	if err != nil {
		return err
	}
	var md struct {
		Components []struct {
			Name string `json:"name"`
		} `json:"components"`
		HTTPEndpoints []struct {
			Name string `json:"name"`
		} `json:"httpEndpoints"`
	}
	if err := json.Unmarshal(body, &md); err != nil {
		return fmt.Errorf("metadata unreadable: %w", err)
	}
	var loaded []string
	for _, c := range md.Components {
		loaded = append(loaded, c.Name)
	}
	for _, e := range md.HTTPEndpoints {
		loaded = append(loaded, e.Name)
	}
	var missing []string
	for _, want := range rd.Needs.Components {
		if !slices.Contains(loaded, want) {
			missing = append(missing, want)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("not loaded: %s", strings.Join(missing, ", "))
	}
	return nil
}

func (rd Readiness) store(ctx context.Context, name string) error {
	_, err := rd.get(ctx, "/v1.0/state/"+url.PathEscape(name)+"/"+probeKey)
	return err
}

func (rd Readiness) get(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rd.Sidecar.URL()+path, nil)
	if err != nil {
		return nil, err
	}
	if rd.Sidecar.Token != "" {
		req.Header.Set(TokenHeader, rd.Sidecar.Token)
	}
	c := rd.HTTP
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("sidecar unreachable")
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("answer unreadable")
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("sidecar answered %d%s", resp.StatusCode, errorCode(body))
	}
	return body, nil
}

// errorCode keeps daprd's code, not the component's own words.
func errorCode(body []byte) string {
	var e struct {
		ErrorCode string `json:"errorCode"`
	}
	if json.Unmarshal(body, &e) == nil && e.ErrorCode != "" {
		return " " + e.ErrorCode
	}
	return ""
}

// readyReuse caps a flood of probes at one round of sidecar calls a second.
const readyReuse = time.Second

// answerAgainFor reuses h's answer for d; requests meanwhile wait for it.
func answerAgainFor(d time.Duration, now func() time.Time, h http.Handler) http.Handler {
	var mu sync.Mutex
	var last *captured
	var at time.Time
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if last == nil || now().Sub(at) >= d {
			c := &captured{header: http.Header{}, status: http.StatusOK}
			h.ServeHTTP(c, r)
			last, at = c, now()
		}
		c := last
		mu.Unlock()
		for k, v := range c.header {
			w.Header()[k] = v
		}
		w.WriteHeader(c.status)
		_, _ = w.Write(c.body)
	})
}

type captured struct {
	header http.Header
	status int
	body   []byte
}

func (c *captured) Header() http.Header         { return c.header }
func (c *captured) WriteHeader(status int)      { c.status = status }
func (c *captured) Write(b []byte) (int, error) { c.body = append(c.body, b...); return len(b), nil }
