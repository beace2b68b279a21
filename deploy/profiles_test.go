package deploy

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// localProfiles are the folders of components/ that `make run PROFILE=…`
// swaps; components/local and components/common come with every one.
var localProfiles = []string{"embedded", "kafka", "redis", "postgres-rabbitmq"}

func profileObjects(t *testing.T, profile string) *objects {
	t.Helper()
	local := decodeDir(t, filepath.Join(root, "components", "local"))
	p := decodeDir(t, filepath.Join(root, "components", profile))
	local.components = append(local.components, p.components...)
	local.endpoints = append(local.endpoints, p.endpoints...)
	return local
}

// TestEveryProfileHasTheSameResources: a profile swaps what serves a
// resource, never its name or scopes, so no app can tell one profile from
// another.
func TestEveryProfileHasTheSameResources(t *testing.T) {
	want := shape(profileObjects(t, localProfiles[0]))
	require.GreaterOrEqual(t, len(want), 8, "the embedded profile has only %v", want)
	for _, p := range localProfiles[1:] {
		assert.Equal(t, want, shape(profileObjects(t, p)), "profile %s", p)
	}
	// The Dapr CLI's profile (dapr.yaml) is whole by itself.
	assert.Equal(t, want, shape(decodeDir(t, filepath.Join(root, "components", "cli"))), "components/cli")
	compose := decodeDir(t, filepath.Join(root, "deploy", "compose", "components"))
	assert.Equal(t, want, shape(compose), "deploy/compose/components")
	// Compose runs the component types the postgres-rabbitmq profile tests.
	tested := map[string]string{}
	for _, c := range profileObjects(t, "postgres-rabbitmq").components {
		tested[c.Name] = c.Spec.Type + "/" + c.Spec.Version
	}
	for _, c := range compose.components {
		block, _, _ := strings.Cut(c.Spec.Type, ".")
		if block == "state" || block == "pubsub" {
			assert.Equal(t, tested[c.Name], c.Spec.Type+"/"+c.Spec.Version, "compose component %s: the tested profile's type/version", c.Name)
		}
	}
}

// concrete names a broker, a store or their client libraries.
var concrete = regexp.MustCompile(`(?i)\b(redis|postgres(ql)?|pgx|rabbitmq|amqp|kafka|sarama|jetstream|nats|sqlite|mysql|mariadb|mongo(db)?|cosmos(db)?|dynamodb|cassandra|pulsar|mqtt|servicebus|eventhubs?|memcached|etcd|zookeeper)\b|\b(state|pubsub)\.[a-z]`)

// TestNoGoCodeNamesABrokerOrStore: the services and the shared kit speak
// only of Dapr building blocks by their resource names; which broker or
// store serves them is the components' business. (The runner, which embeds
// NATS for the embedded profile, and the test suites, which set up shared
// servers, are not services.)
func TestNoGoCodeNamesABrokerOrStore(t *testing.T) {
	checked := 0
	for _, dir := range []string{"services", "kit"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || !(strings.HasSuffix(path, ".go") || filepath.Base(path) == "go.mod") {
				return nil
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			checked++
			for n, line := range strings.Split(string(b), "\n") {
				if m := concrete.FindString(line); m != "" {
					t.Errorf("%s:%d names %q: %s", path, n+1, m, strings.TrimSpace(line))
				}
			}
			return nil
		})
		require.NoError(t, err)
	}
	require.GreaterOrEqual(t, checked, 20, "checked only %d files: is the walk looking in the right place?", checked)
}

// TestTheCheckCatchesANamedBroker keeps the pattern honest.
func TestTheCheckCatchesANamedBroker(t *testing.T) {
	for _, line := range []string{`import "github.com/redis/go-redis/v9"`, `store := "state.postgresql"`, `// publish to Kafka`, `pubsub.jetstream`} {
		assert.Regexp(t, concrete, line, "not caught")
	}
	for _, line := range []string{`daprx.Store[T]{Name: "gateway-store"}`, `events.PubSub`, `c.PublishEvent(ctx, "pubsub", topic, b)`} {
		assert.NotRegexp(t, concrete, line, "caught by mistake")
	}
}

// TestNoStateStoreUsesDaprdsOutbox: the services publish their events
// through an outbox of their own (kit/daprx/outbox.go, relayed by the
// outbox-relay cron binding). daprd's transactional outbox, switched on by a
// state store's outbox* settings (outboxPublishPubsub, outboxPublishTopic,
// …), would publish every transaction's state beside our events, through
// internal topics the runner no longer creates: no state component of any
// profile, of Compose or of the cluster may carry one of them.
func TestNoStateStoreUsesDaprdsOutbox(t *testing.T) {
	sets := map[string]*objects{
		"components/common":         decodeDir(t, filepath.Join(root, "components", "common")),
		"components/cli":            decodeDir(t, filepath.Join(root, "components", "cli")),
		"deploy/compose/components": decodeDir(t, filepath.Join(root, "deploy", "compose", "components")),
	}
	for _, p := range localProfiles {
		sets["components/"+p] = profileObjects(t, p)
	}
	for _, dir := range kustomizations {
		sets[dir] = decodeAll(t, dir, build(t, dir))
	}
	stores := 0
	for where, o := range sets {
		for _, c := range o.components {
			if strings.HasPrefix(c.Spec.Type, "state.") {
				stores++
			}
		}
		assert.Empty(t, outboxSettings(o), "%s: daprd's outbox settings; use kit/daprx's", where)
	}
	require.GreaterOrEqual(t, stores, 5*(len(localProfiles)+2+len(kustomizations)),
		"only %d state components found: is the check looking in the right place?", stores)
}

// outboxSettings lists the daprd outbox settings of o's state components,
// as "<component>: <setting>".
func outboxSettings(o *objects) []string {
	var out []string
	for _, c := range o.components {
		if !strings.HasPrefix(c.Spec.Type, "state.") {
			continue
		}
		for _, m := range c.Spec.Metadata {
			if strings.HasPrefix(strings.ToLower(m.Name), "outbox") {
				out = append(out, c.Name+": "+m.Name)
			}
		}
	}
	return out
}

// TestTheCheckCatchesAnOutboxSetting keeps outboxSettings honest.
func TestTheCheckCatchesAnOutboxSetting(t *testing.T) {
	o := decodeAll(t, "example", []byte(`apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: gateway-store
spec:
  type: state.postgresql
  version: v2
  metadata:
    - name: timeout
      value: 10s
    - name: outboxPublishTopic
      value: request-code
    - name: OutboxDiscardWhenMissingState
      value: "true"
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: sms
spec:
  type: bindings.localstorage
  version: v1
  metadata:
    - name: outboxDir
      value: /data/sms
`))
	want := []string{"gateway-store: outboxPublishTopic", "gateway-store: OutboxDiscardWhenMissingState"}
	assert.Equal(t, want, outboxSettings(o))
}

// TestLocalDaprdRegistersEveryComponentTheProfilesName: the local daprd
// keeps only the registrations tools/daprd/components.txt lists; a component
// of a local profile, or the name resolver of the local Configuration, that
// none of them registers would fail only when daprd starts.
func TestLocalDaprdRegistersEveryComponentTheProfilesName(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "tools", "daprd", "components.txt"))
	require.NoError(t, err)
	registered := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 1 && !strings.HasPrefix(f[0], "#") {
			for _, typ := range f[1:] {
				registered[typ] = true
			}
		}
	}
	named := map[string]string{}
	for _, p := range localProfiles {
		o := profileObjects(t, p)
		o.components = append(o.components, decodeDir(t, filepath.Join(root, "components", "common")).components...)
		for _, c := range o.components {
			named[c.Spec.Type] = p + "/" + c.Name
		}
	}
	// The local Configuration has placeholders the runner fills in, so it
	// is read loosely.
	for _, doc := range decodeFile(t, filepath.Join(root, "components", "config.yaml")) {
		spec, _ := doc.(map[string]any)["spec"].(map[string]any)
		nr, _ := spec["nameResolution"].(map[string]any)
		if c, _ := nr["component"].(string); c != "" {
			named["nameresolution."+c] = "components/config.yaml"
		}
	}
	require.GreaterOrEqual(t, len(named), 8, "found only %v", named)
	for typ, where := range named {
		if !registered[typ] {
			t.Errorf("%s (%s) is registered by no file of tools/daprd/components.txt", typ, where)
		}
	}
}
