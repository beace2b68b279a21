package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// KafkaPartitions is how many partitions each topic of the kafka profile
// has. daprd's Kafka component handles one message at a time per
// partition, so this is how many events of a topic an app handles at once
// (shared by its replicas), and a message whose handler is retried holds
// up only the messages behind it in its partition.
const KafkaPartitions = 12

// KafkaUser is the SASL user of the embedded Kafka broker. Its password is
// random, kept in the data dir beside the broker's data.
const KafkaUser = "vouchers"

// kafkaBroker is the Kafka-protocol broker (franz-go's kfake) the runner
// embeds for the kafka profile: daprd's real Kafka component talks to it
// over the Kafka wire protocol. It keeps its log, consumer groups and
// committed offsets in a folder, so it can be stopped and started again
// (fault tests) and a new run picks up where the last one stopped.
type kafkaBroker struct {
	dir      string
	port     int
	password string
	cluster  *kfake.Cluster
	addr     string
}

// startKafka runs one broker on 127.0.0.1:port with its data in dir,
// refusing clients without the SASL/SCRAM-SHA-512 password kept in
// passwordFile (made when missing).
func startKafka(dir, passwordFile string, port int) (*kafkaBroker, error) {
	password, err := kafkaPassword(dir, passwordFile)
	if err != nil {
		return nil, err
	}
	k := &kafkaBroker{dir: dir, port: port, password: password}
	if err := k.start(); err != nil {
		return nil, err
	}
	return k, nil
}

// kafkaPassword reads the broker's password, or makes one for a broker
// that has no data yet. The broker keeps its users with its data, so a
// new password for old data would lock the sidecars out.
func kafkaPassword(dir, file string) (string, error) {
	b, err := os.ReadFile(file)
	if err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, os.ErrNotExist) && err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(dir, "meta.json")); err == nil {
		return "", fmt.Errorf("embedded Kafka: %s holds a broker's data but %s, its password, is gone: remove the folder to start afresh", dir, file)
	}
	p := randomToken()
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return "", err
	}
	return p, os.WriteFile(file, []byte(p+"\n"), 0o600)
}

// start (re)starts the broker on the same port and folder: topics,
// messages, consumer groups and their offsets survive a stop.
func (k *kafkaBroker) start() error {
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.Ports(k.port),
		kfake.DataDir(k.dir),
		kfake.ClusterID("vouchers-embedded"),
		kfake.EnableSASL(),
		kfake.Superuser("SCRAM-SHA-512", KafkaUser, k.password),
	)
	if err != nil {
		return fmt.Errorf("embedded Kafka on 127.0.0.1:%d: %w", k.port, err)
	}
	k.cluster = c
	k.addr = c.ListenAddrs()[0]
	return nil
}

// stop closes the broker and every connection to it; its data stays in
// the folder.
func (k *kafkaBroker) stop() {
	if k.cluster != nil {
		k.cluster.Close()
	}
}

// client is a franz-go client of the broker, as the sidecars' are: the
// same user.
func (k *kafkaBroker) client(opts ...kgo.Opt) (*kgo.Client, error) {
	return kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(k.addr),
		kgo.SASL(scram.Auth{User: KafkaUser, Pass: k.password}.AsSha512Mechanism()),
	}, opts...)...)
}

// ensureTopics creates the topics the subscriptions name, before any
// sidecar starts, as an operator creates a cluster's topics: daprd's
// component would otherwise have the broker create each on first use with
// the broker's default partitions. Topics that exist are left as they are.
func (k *kafkaBroker) ensureTopics(ctx context.Context, topics []string) error {
	if len(topics) == 0 {
		return nil
	}
	cl, err := k.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 10000
	for _, t := range topics {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic = t
		rt.NumPartitions = KafkaPartitions
		rt.ReplicationFactor = 1
		req.Topics = append(req.Topics, rt)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("embedded Kafka: create topics: %w", err)
	}
	for _, t := range resp.Topics {
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("embedded Kafka: create topic %q: %w", t.Topic, err)
		}
	}
	return nil
}
