package runner

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

// TestLocalConfigRendersTracingFromTheEnvironment renders the repository's
// components/config.yaml as Start does: tracing is off with nothing set,
// and the TRACING_* variables turn it on.
func TestLocalConfigRendersTracingFromTheEnvironment(t *testing.T) {
	path := filepath.Join("..", "..", "components", "config.yaml")
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	type tracing struct {
		SamplingRate string `json:"samplingRate"`
		Otel         struct {
			EndpointAddress string `json:"endpointAddress"`
			Protocol        string `json:"protocol"`
			IsSecure        *bool  `json:"isSecure"`
		} `json:"otel"`
	}
	render := func(vars map[string]string) tracing {
		t.Helper()
		vars["DATA_DIR"] = t.TempDir()
		text, err := expand(path, raw, vars)
		require.NoError(t, err)
		var cfg struct {
			Spec struct {
				Tracing tracing `json:"tracing"`
			} `json:"spec"`
		}
		require.NoError(t, yaml.Unmarshal(text, &cfg), "rendered config:\n%s", text)
		return cfg.Spec.Tracing
	}
	off := render(map[string]string{})
	assert.Equal(t, "0", off.SamplingRate, "defaults")
	assert.Empty(t, off.Otel.EndpointAddress, "defaults")
	assert.Equal(t, "grpc", off.Otel.Protocol, "defaults")
	require.NotNil(t, off.Otel.IsSecure, "defaults: no isSecure")
	assert.False(t, *off.Otel.IsSecure, "defaults: isSecure")
	on := render(map[string]string{"TRACING_SAMPLING_RATE": "1", "TRACING_OTLP_ENDPOINT": "127.0.0.1:4317", "TRACING_OTLP_SECURE": "true"})
	assert.Equal(t, "1", on.SamplingRate, "on")
	assert.Equal(t, "127.0.0.1:4317", on.Otel.EndpointAddress, "on")
	require.NotNil(t, on.Otel.IsSecure, "on: no isSecure")
	assert.True(t, *on.Otel.IsSecure, "on: isSecure")
}
