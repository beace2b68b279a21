package deploy

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/dapr/dapr/pkg/apis/common"
	components "github.com/dapr/dapr/pkg/apis/components/v1alpha1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// kafkaConnection is the metadata of daprd's Kafka component that says
// where the brokers are and how a sidecar authenticates and encrypts:
// the one part of the component a cluster's Kafka and the kafka profile's
// broker (the runner's own, on the loopback) may set differently.
var kafkaConnection = map[string]bool{
	"brokers": true, "authType": true, "saslUsername": true, "saslPassword": true,
	"saslMechanism": true, "disableTls": true, "skipVerify": true, "caCert": true,
	"clientCert": true, "clientKey": true,
}

// kafkaSettings is a Kafka component's metadata but its connection, one
// "name=value" each, sorted.
func kafkaSettings(t *testing.T, where string, o *objects) []string {
	t.Helper()
	var found []components.Component
	for _, c := range o.components {
		if c.Name == "pubsub" {
			found = append(found, c)
		}
	}
	require.Len(t, found, 1, "%s: pub/sub components named pubsub", where)
	c := found[0]
	require.Equal(t, "pubsub.kafka", c.Spec.Type, "%s: pubsub", where)
	var out []string
	for _, m := range c.Spec.Metadata {
		if kafkaConnection[m.Name] {
			continue
		}
		value, ref := meta(c, m.Name)
		if ref != "" {
			value = "secret:" + ref
		}
		out = append(out, fmt.Sprintf("%s=%s", m.Name, value))
	}
	sort.Strings(out)
	return out
}

// TestKafkaMetadataIsTheClusters: the kafka profile runs daprd's Kafka
// component with the metadata the cluster's has, so what the suites prove
// on it (consumer groups, initial offset, retries, scopes) is what the
// cluster gets. Only the brokers and the authentication differ. A setting
// added to one and not the other fails here.
func TestKafkaMetadataIsTheClusters(t *testing.T) {
	local := kafkaSettings(t, "components/kafka", decodeDir(t, filepath.Join(root, "components", "kafka")))
	require.GreaterOrEqual(t, len(local), 6, "components/kafka: settings %v", local)
	for _, dir := range kustomizations {
		cluster := kafkaSettings(t, dir, decodeAll(t, dir, build(t, dir)))
		assert.Equal(t, strings.Join(cluster, "\n"), strings.Join(local, "\n"), "%s and components/kafka", dir)
	}
}

// TestKafkaMetadataCheckCatchesADifference: a setting of the cluster's
// that the profile lacks, or a value that differs, is seen; a connection
// setting is not.
func TestKafkaMetadataCheckCatchesADifference(t *testing.T) {
	base := decodeDir(t, filepath.Join(root, "components", "kafka"))
	want := kafkaSettings(t, "components/kafka", base)
	for name, edit := range map[string]func(c *components.Component){
		"value changed": func(c *components.Component) { setMeta(c, "initialOffset", "newest") },
		"setting added": func(c *components.Component) { setMeta(c, "sessionTimeout", "45s") },
	} {
		o := decodeDir(t, filepath.Join(root, "components", "kafka"))
		edit(pubsubOf(o))
		assert.NotEqual(t, want, kafkaSettings(t, name, o), name)
	}
	o := decodeDir(t, filepath.Join(root, "components", "kafka"))
	setMeta(pubsubOf(o), "brokers", "kafka-0:9093")
	setMeta(pubsubOf(o), "caCert", "-----BEGIN CERTIFICATE-----")
	assert.Equal(t, want, kafkaSettings(t, "connection changed", o))
}

func pubsubOf(o *objects) *components.Component {
	for i := range o.components {
		if o.components[i].Name == "pubsub" {
			return &o.components[i]
		}
	}
	return nil
}

func setMeta(c *components.Component, name, value string) {
	for i, m := range c.Spec.Metadata {
		if m.Name == name {
			c.Spec.Metadata[i].Value.Raw = []byte(fmt.Sprintf("%q", value))
			return
		}
	}
	var item common.NameValuePair
	item.Name = name
	item.Value.Raw = []byte(fmt.Sprintf("%q", value))
	c.Spec.Metadata = append(c.Spec.Metadata, item)
}
