package runner

import (
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
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
		if err != nil || string(got) != tt.want {
			t.Errorf("expand(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
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
		if kind != tt.kind || addr != tt.addr {
			t.Errorf("%s: got %s %s, want %s %s", tt.res.Spec.Type, kind, addr, tt.kind, tt.addr)
		}
	}
}

func TestCheckServersNamesTheMissingOne(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port, _ := FreePort()
	dead := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	err = checkServers([]*backend{
		{kind: "redis", addr: ln.Addr().String(), users: []string{"pubsub"}},
		{kind: "postgresql", addr: dead, users: []string{"gateway-store", "sms-store"}},
	}, "postgres-rabbitmq")
	var se *StartError
	if !errors.As(err, &se) {
		t.Fatalf("got %v", err)
	}
	msg := se.Error()
	for _, want := range []string{"profile postgres-rabbitmq", "postgresql at " + dead, "gateway-store, sms-store", "PROFILE=embedded"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q does not say %q", msg, want)
		}
	}
	if strings.Contains(msg, "redis") {
		t.Errorf("names the server that answers: %q", msg)
	}
}

func TestProxyStopsAndStartsOnTheSamePort(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
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
	p, err := startProxy(echo.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
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
	if err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(open); err != nil {
		t.Fatal(err)
	}
	p.stop()
	if err := roundTrip(open); err == nil {
		t.Fatal("a relayed connection survived stop")
	}
	if c, err := net.DialTimeout("tcp", p.addr, time.Second); err == nil {
		c.Close()
		t.Fatal("the proxy accepted a connection while stopped")
	}
	if err := p.start(); err != nil {
		t.Fatal(err)
	}
	again, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if err := roundTrip(again); err != nil {
		t.Fatal(err)
	}
}

func TestPointAtRewritesOnlyTheNamedComponent(t *testing.T) {
	file := filepath.Join(t.TempDir(), "r.yaml")
	text := "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: store\nspec:\n  type: state.redis\n  metadata:\n    - name: redisHost\n      value: h:6379\n---\napiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: pubsub\nspec:\n  type: pubsub.redis\n  metadata:\n    - name: redisHost\n      value: h:6379\n"
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := pointAt(file, "pubsub", "h:6379", "127.0.0.1:1"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(file)
	docs := SplitDocs(b)
	if len(docs) != 2 || !strings.Contains(string(docs[0]), "h:6379") || !strings.Contains(string(docs[1]), "127.0.0.1:1") {
		t.Fatalf("rewritten:\n%s", b)
	}
}

func TestSubscribedQueuesAreTheComponentsNames(t *testing.T) {
	var sub, store resource
	sub.Kind, sub.Spec.Topic, sub.Scopes = "Subscription", "receive-code", []string{"gateway", "voucher"}
	// A state store makes no queue (no internal outbox topics).
	store.Kind, store.Spec.Type, store.Scopes = "Component", "state.postgresql", []string{"gateway"}
	got := subscribedQueues([]renderedDoc{{res: sub}, {res: store}})
	want := []string{"gateway-receive-code", "voucher-receive-code"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("got %v, want %v", got, want)
	}
}
