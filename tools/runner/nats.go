package runner

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// broker is the NATS JetStream server embedded for the embedded profile.
type broker struct {
	opts server.Options
	srv  *server.Server
	url  string
	// token is what a client must present: a random one per run, so that
	// nothing else on the host publishes or reads events (the sidecars
	// get it through ${NATS_TOKEN} in the component).
	token string
}

// startBroker runs JetStream on 127.0.0.1:port with file storage in dir,
// refusing clients without token.
func startBroker(dir string, port int, token string) (*broker, error) {
	b := &broker{token: token, opts: server.Options{
		ServerName:    "vouchers-embedded",
		Host:          "127.0.0.1",
		Port:          port,
		JetStream:     true,
		StoreDir:      filepath.Join(dir, "jetstream"),
		NoSigs:        true,
		NoLog:         true,
		Authorization: token,
	}}
	if err := b.start(); err != nil {
		return nil, err
	}
	b.url = b.srv.ClientURL()
	return b, nil
}

// start (re)starts the server on the same port and storage: streams,
// consumers and unacknowledged messages survive a stop.
func (b *broker) start() error {
	opts := b.opts
	srv, err := server.NewServer(&opts)
	if err != nil {
		return fmt.Errorf("embedded NATS: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return fmt.Errorf("embedded NATS did not start on 127.0.0.1:%d (port taken?)", b.opts.Port)
	}
	b.srv = srv
	return nil
}

func (b *broker) stop() {
	b.srv.Shutdown()
	b.srv.WaitForShutdown()
}

var streamNameUnsafe = regexp.MustCompile(`[^A-Za-z0-9_-]`)

// StreamName is the JetStream stream that holds topic.
func StreamName(topic string) string { return streamNameUnsafe.ReplaceAllString(topic, "_") }

// ensureStreams creates one stream per topic. One stream per topic, not one
// for all: daprd's JetStream component uses one durable name for every topic
// an app subscribes to, which collides inside a single stream.
func ensureStreams(ctx context.Context, url, token string, topics []string) error {
	nc, err := nats.Connect(url, nats.Name("runner"), nats.Token(token))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	for _, t := range topics {
		_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
			Name:      StreamName(t),
			Subjects:  []string{t},
			Storage:   jetstream.FileStorage,
			Retention: jetstream.LimitsPolicy,
			MaxAge:    7 * 24 * time.Hour,
		})
		if err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return fmt.Errorf("create stream for topic %q: %w", t, err)
		}
	}
	return nil
}
