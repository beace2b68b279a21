package runner

import (
	"os"
	"path/filepath"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestLocalConfigRendersTracingFromTheEnvironment renders the repository's
// components/config.yaml as Start does: tracing is off with nothing set,
// and the TRACING_* variables turn it on.
func TestLocalConfigRendersTracingFromTheEnvironment(t *testing.T) {
	path := filepath.Join("..", "..", "components", "config.yaml")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
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
		if err != nil {
			t.Fatal(err)
		}
		var cfg struct {
			Spec struct {
				Tracing tracing `json:"tracing"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal(text, &cfg); err != nil {
			t.Fatalf("rendered config: %v\n%s", err, text)
		}
		return cfg.Spec.Tracing
	}
	off := render(map[string]string{})
	if off.SamplingRate != "0" || off.Otel.EndpointAddress != "" || off.Otel.Protocol != "grpc" || off.Otel.IsSecure == nil || *off.Otel.IsSecure {
		t.Fatalf("defaults: %+v", off)
	}
	on := render(map[string]string{"TRACING_SAMPLING_RATE": "1", "TRACING_OTLP_ENDPOINT": "127.0.0.1:4317", "TRACING_OTLP_SECURE": "true"})
	if on.SamplingRate != "1" || on.Otel.EndpointAddress != "127.0.0.1:4317" || !*on.Otel.IsSecure {
		t.Fatalf("on: %+v", on)
	}
}
