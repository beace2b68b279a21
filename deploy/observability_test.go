package deploy

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	configuration "github.com/dapr/dapr/pkg/apis/configuration/v1alpha1"
	corev1 "k8s.io/api/core/v1"
)

// checkTracing: the sidecars export to an OTLP collector, at a rate the
// apps share. The apps start the trace of a customer's request and mark
// it sampled or not, and daprd's sampler follows that decision; an app
// rate other than the sidecars' would record more, or fewer, purchases
// than the Configuration says.
func checkTracing(t *testing.T, where string, c configuration.Configuration, appRates map[string]string) {
	t.Helper()
	tr := c.Spec.TracingSpec
	if tr == nil || tr.Otel == nil || tr.Otel.EndpointAddress == "" || (tr.Otel.Protocol != "grpc" && tr.Otel.Protocol != "http") {
		t.Fatalf("%s: Configuration %s has no OTLP exporter: %+v", where, c.Name, tr)
	}
	rate, err := strconv.ParseFloat(tr.SamplingRate, 64)
	if err != nil || rate < 0 || rate > 1 {
		t.Fatalf("%s: samplingRate %q", where, tr.SamplingRate)
	}
	for app, v := range appRates {
		if v != tr.SamplingRate {
			t.Errorf("%s: %s has TRACING_SAMPLING_RATE %q, the sidecars' samplingRate is %q", where, app, v, tr.SamplingRate)
		}
	}
}

func TestKubernetesTracingAndProbes(t *testing.T) {
	for _, dir := range kustomizations {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			o := decodeAll(t, dir, build(t, dir))
			if len(o.configs) != 1 {
				t.Fatalf("%d Configurations", len(o.configs))
			}
			rates := map[string]string{}
			for _, d := range o.deployments {
				c := d.Spec.Template.Spec.Containers[0]
				rates[d.Name] = envOf(c)["TRACING_SAMPLING_RATE"]
				// The app's /metrics is scraped on the app's port (not the
				// public one, which has no /metrics), at the pod's address:
				// the app port listens beyond the loopback, and the
				// NetworkPolicies admit only Prometheus to it
				// (TestKubernetesNetworkPolicies).
				ann := d.Spec.Template.Annotations
				if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/path"] != "/metrics" || ann["prometheus.io/port"] != ann["dapr.io/app-port"] {
					t.Errorf("%s: scrape annotations %q %q port %q, app port %q", d.Name,
						ann["prometheus.io/scrape"], ann["prometheus.io/path"], ann["prometheus.io/port"], ann["dapr.io/app-port"])
				}
				if h := envOf(c)["APP_HOST"]; h != "0.0.0.0" {
					t.Errorf("%s: APP_HOST %q: Prometheus cannot scrape the app port on the pod's address", d.Name, h)
				}
				// Alive is /healthz; ready is /readyz. A store outage must
				// take a pod out of its Service, never restart it.
				for name, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
					if p == nil || p.Exec == nil {
						t.Errorf("%s: no exec %s probe", d.Name, name)
						continue
					}
					want := []string{"/app", "healthcheck"}
					if name == "readiness" {
						want = append(want, "readyz")
						if p.TimeoutSeconds < 3 {
							t.Errorf("%s: readiness probe times out after %ds, /readyz may take 1 s and more", d.Name, p.TimeoutSeconds)
						}
					}
					if !slices.Equal(p.Exec.Command, want) {
						t.Errorf("%s: %s probe runs %v, want %v", d.Name, name, p.Exec.Command, want)
					}
				}
			}
			checkTracing(t, dir, o.configs[0], rates)
		})
	}
}

func TestComposeTracing(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "deploy/compose/config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	o := decodeAll(t, "compose config", b)
	p := loadCompose(t)
	rates := map[string]string{}
	for app := range composeApps {
		v := p.Services[app].Environment["TRACING_SAMPLING_RATE"]
		if v == nil {
			t.Errorf("%s: no TRACING_SAMPLING_RATE", app)
			continue
		}
		rates[app] = *v
	}
	checkTracing(t, "compose", o.configs[0], rates)
}

func envOf(c corev1.Container) map[string]string {
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	return env
}
