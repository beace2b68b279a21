package testkit

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	commonv1 "github.com/dapr/dapr/pkg/proto/common/v1"
	runtimev1 "github.com/dapr/dapr/pkg/proto/runtime/v1"
	dapr "github.com/dapr/go-sdk/client"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

// FakeSidecar serves the part of daprd's gRPC API our apps call, so tests
// can run an app's real wiring without a daprd. It refuses calls without
// Token, as daprd does.
type FakeSidecar struct {
	runtimev1.UnimplementedDaprServer
	Mem *MemState
	// Secrets answers GetSecret: store name → secret name → its values.
	Secrets map[string]map[string]map[string]string
	Token   string
	Port    string

	mu       sync.Mutex
	bindings []Binding
}

// Binding is one output binding call.
type Binding struct {
	Name, Operation string
	Data            []byte
	Metadata        map[string]string
}

// StartSidecar serves until the test ends.
func StartSidecar(t testing.TB, token string) *FakeSidecar {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("sidecar: %v", err)
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	s := &FakeSidecar{Mem: NewMemState(), Secrets: map[string]map[string]map[string]string{}, Token: token, Port: port}
	srv := grpc.NewServer(grpc.UnaryInterceptor(s.authenticate))
	runtimev1.RegisterDaprServer(srv, s)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	return s
}

func (s *FakeSidecar) authenticate(ctx context.Context, req any, _ *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	if got := md.Get("dapr-api-token"); len(got) != 1 || got[0] != s.Token {
		return nil, status.Error(codes.Unauthenticated, "missing or wrong dapr-api-token")
	}
	return next(ctx, req)
}

// Bindings lists the calls so far.
func (s *FakeSidecar) Bindings() []Binding {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Binding(nil), s.bindings...)
}

func (s *FakeSidecar) GetState(ctx context.Context, req *runtimev1.GetStateRequest) (*runtimev1.GetStateResponse, error) {
	it, err := s.Mem.GetState(ctx, req.GetStoreName(), req.GetKey(), nil)
	if err != nil {
		return nil, err
	}
	return &runtimev1.GetStateResponse{Data: it.Value, Etag: it.Etag}, nil
}

func (s *FakeSidecar) GetBulkState(ctx context.Context, req *runtimev1.GetBulkStateRequest) (*runtimev1.GetBulkStateResponse, error) {
	items, err := s.Mem.GetBulkState(ctx, req.GetStoreName(), req.GetKeys(), nil, 0)
	if err != nil {
		return nil, err
	}
	out := &runtimev1.GetBulkStateResponse{}
	for _, it := range items {
		out.Items = append(out.Items, &runtimev1.BulkStateItem{Key: it.Key, Data: it.Value, Etag: it.Etag})
	}
	return out, nil
}

func (s *FakeSidecar) SaveState(ctx context.Context, req *runtimev1.SaveStateRequest) (*emptypb.Empty, error) {
	items := make([]*dapr.SetStateItem, 0, len(req.GetStates()))
	for _, it := range req.GetStates() {
		items = append(items, setItem(it))
	}
	return &emptypb.Empty{}, s.Mem.SaveBulkState(ctx, req.GetStoreName(), items...)
}

func (s *FakeSidecar) ExecuteStateTransaction(ctx context.Context, req *runtimev1.ExecuteStateTransactionRequest) (*emptypb.Empty, error) {
	ops := make([]*dapr.StateOperation, 0, len(req.GetOperations()))
	for _, op := range req.GetOperations() {
		ops = append(ops, &dapr.StateOperation{Type: dapr.OperationType(operationType(op.GetOperationType())), Item: setItem(op.GetRequest())})
	}
	return &emptypb.Empty{}, s.Mem.ExecuteStateTransaction(ctx, req.GetStoreName(), nil, ops)
}

func (s *FakeSidecar) DeleteBulkState(ctx context.Context, req *runtimev1.DeleteBulkStateRequest) (*emptypb.Empty, error) {
	keys := make([]string, 0, len(req.GetStates()))
	for _, it := range req.GetStates() {
		keys = append(keys, it.GetKey())
	}
	return &emptypb.Empty{}, s.Mem.DeleteBulkState(ctx, req.GetStoreName(), keys, nil)
}

func (s *FakeSidecar) PublishEvent(ctx context.Context, req *runtimev1.PublishEventRequest) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, s.Mem.PublishEvent(ctx, req.GetPubsubName(), req.GetTopic(), req.GetData(),
		dapr.PublishEventWithMetadata(req.GetMetadata()), dapr.PublishEventWithContentType(req.GetDataContentType()))
}

func (s *FakeSidecar) GetSecret(_ context.Context, req *runtimev1.GetSecretRequest) (*runtimev1.GetSecretResponse, error) {
	v, ok := s.Secrets[req.GetStoreName()][req.GetKey()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no secret %s in %s", req.GetKey(), req.GetStoreName())
	}
	return &runtimev1.GetSecretResponse{Data: v}, nil
}

func (s *FakeSidecar) InvokeBinding(_ context.Context, req *runtimev1.InvokeBindingRequest) (*runtimev1.InvokeBindingResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bindings = append(s.bindings, Binding{Name: req.GetName(), Operation: req.GetOperation(), Data: req.GetData(), Metadata: req.GetMetadata()})
	return &runtimev1.InvokeBindingResponse{}, nil
}

func setItem(it *commonv1.StateItem) *dapr.SetStateItem {
	out := &dapr.SetStateItem{Key: it.GetKey(), Value: it.GetValue(), Metadata: it.GetMetadata()}
	if it.GetEtag() != nil {
		out.Etag = &dapr.ETag{Value: it.GetEtag().GetValue()}
	}
	if it.GetOptions().GetConcurrency() == commonv1.StateOptions_CONCURRENCY_FIRST_WRITE {
		out.Options = &dapr.StateOptions{Concurrency: dapr.StateConcurrencyFirstWrite}
	}
	return out
}

func operationType(t string) int {
	if t == "delete" {
		return int(dapr.StateOperationTypeDelete)
	}
	return int(dapr.StateOperationTypeUpsert)
}

// RunApp starts run beside sidecar and waits for /healthz. It returns the
// app's base URL. The test fails if run fails or does not stop at the end.
func RunApp(t testing.TB, run func(context.Context, func(string) string, io.Writer) error, sidecar *FakeSidecar, appToken string, env map[string]string) string {
	t.Helper()
	// The Dapr client reads DAPR_API_TOKEN from the process, as in the app.
	t.Setenv("DAPR_API_TOKEN", sidecar.Token)
	vars := map[string]string{
		"APP_PORT": FreePort(t), "DAPR_GRPC_PORT": sidecar.Port, "DAPR_HTTP_PORT": FreePort(t),
		"APP_API_TOKEN": appToken, "DAPR_API_TOKEN": sidecar.Token,
	}
	for k, v := range env {
		vars[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, Env(vars), io.Discard) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run returned %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("run did not return after its context ended")
		}
	})
	base := "http://127.0.0.1:" + vars["APP_PORT"]
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		select {
		case err := <-done:
			done <- nil // for the cleanup: it returned
			t.Fatalf("run returned before the app was up: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the app did not answer /healthz with 200 within 30 s")
		}
	}
}

// Delivery holds Status because go-sdk's topic handler always answers 200
// and puts SUCCESS, RETRY or DROP in the body.
type Delivery struct {
	Code   int
	Status string
}

// Delivered is a handled delivery.
var Delivered = Delivery{Code: http.StatusOK, Status: "SUCCESS"}

// Deliver posts a CloudEvent to an app's topic route, as its sidecar does.
func Deliver(t testing.TB, base, path, appToken, topic, ceType string, data any) Delivery {
	t.Helper()
	body, err := json.Marshal(map[string]any{
		"id": "test-" + topic, "source": "test", "type": ceType, "specversion": "1.0",
		"datacontenttype": "application/json", "topic": topic, "pubsubname": "pubsub", "data": data,
	})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, base+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/cloudevents+json")
	req.Header.Set("dapr-api-token", appToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("deliver to %s: %v", path, err)
	}
	defer resp.Body.Close()
	d := Delivery{Code: resp.StatusCode}
	if d.Code == http.StatusOK {
		var answer struct{ Status string }
		if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
			t.Fatalf("deliver to %s: the answer is not daprd's JSON: %v", path, err)
		}
		d.Status = answer.Status
	}
	return d
}

// FreePort is a loopback port free now.
func FreePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// Env is a getenv over vars.
func Env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}
