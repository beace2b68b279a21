package deploy

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	configuration "github.com/dapr/dapr/pkg/apis/configuration/v1alpha1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
	require.NotNil(t, tr, "%s: Configuration %s has no tracing", where, c.Name)
	require.NotNil(t, tr.Otel, "%s: Configuration %s has no OTLP exporter: %+v", where, c.Name, tr)
	assert.NotEmpty(t, tr.Otel.EndpointAddress, "%s: Configuration %s: OTLP exporter without endpointAddress", where, c.Name)
	assert.Contains(t, []string{"grpc", "http"}, tr.Otel.Protocol, "%s: Configuration %s: OTLP protocol", where, c.Name)
	rate, err := strconv.ParseFloat(tr.SamplingRate, 64)
	require.NoError(t, err, "%s: samplingRate %q", where, tr.SamplingRate)
	assert.True(t, rate >= 0 && rate <= 1, "%s: samplingRate %q is not between 0 and 1", where, tr.SamplingRate)
	for app, v := range appRates {
		assert.Equal(t, tr.SamplingRate, v, "%s: %s's TRACING_SAMPLING_RATE, the sidecars' samplingRate", where, app)
	}
}

func TestKubernetesTracingAndProbes(t *testing.T) {
	for _, dir := range kustomizations {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			o := decodeAll(t, dir, build(t, dir))
			require.Len(t, o.configs, 1, "Configurations")
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
				assert.Equal(t, "true", ann["prometheus.io/scrape"], "%s: prometheus.io/scrape", d.Name)
				assert.Equal(t, "/metrics", ann["prometheus.io/path"], "%s: prometheus.io/path", d.Name)
				assert.Equal(t, ann["dapr.io/app-port"], ann["prometheus.io/port"], "%s: prometheus.io/port, want the app port", d.Name)
				assert.Equal(t, "0.0.0.0", envOf(c)["APP_HOST"], "%s: APP_HOST: Prometheus cannot scrape the app port on the pod's address", d.Name)
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
						assert.GreaterOrEqual(t, p.TimeoutSeconds, int32(3), "%s: readiness probe timeout, /readyz may take 1 s and more", d.Name)
					}
					assert.Equal(t, want, p.Exec.Command, "%s: %s probe command", d.Name, name)
				}
			}
			checkTracing(t, dir, o.configs[0], rates)
		})
	}
}

func TestComposeTracing(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "deploy/compose/config.yaml"))
	require.NoError(t, err)
	o := decodeAll(t, "compose config", b)
	require.NotEmpty(t, o.configs, "compose config holds no Configuration")
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
