package runner

import (
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestExpandDefaults(t *testing.T) {
	vars := map[string]string{"SET": "x", "EMPTY": ""}
	tests := []struct{ in, want string }{
		{"${SET}", "x"},
		{"${SET:-d}", "x"},
		{"${UNSET:-d}", "d"},
		{"${EMPTY:-d}", "d"},
		{"${EMPTY}", ""},
		{"${UNSET:-}", ""},
		{"host=${UNSET:-127.0.0.1} port=${SET:-1}", "host=127.0.0.1 port=x"},
		{"amqp://g@h/${UNSET:-%2F}", "amqp://g@h/%2F"},
	}
	for _, tt := range tests {
		got, err := expand("f.yaml", []byte(tt.in), vars)
		assert.NoError(t, err, "expand(%q)", tt.in)
		assert.Equal(t, tt.want, string(got), "expand(%q)", tt.in)
	}
}

func TestAddressOfKnownComponentTypes(t *testing.T) {
	comp := func(typ string, meta ...string) resource {
		var r resource
		r.Kind, r.Spec.Type = "Component", typ
		for i := 0; i < len(meta); i += 2 {
			r.Spec.Metadata = append(r.Spec.Metadata, struct {
				Name  string `json:"name"`
				Value any    `json:"value"`
			}{meta[i], meta[i+1]})
		}
		return r
	}
	tests := []struct {
		res        resource
		kind, addr string
	}{
		{comp("state.redis", "redisHost", "10.0.0.1:6380"), "redis", "10.0.0.1:6380"},
		{comp("pubsub.redis", "redisHost", "cache"), "redis", "cache:6379"},
		{comp("state.postgresql", "connectionString", "host=db port=5433 user=x database=y"), "postgresql", "db:5433"},
		{comp("state.postgresql", "connectionString", "postgres://u:p@db.example:6543/x"), "postgresql", "db.example:6543"},
		{comp("pubsub.rabbitmq", "connectionString", "amqp://guest:guest@127.0.0.1:5672/%2F"), "rabbitmq", "127.0.0.1:5672"},
		{comp("pubsub.kafka", "brokers", "k1:9093,k2:9093"), "kafka", "k1:9093"},
		{comp("state.sqlite", "connectionString", "file:x.db"), "", ""},
	}
	for _, tt := range tests {
		kind, addr := addressOf(tt.res)
		assert.Equal(t, tt.kind, kind, "%s: kind", tt.res.Spec.Type)
		assert.Equal(t, tt.addr, addr, "%s: address", tt.res.Spec.Type)
	}
}

func TestCheckServersNamesTheMissingOne(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	port, err := FreePort()
	require.NoError(t, err)
	dead := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	err = checkServers([]*backend{
		{kind: "redis", addr: ln.Addr().String(), users: []string{"pubsub"}},
		{kind: "postgresql", addr: dead, users: []string{"gateway-store", "sms-store"}},
	}, "postgres-rabbitmq")
	var se *StartError
	require.ErrorAs(t, err, &se)
	msg := se.Error()
	for _, want := range []string{"profile postgres-rabbitmq", "postgresql at " + dead, "gateway-store, sms-store", "PROFILE=embedded"} {
		assert.Contains(t, msg, want)
	}
	assert.NotContains(t, msg, "redis", "names the server that answers")
}

func TestProxyStopsAndStartsOnTheSamePort(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); c.Close() }()
		}
	}()
	p, err := startRelay(echo.Addr().String())
	require.NoError(t, err)
	defer p.stop()
	roundTrip := func(c net.Conn) error {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte("ping")); err != nil {
			return err
		}
		b := make([]byte, 4)
		if _, err := io.ReadFull(c, b); err != nil {
			return err
		}
		if string(b) != "ping" {
			return errors.New("got " + string(b))
		}
		return nil
	}
	open, err := net.Dial("tcp", p.addr)
	require.NoError(t, err)
	require.NoError(t, roundTrip(open))
	p.stop()
	assert.Error(t, roundTrip(open), "a relayed connection survived stop")
	if c, err := net.DialTimeout("tcp", p.addr, time.Second); err == nil {
		c.Close()
		t.Error("the proxy accepted a connection while stopped")
	}
	require.NoError(t, p.start())
	again, err := net.Dial("tcp", p.addr)
	require.NoError(t, err)
	defer again.Close()
	assert.NoError(t, roundTrip(again))
}

func TestPointAtRewritesOnlyTheNamedComponent(t *testing.T) {
	file := filepath.Join(t.TempDir(), "r.yaml")
	text := "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: store\nspec:\n  type: state.redis\n  metadata:\n    - name: redisHost\n      value: h:6379\n---\napiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: pubsub\nspec:\n  type: pubsub.redis\n  metadata:\n    - name: redisHost\n      value: h:6379\n"
	require.NoError(t, os.WriteFile(file, []byte(text), 0o644))
	require.NoError(t, pointAt(file, "pubsub", "h:6379", "127.0.0.1:1"))
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	docs := SplitDocs(b)
	require.Len(t, docs, 2, "rewritten:\n%s", b)
	assert.Contains(t, string(docs[0]), "h:6379", "the other component was rewritten")
	assert.Contains(t, string(docs[1]), "127.0.0.1:1", "the named component was not rewritten")
}

func TestSubscribedQueuesAreTheComponentsNames(t *testing.T) {
	var sub, store resource
	sub.Kind, sub.Spec.Topic, sub.Scopes = "Subscription", "receive-code", []string{"gateway", "voucher"}
	// A state store makes no queue (no internal outbox topics).
	store.Kind, store.Spec.Type, store.Scopes = "Component", "state.postgresql", []string{"gateway"}
	got := subscribedQueues([]renderedDoc{{res: sub}, {res: store}})
	want := []string{"gateway-receive-code", "voucher-receive-code"}
	assert.Equal(t, want, got)
}
