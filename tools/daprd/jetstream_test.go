package daprd_test

// The JetStream component as our daprd compiles it (components-contrib with
// build.sh's ManualAck fix), against an in-process NATS server: in
// parallel mode a message is acknowledged only after its handler answered,
// and a failed one comes back. The component as released acknowledges it
// when the handler starts, so the first test fails on it.

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dapr/components-contrib/metadata"
	"github.com/dapr/components-contrib/pubsub"
	"github.com/dapr/components-contrib/pubsub/jetstream"
	"github.com/dapr/kit/logger"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const topic = "receive-code"

// broker starts a JetStream server with one stream for topic, and returns
// its URL and a JetStream context to look at the consumer with.
func broker(t *testing.T) (string, nats.JetStreamContext) {
	t.Helper()
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true})
	require.NoError(t, err)
	go srv.Start()
	t.Cleanup(srv.Shutdown)
	require.True(t, srv.ReadyForConnections(10*time.Second), "nats server not ready")
	nc, err := nats.Connect(srv.ClientURL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := nc.JetStream()
	require.NoError(t, err)
	_, err = js.AddStream(&nats.StreamConfig{Name: "receive_code", Subjects: []string{topic}})
	require.NoError(t, err)
	return srv.ClientURL(), js
}

// component is the embedded profile's pubsub, as components/embedded/
// pubsub.yaml sets it (parallel, explicit acknowledgement).
func component(t *testing.T, url string, ackWait string) pubsub.PubSub {
	t.Helper()
	ps := jetstream.NewJetStream(logger.NewLogger("test"))
	require.NoError(t, ps.Init(context.Background(), pubsub.Metadata{Base: metadata.Base{Properties: map[string]string{
		"natsURL": url, "name": "gateway", "durableName": "gateway", "queueGroupName": "gateway",
		"deliverPolicy": "all", "ackWait": ackWait, "concurrencyMode": "parallel", "maxAckPending": "64",
	}}}))
	t.Cleanup(func() { _ = ps.Close() })
	return ps
}

func consumer(t *testing.T, js nats.JetStreamContext) *nats.ConsumerInfo {
	t.Helper()
	ci, err := js.ConsumerInfo("receive_code", "gateway")
	require.NoError(t, err)
	return ci
}

// TestParallelModeAcknowledgesAfterTheHandler: while a handler runs, its
// message is pending acknowledgement, so a sidecar killed now gets it
// again; once the handler answered, it is acknowledged.
func TestParallelModeAcknowledgesAfterTheHandler(t *testing.T) {
	url, js := broker(t)
	ps := component(t, url, "30s")
	entered, release := make(chan struct{}), make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	require.NoError(t, ps.Subscribe(ctx, pubsub.SubscribeRequest{Topic: topic}, func(context.Context, *pubsub.NewMessage) error {
		entered <- struct{}{}
		<-release
		return nil
	}))
	require.NoError(t, ps.Publish(ctx, &pubsub.PublishRequest{Topic: topic, PubsubName: "pubsub", Data: []byte(`{"id":"e1"}`)}))
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler was not called")
	}
	// The client acknowledges asynchronously: give a wrong early ack time
	// to reach the server before looking.
	time.Sleep(200 * time.Millisecond)
	assert.Equal(t, 1, consumer(t, js).NumAckPending, "acknowledged while its handler still runs")
	close(release)
	require.Eventually(t, func() bool { return consumer(t, js).NumAckPending == 0 }, 10*time.Second, 20*time.Millisecond,
		"not acknowledged after its handler answered")
}

// TestParallelModeDeliversAFailedMessageAgain: a handler's failure is not
// an acknowledgement; the message comes back after ackWait.
func TestParallelModeDeliversAFailedMessageAgain(t *testing.T) {
	url, js := broker(t)
	ps := component(t, url, "1s")
	calls := make(chan int32, 10)
	var n atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	require.NoError(t, ps.Subscribe(ctx, pubsub.SubscribeRequest{Topic: topic}, func(context.Context, *pubsub.NewMessage) error {
		i := n.Add(1)
		calls <- i
		if i == 1 {
			return errors.New("the app answered 500")
		}
		return nil
	}))
	require.NoError(t, ps.Publish(ctx, &pubsub.PublishRequest{Topic: topic, PubsubName: "pubsub", Data: []byte(`{"id":"e2"}`)}))
	for want := int32(1); want <= 2; want++ {
		select {
		case got := <-calls:
			assert.Equal(t, want, got, "delivery")
		case <-time.After(15 * time.Second):
			t.Fatalf("delivery %d did not come", want)
		}
	}
	require.Eventually(t, func() bool { return consumer(t, js).NumAckPending == 0 }, 10*time.Second, 20*time.Millisecond,
		"not acknowledged after the second delivery succeeded")
}
