package deploy

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPublishingIsScoped: every pub/sub component, in every way of
// running, tells daprd which app may publish to which topic, the same
// everywhere, and names every app: daprd lets an app it does not name
// publish anything. Only voucher-int may publish a voucher's code
// (receive-code) besides gateway, and voucher, sms and the provider fake
// publish no event of their own (docs/security.md).
func TestPublishingIsScoped(t *testing.T) {
	var run struct {
		Apps []struct {
			AppID string `json:"appID"`
		} `json:"apps"`
	}
	unmarshalFile(t, "dapr.yaml", &run)
	var apps []string
	for _, a := range run.Apps {
		apps = append(apps, a.AppID)
	}
	require.NotEmpty(t, apps)

	want := ""
	for _, path := range []string{
		"components/embedded/pubsub.yaml",
		"components/kafka/pubsub.yaml",
		"components/redis/pubsub.yaml",
		"components/postgres-rabbitmq/pubsub.yaml",
		"components/cli/pubsub.yaml",
		"deploy/compose/components/pubsub.yaml",
		"deploy/kubernetes/base/components/pubsub.yaml",
	} {
		var c struct {
			Spec struct {
				Metadata []struct{ Name, Value string }
			}
		}
		unmarshalFile(t, path, &c)
		got := ""
		for _, m := range c.Spec.Metadata {
			if m.Name == "publishingScopes" {
				got = m.Value
			}
		}
		require.NotEmpty(t, got, "%s has no publishingScopes", path)
		if want == "" {
			want = got
		}
		assert.Equal(t, want, got, "%s: publishingScopes differ from the other profiles'", path)
		scopes := map[string][]string{}
		for _, part := range strings.Split(got, ";") {
			app, topics, ok := strings.Cut(part, "=")
			require.True(t, ok, "%s: %q is not app=topics", path, part)
			scopes[app] = strings.Split(topics, ",")
		}
		for _, app := range apps {
			assert.Contains(t, scopes, app, "%s: %s is not named, so daprd lets it publish anything", path, app)
		}
		for app, topics := range scopes {
			if slices.Contains(topics, "receive-code") {
				assert.Contains(t, []string{"gateway", "voucher-int"}, app, "%s: %s may publish receive-code", path, app)
			}
		}
	}
}
