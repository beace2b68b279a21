package runner

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

func startTestKafka(t *testing.T, dir string) *kafkaBroker {
	t.Helper()
	port, err := FreePort()
	require.NoError(t, err)
	k, err := startKafka(filepath.Join(dir, "kafka"), filepath.Join(dir, "kafka-password"), port)
	require.NoError(t, err)
	t.Cleanup(k.stop)
	return k
}

// TestTheEmbeddedKafkaRefusesClientsWithoutItsPassword: anything else on
// the host that finds the port can neither publish nor read events.
func TestTheEmbeddedKafkaRefusesClientsWithoutItsPassword(t *testing.T) {
	k := startTestKafka(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, k.ensureTopics(ctx, []string{"receive-code"}))
	for name, opts := range map[string][]kgo.Opt{
		"no password":    nil,
		"wrong password": {kgo.SASL(scram.Auth{User: KafkaUser, Pass: randomToken()}.AsSha512Mechanism())},
	} {
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(k.addr), kgo.RequestRetries(0)}, opts...)...)
		require.NoError(t, err)
		// A refused client may also just wait: either way nothing is stored.
		pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
		assert.Error(t, cl.ProduceSync(pctx, &kgo.Record{Topic: "receive-code", Value: []byte("{}")}).FirstErr(), "%s: produced", name)
		pcancel()
		cl.Close()
	}
	cl, err := k.client(kgo.ConsumeTopics("receive-code"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	defer cl.Close()
	require.NoError(t, cl.ProduceSync(ctx, &kgo.Record{Topic: "receive-code", Value: []byte("mine")}).FirstErr())
	got := cl.PollRecords(ctx, 10).Records()
	require.Len(t, got, 1, "only the record of the client with the password")
	assert.Equal(t, "mine", string(got[0].Value))
}

// TestTheEmbeddedKafkaKeepsTopicsOffsetsAndItsPasswordAcrossARestart:
// the fault suite stops the broker under load, and make run starts it
// again on the same data dir; the topics made up front, their records
// and a consumer group's committed offset must all be there afterwards.
func TestTheEmbeddedKafkaKeepsTopicsOffsetsAndItsPasswordAcrossARestart(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	k := startTestKafka(t, dir)
	require.NoError(t, k.ensureTopics(ctx, []string{"request-code", "request-code-dead"}))
	require.NoError(t, k.ensureTopics(ctx, []string{"request-code"}), "a topic that exists is left as it is")
	partitions(ctx, t, k, "request-code")

	cl, err := k.client(kgo.ConsumerGroup("voucher-int"), kgo.ConsumeTopics("request-code"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	require.NoError(t, err)
	for _, v := range []string{"one", "two"} {
		require.NoError(t, cl.ProduceSync(ctx, &kgo.Record{Topic: "request-code", Key: []byte("+84909000001"), Value: []byte(v)}).FirstErr())
	}
	first := cl.PollRecords(ctx, 1).Records()
	require.Len(t, first, 1)
	require.Equal(t, "one", string(first[0].Value))
	require.NoError(t, cl.CommitRecords(ctx, first...))
	cl.Close()

	// The same folder again, as make run after Ctrl-C does: a new broker
	// on another port reads the password kept beside the data (the broker
	// keeps its users with its data, so a new one would lock us out).
	k.stop()
	k = startTestKafka(t, dir)
	partitions(ctx, t, k, "request-code")
	cl, err = k.client(kgo.ConsumerGroup("voucher-int"), kgo.ConsumeTopics("request-code"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	defer cl.Close()
	next := cl.PollRecords(ctx, 1).Records()
	require.Len(t, next, 1)
	assert.Equal(t, "two", string(next[0].Value), "the group resumed from its committed offset")
}

// partitions checks that topic exists with KafkaPartitions partitions.
func partitions(ctx context.Context, t *testing.T, k *kafkaBroker, topic string) {
	t.Helper()
	cl, err := k.client()
	require.NoError(t, err)
	defer cl.Close()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	require.NoError(t, err)
	require.Len(t, resp.Topics, 1)
	assert.Zero(t, resp.Topics[0].ErrorCode, "topic %s", topic)
	assert.Len(t, resp.Topics[0].Partitions, KafkaPartitions, "partitions of %s", topic)
}
