package deploy

import (
	"context"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// composeApps are the apps of docker-compose.yml and their app ports, the
// ones their sidecars call (dapr.yaml's). gateway's public API is on its
// PUBLIC_PORT, 8080.
var composeApps = map[string]string{
	"voucher-provider": "8081", "voucher-int": "8082", "voucher": "8083", "sms": "8084", "gateway": "8090",
}

// loadCompose parses docker-compose.yml with the Compose specification's
// own loader (schema validation, anchors, merges, interpolation). The env
// files (the Dapr tokens, made by `make compose-secrets`, git-ignored) are
// not read: a checkout has none; TestComposeTokens checks how they are
// wired.
func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithName("vouchers"), cli.WithWorkingDirectory(root), cli.WithResolvedPaths(true),
		cli.WithoutEnvironmentResolution,
	)
	require.NoError(t, err)
	p, err := opts.LoadProject(context.Background())
	require.NoError(t, err, "docker-compose.yml")
	return p
}

func TestComposeEveryAppHasItsSidecar(t *testing.T) {
	p := loadCompose(t)
	for app, port := range composeApps {
		svc, ok := p.Services[app]
		if !ok {
			t.Errorf("no service %s", app)
			continue
		}
		if svc.Build == nil || svc.Build.Args["SERVICE"] == nil || *svc.Build.Args["SERVICE"] != app || svc.Image == "" {
			t.Errorf("%s: must build the Dockerfile with SERVICE=%s and name its image", app, app)
		}
		if svc.Environment["APP_PORT"] == nil || *svc.Environment["APP_PORT"] != port || svc.Environment["APP_ID"] == nil || *svc.Environment["APP_ID"] != app {
			t.Errorf("%s: APP_PORT/APP_ID are not %s/%s", app, port, app)
		}
		if svc.HealthCheck == nil || len(svc.HealthCheck.Test) == 0 {
			t.Errorf("%s: no healthcheck", app)
		}

		side, ok := p.Services[app+"-dapr"]
		if !ok {
			t.Errorf("%s has no sidecar service %s-dapr", app, app)
			continue
		}
		assert.Equal(t, "daprio/daprd:"+daprVersion(t), side.Image, "%s-dapr: image (the Makefile's DAPR_VERSION, which make run builds)", app)
		// App and daprd share their pod's network namespace, so that
		// either can restart into it (docker-compose.yml, "Pods").
		pod, ok := p.Services[app+"-pod"]
		if assert.True(t, ok, "%s has no pod service %s-pod", app, app) {
			assert.Equal(t, "vouchers/pod:dev", pod.Image, "%s-pod: image", app)
			assert.NotNil(t, pod.HealthCheck, "%s-pod: no healthcheck", app)
			assert.Equal(t, "unless-stopped", pod.Restart, "%s-pod: restart", app)
		}
		for _, name := range []string{app, app + "-dapr"} {
			svc := p.Services[name]
			assert.Equal(t, "service:"+app+"-pod", svc.NetworkMode, "%s: network_mode (the pod's network namespace)", name)
			assert.Equal(t, "unless-stopped", svc.Restart, "%s: restart", name)
			// restart: true keeps `docker compose restart` in dependency
			// order (a daprd restarted before its pod cannot join it).
			if dep, ok := svc.DependsOn[app+"-pod"]; assert.True(t, ok, "%s does not depend on %s-pod", name, app) {
				assert.True(t, dep.Restart, "%s: depends_on %s-pod without restart: true", name, app)
			}
		}
		flags := map[string]string{}
		var resources []string
		for _, a := range side.Command {
			k, v, _ := strings.Cut(a, "=")
			if k == "--resources-path" {
				resources = append(resources, v)
			}
			flags[k] = v
		}
		assert.Equal(t, app, flags["--app-id"], "%s-dapr: --app-id", app)
		assert.Equal(t, port, flags["--app-port"], "%s-dapr: --app-port", app)
		// The Dapr API is the app's alone (the loopback they share).
		assert.Equal(t, "127.0.0.1", flags["--dapr-listen-addresses"], "%s-dapr: --dapr-listen-addresses", app)
		assert.Equal(t, *svc.Environment["DAPR_HTTP_PORT"], flags["--dapr-http-port"], "%s-dapr: sidecar HTTP port, the app expects its DAPR_HTTP_PORT", app)
		assert.Equal(t, *svc.Environment["DAPR_GRPC_PORT"], flags["--dapr-grpc-port"], "%s-dapr: sidecar gRPC port, the app expects its DAPR_GRPC_PORT", app)
		assert.Contains(t, side.DependsOn, app, "%s-dapr does not depend on %s", app, app)
		for _, infra := range []string{"postgres", "rabbitmq"} {
			assert.Equal(t, types.ServiceConditionHealthy, side.DependsOn[infra].Condition, "%s-dapr must wait for %s to be healthy", app, infra)
		}
		// Every mounted resources path and the config exist and parse.
		mounts := map[string]string{}
		for _, v := range side.Volumes {
			mounts[v.Target] = v.Source
		}
		for _, r := range resources {
			src, ok := mounts[r]
			if !ok {
				t.Errorf("%s-dapr: resources path %s is not mounted", app, r)
				continue
			}
			decodeDir(t, src)
		}
		cfg, ok := mounts[flags["--config"]]
		if !ok {
			t.Errorf("%s-dapr: config %s is not mounted", app, flags["--config"])
		} else if b, err := os.ReadFile(cfg); err != nil {
			t.Errorf("%s-dapr: %v", app, err)
		} else if o := decodeAll(t, "compose config", b); len(o.configs) != 1 {
			t.Errorf("%s-dapr: config file holds %d Configurations", app, len(o.configs))
		}
	}
	for _, infra := range []string{"postgres", "rabbitmq"} {
		svc, ok := p.Services[infra]
		if !ok || svc.Image == "" || svc.HealthCheck == nil {
			t.Errorf("%s: missing, or without image or healthcheck", infra)
		}
	}
	// What is reached from another container must listen beyond its
	// loopback: gateway's public API and the provider (HTTPEndpoint vps).
	// The product apps' app ports stay on the loopback, which their daprd
	// shares (network_mode): no other container reaches them.
	endpointHosts := map[string]bool{}
	for _, e := range decodeDir(t, filepath.Join(root, "deploy/compose/components")).endpoints {
		u, err := url.Parse(e.Spec.BaseURL)
		require.NoError(t, err)
		endpointHosts[u.Hostname()] = true
		host := p.Services[u.Hostname()].Environment["APP_HOST"]
		if host == nil || *host != "0.0.0.0" || u.Port() != composeApps[u.Hostname()] {
			t.Errorf("http endpoint %s calls %s, whose service does not listen there", e.Name, e.Spec.BaseURL)
		}
		// The name resolves to the pod, which holds the app's network.
		if n := p.Services[u.Hostname()+"-pod"].Networks["vouchers"]; n == nil || !slices.Contains(n.Aliases, u.Hostname()) {
			t.Errorf("http endpoint %s calls %s, but %s-pod has no network alias %s", e.Name, e.Spec.BaseURL, u.Hostname(), u.Hostname())
		}
	}
	for _, app := range apps {
		if endpointHosts[app] {
			continue
		}
		if host := p.Services[app].Environment["APP_HOST"]; host != nil && *host != "127.0.0.1" {
			t.Errorf("%s: APP_HOST %s: its app port is for its sidecar, which shares its loopback", app, *host)
		}
	}
	gw := p.Services["gateway"]
	if v := gw.Environment["PUBLIC_PORT"]; v == nil || *v != "8080" {
		t.Errorf("gateway: PUBLIC_PORT %v, want 8080", v)
	}
	if v := gw.Environment["PUBLIC_HOST"]; v == nil || *v != "0.0.0.0" {
		t.Error("gateway's public port must listen on 0.0.0.0 in its container (PUBLIC_HOST)")
	}
	// Only gateway's public port is published to the host: never an app
	// port, a sidecar's port or a server's.
	// (The pod holds the network, so gateway's pod publishes it.)
	for name, svc := range p.Services {
		if name == "gateway-pod" {
			continue
		}
		assert.Empty(t, svc.Ports, "%s publishes ports; only gateway's public port is published", name)
	}
	gwPod := p.Services["gateway-pod"]
	if assert.Len(t, gwPod.Ports, 1, "gateway-pod must publish gateway's public port 8080 and nothing else") {
		assert.Equal(t, uint32(8080), gwPod.Ports[0].Target, "gateway-pod must publish gateway's public port 8080 and nothing else")
	}
}

// TestComposeTokens: each app and its daprd read the same env file,
// deploy/compose/tokens/<app>.env (APP_API_TOKEN, DAPR_API_TOKEN), one per
// app, required, and git-ignored; no token is written in the Compose file.
// (The provider fake takes its app token on its test controls, and sends
// its sidecar the Dapr API token with its late callbacks.)
func TestComposeTokens(t *testing.T) {
	p := loadCompose(t)
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		svc := p.Services[name]
		for _, k := range []string{"APP_API_TOKEN", "DAPR_API_TOKEN", "ALLOW_NO_APP_TOKEN"} {
			assert.NotContains(t, svc.Environment, k, "%s: %s is in the Compose file; the tokens come from deploy/compose/tokens/", name, k)
		}
	}
	abs, err := filepath.Abs(root) // the loader resolves paths
	require.NoError(t, err)
	for app := range composeApps {
		want := []string{filepath.Join(abs, "deploy", "compose", "tokens", app+".env")}
		for _, name := range []string{app, app + "-dapr"} {
			var got []string
			for _, f := range p.Services[name].EnvFiles {
				assert.True(t, bool(f.Required), "%s: env file %s is optional; without it the app or its sidecar would start without tokens", name, f.Path)
				got = append(got, f.Path)
			}
			assert.Equal(t, want, got, "%s: env files", name)
		}
	}
	// The token files are never committed.
	b, err := os.ReadFile(filepath.Join(root, "deploy", "compose", "tokens", ".gitignore"))
	require.NoError(t, err)
	if lines := strings.Fields(string(b)); !slices.Contains(lines, "*") && !slices.Contains(lines, "*.env") {
		t.Errorf("deploy/compose/tokens/.gitignore does not ignore the token files:\n%s", b)
	}
}

// TestDockerfileBuildsSmallStaticNonRootImages reads the Dockerfile the
// Compose file builds.
func TestDockerfileBuildsSmallStaticNonRootImages(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	require.NoError(t, err)
	var froms []string
	var user string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "FROM" {
			froms = append(froms, f[1])
		}
		if len(f) >= 2 && f[0] == "USER" {
			user = f[1]
		}
	}
	require.GreaterOrEqual(t, len(froms), 2, "not multi-stage: FROM %v", froms)
	// The bases are build arguments (ARG NAME=default before the first FROM).
	args := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^ARG (\w+)=(\S+)$`).FindAllStringSubmatch(string(b), -1) {
		args["${"+m[1]+"}"] = m[2]
	}
	last := froms[len(froms)-1]
	if v, ok := args[last]; ok {
		last = v
	}
	if !strings.HasPrefix(last, "gcr.io/distroless/static") && last != "scratch" {
		t.Errorf("final stage %s is not a static base", last)
	}
	if user == "" || strings.HasPrefix(user, "0") || strings.HasPrefix(user, "root") {
		t.Errorf("runs as %q", user)
	}
	assert.Contains(t, string(b), "CGO_ENABLED=0", "the binary is not built static")
	for _, want := range []string{"kit/go.mod", "go.work"} {
		assert.Contains(t, string(b), want, "does not copy %s", want)
	}
	// Every module of go.work must be copied, or the workspace does not load.
	work, err := os.ReadFile(filepath.Join(root, "go.work"))
	require.NoError(t, err)
	for _, line := range strings.Split(string(work), "\n") {
		dir := strings.TrimSpace(line)
		if !strings.HasPrefix(dir, "./") {
			continue
		}
		if !slices.ContainsFunc(strings.Split(string(b), "\n"), func(l string) bool {
			return strings.HasPrefix(l, "COPY "+strings.TrimPrefix(dir, "./")+"/go.mod")
		}) {
			t.Errorf("Dockerfile does not copy %s/go.mod", dir)
		}
	}
}

// composeResources decodes the resources folders mounted for app's sidecar
// (its --resources-path flags), as that sidecar loads them.
func composeResources(t *testing.T, p *types.Project, app string) *objects {
	t.Helper()
	side, ok := p.Services[app+"-dapr"]
	require.True(t, ok, "no service %s-dapr", app)
	mounts := map[string]string{}
	for _, v := range side.Volumes {
		mounts[v.Target] = v.Source
	}
	all := &objects{}
	for _, a := range side.Command {
		k, v, _ := strings.Cut(a, "=")
		if k != "--resources-path" {
			continue
		}
		src, ok := mounts[v]
		require.True(t, ok, "%s-dapr: resources path %s is not mounted", app, v)
		o := decodeDir(t, src)
		all.components = append(all.components, o.components...)
		all.endpoints = append(all.endpoints, o.endpoints...)
		all.subscriptions = append(all.subscriptions, o.subscriptions...)
	}
	return all
}

// daprVersion is the Makefile's DAPR_VERSION: the daprd that make run
// builds and the suites run, which Compose must run too.
func daprVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "Makefile"))
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^DAPR_VERSION\s*:=\s*(\S+)`).FindSubmatch(b)
	require.NotNil(t, m, "no DAPR_VERSION in the Makefile")
	return string(m[1])
}

// TestComposeImagesAreOverridable: every image a registry would give is a
// variable whose default is the official image, and
// deploy/compose/local-images.env swaps in the ones
// deploy/compose/images/build.sh tags, so the same file runs with a
// registry and without one.
func TestComposeImagesAreOverridable(t *testing.T) {
	official := map[string]string{
		"postgres": "postgres:16-alpine",
		"rabbitmq": "rabbitmq:3.13-alpine",
	}
	for app := range composeApps {
		official[app+"-dapr"] = "daprio/daprd:" + daprVersion(t)
	}
	p := loadCompose(t)
	for name, want := range official {
		assert.Equal(t, want, p.Services[name].Image, "%s: the default image", name)
	}

	envFile := filepath.Join(root, "deploy", "compose", "local-images.env")
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithName("vouchers"), cli.WithWorkingDirectory(root), cli.WithEnvFiles(envFile), cli.WithDotEnv,
		cli.WithoutEnvironmentResolution,
	)
	require.NoError(t, err)
	local, err := opts.LoadProject(context.Background())
	require.NoError(t, err)
	script, err := os.ReadFile(filepath.Join(root, "deploy", "compose", "images", "build.sh"))
	require.NoError(t, err)
	for name := range official {
		img := local.Services[name].Image
		assert.True(t, strings.HasPrefix(img, "vouchers/"), "%s: local-images.env gives %s, not an image of ours", name, img)
		repo, _, _ := strings.Cut(img, ":")
		assert.Contains(t, string(script), repo, "%s: build.sh does not build %s", name, img)
	}
	assert.Equal(t, "vouchers/daprd:"+daprVersion(t), local.Services["gateway-dapr"].Image, "the local daprd image is `make daprd`'s version")

	// The apps' build stage and run stage come from variables too.
	for app := range composeApps {
		args := p.Services[app].Build.Args
		for k, want := range map[string]string{"GO_IMAGE": "golang:1.26-bookworm", "BASE_IMAGE": "gcr.io/distroless/static-debian12:nonroot"} {
			if assert.NotNil(t, args[k], "%s: build arg %s", app, k) {
				assert.Equal(t, want, *args[k], "%s: build arg %s", app, k)
			}
		}
	}
}
