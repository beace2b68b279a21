package daprx

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	runtimev1pb "github.com/dapr/dapr/pkg/proto/runtime/v1"
	dapr "github.com/dapr/go-sdk/client"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/bankabc/vouchers/api/events"
	"github.com/bankabc/vouchers/kit/httpx"
	"github.com/bankabc/vouchers/kit/testkit"
	"github.com/bankabc/vouchers/kit/tracing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	traceA = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
	traceB = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"
)

func traced(tp string) context.Context {
	sc, _ := tracing.Parse(tp)
	return tracing.With(context.Background(), sc)
}

func TestGRPCCallsCarryTheTraceAndKeepOtherMetadata(t *testing.T) {
	ctx := metadata.AppendToOutgoingContext(traced(traceA), "dapr-app-id", "voucher")
	var got metadata.MD
	invoker := func(ctx context.Context, _ string, _, _ any, _ *grpc.ClientConn, _ ...grpc.CallOption) error {
		got, _ = metadata.FromOutgoingContext(ctx)
		return nil
	}
	require.NoError(t, unaryMetadata("")(ctx, "/dapr.proto.runtime.v1.Dapr/PublishEvent", nil, nil, nil, invoker))
	assert.Equal(t, []string{traceA}, got.Get("traceparent"), "traceparent")
	assert.Len(t, got.Get("dapr-app-id"), 1, "the caller's metadata was lost: %v", got)
	assert.Empty(t, got.Get("dapr-api-token"), "a token without DAPR_API_TOKEN")
	_ = unaryMetadata("s3cret")(context.Background(), "/x", nil, nil, nil, invoker)
	assert.Len(t, got.Get("dapr-api-token"), 1, "untraced call with a token: %v", got)
	assert.Empty(t, got.Get("traceparent"), "untraced call with a token: %v", got)
}

func TestConnectedClientSendsTheTraceToTheSidecar(t *testing.T) {
	// Every call fails here; only the metadata that arrived matters.
	seen := make(chan metadata.MD, 1)
	srv := grpc.NewServer(grpc.UnknownServiceHandler(func(_ any, stream grpc.ServerStream) error {
		md, _ := metadata.FromIncomingContext(stream.Context())
		seen <- md
		return nil
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(ln) }()
	defer srv.Stop()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	c, err := Connect(context.Background(), slog.New(slog.DiscardHandler), port)
	require.NoError(t, err)
	defer c.Close()
	_ = c.PublishEvent(traced(traceA), "pubsub", "topic", []byte(`{}`))
	md := <-seen
	assert.Equal(t, []string{traceA}, md.Get("traceparent"), "the sidecar got traceparent")
}

func TestInvokeSendsTheTraceHeader(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Get("traceparent")
	}))
	defer srv.Close()
	in := Invoker{SidecarURL: srv.URL}
	_, err := in.Invoke(traced(traceA), "voucher", http.MethodGet, "vouchers/1", nil, nil)
	require.NoError(t, err)
	assert.Equal(t, traceA, got, "traceparent")
	_, err = in.Invoke(context.Background(), "voucher", http.MethodGet, "vouchers/1", nil, nil)
	assert.NoError(t, err, "untraced call")
	assert.Empty(t, got, "untraced call sent a traceparent")
}

func TestOutboxPublishCarriesTheWritersTrace(t *testing.T) {
	mem := testkit.NewMemState()
	s := Store[order]{Client: mem, Name: "s", Outbox: testOutbox(mem, "s")}
	sms := events.SendSMS{MessageID: "m1", PhoneNumber: "+84909123456", Text: "hi"}
	require.NoError(t, s.Insert(traced(traceA), "k", order{1}, &Event{Topic: events.TopicSendSMS, Data: sms, Type: events.TypeSendSMS}))
	got := mem.Events(events.TopicSendSMS)
	require.Len(t, got, 1)
	assert.Equal(t, traceA, got[0].Meta["cloudevent.traceparent"])
	assert.Equal(t, events.TypeSendSMS, got[0].Meta["cloudevent.type"])
}

type recordingPublisher struct{ opts []dapr.PublishEventOption }

func (p *recordingPublisher) PublishEvent(_ context.Context, _, _ string, _ any, opts ...dapr.PublishEventOption) error {
	p.opts = opts
	return nil
}

func TestPublishPutsTheTraceInTheCloudEvent(t *testing.T) {
	p := &recordingPublisher{}
	require.NoError(t, (Publisher{Client: p, PubSub: "pubsub"}).Publish(traced(traceA), "receive-code", "t", map[string]int{}))
	req := &runtimev1pb.PublishEventRequest{}
	for _, o := range p.opts {
		o(req)
	}
	assert.Equal(t, traceA, req.Metadata["cloudevent.traceparent"], "metadata %v", req.Metadata)
	assert.Equal(t, "t", req.Metadata["cloudevent.type"], "metadata %v", req.Metadata)
}

// A partitioned broker keeps one customer's events in order only if every
// publish carries the phone number as its key.
func TestEveryEventIsPublishedUnderItsPhoneNumber(t *testing.T) {
	for _, c := range []struct {
		name  string
		topic string
		data  any
		want  string
	}{
		{"request_code", events.TopicRequestCode, events.RequestCode{RequestID: "r1", PhoneNumber: "+84909000001"}, "+84909000001"},
		{"receive_code", events.TopicReceiveCode, events.ReceiveCode{RequestID: "r1", PhoneNumber: "+84909000002"}, "+84909000002"},
		{"send_sms", events.TopicSendSMS, events.SendSMS{MessageID: "m1", PhoneNumber: "+84909000003"}, "+84909000003"},
		{"replayed_dead_letter", events.TopicReceiveCode, json.RawMessage(`{"requestId":"r1","phoneNumber":"+84909000004"}`), "+84909000004"},
		{"no_phone_no_key", "bench-baseline", map[string]int{"n": 1}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := &recordingPublisher{}
			require.NoError(t, (Publisher{Client: p, PubSub: "pubsub"}).Publish(context.Background(), c.topic, "t", c.data))
			req := &runtimev1pb.PublishEventRequest{}
			for _, o := range p.opts {
				o(req)
			}
			key, ok := req.Metadata["partitionKey"]
			assert.Equal(t, c.want != "", ok, "partitionKey set: metadata %v", req.Metadata)
			assert.Equal(t, c.want, key)
		})
	}
}

func TestTopicWorksInTheEventsTrace(t *testing.T) {
	tests := []struct {
		name   string
		header string // what daprd sent as the traceparent header
		body   string
		want   string
	}{
		{"cloudevent_traceparent_is_adopted_without_a_header", "", `{"id":"e1","traceparent":"` + traceB + `","data":{"N":1}}`, traceB},
		{"legacy_traceid_is_adopted_without_a_header", "", `{"id":"e1","traceid":"` + traceB + `","data":{"N":1}}`, traceB},
		{"the_header_wins_when_daprd_sends_one", traceA, `{"id":"e1","traceparent":"` + traceB + `","data":{"N":1}}`, traceA},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			log := slog.New(httpx.LogHandler(slog.NewJSONHandler(&logs, nil)))
			var inHandler string
			h := httpx.Middleware(log, served(t, TopicHandler(log, func(ctx context.Context, _ Envelope, _ order) error {
				inHandler = tracing.Traceparent(ctx)
				log.InfoContext(ctx, "stored")
				return nil
			})))
			req := httptest.NewRequest(http.MethodPost, "/events/x", strings.NewReader(tt.body))
			if tt.header != "" {
				req.Header.Set("traceparent", tt.header)
			}
			h.ServeHTTP(httptest.NewRecorder(), req)
			wantID := tt.want[3:35]
			require.Len(t, inHandler, len(tt.want))
			assert.Equal(t, wantID, inHandler[3:35], "the trace the handler ran in")
			assert.NotEqual(t, tt.want, inHandler, "the handler runs in the delivery's server span")
			lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
			assert.Len(t, lines, 2, "want the handler's line and the request's")
			for _, l := range lines {
				var rec struct {
					Msg     string `json:"msg"`
					TraceID string `json:"trace_id"`
				}
				_ = json.Unmarshal([]byte(l), &rec)
				assert.Equal(t, wantID, rec.TraceID, "line %q: trace_id", rec.Msg)
			}
		})
	}
}
