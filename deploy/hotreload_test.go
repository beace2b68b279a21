package deploy

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHotReloadIsOffEverywhere: daprd 1.18 reloads a changed Component by
// default. Every way of running turns that off on purpose, so a component
// change takes effect with a restart or a rollout, in every sidecar alike
// (docs/deploy.md, "What daprd taught us").
func TestHotReloadIsOffEverywhere(t *testing.T) {
	for _, path := range []string{
		"components/config.yaml",
		"components/cli/config.yaml",
		"deploy/compose/config.yaml",
		"deploy/kubernetes/base/configuration.yaml",
	} {
		var c struct {
			Kind string
			Spec struct {
				Features []struct {
					Name    string
					Enabled bool
				}
			}
		}
		unmarshalFile(t, path, &c)
		require.Equal(t, "Configuration", c.Kind, path)
		off := false
		for _, f := range c.Spec.Features {
			if f.Name == "HotReload" {
				off = !f.Enabled
			}
		}
		assert.True(t, off, "%s does not turn HotReload off", path)
	}
}
