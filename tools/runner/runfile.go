// Package runner starts the system locally the way `dapr run -f dapr.yaml`
// would: every app beside its own daprd, with the components of one profile.
// For the embedded profile it also runs a NATS JetStream server inside this
// process. The command in cmd/runner wraps it; the end-to-end tests use it as
// a library.
package runner

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// RunFile is the Dapr multi-app run file (dapr.yaml): the fields we honour.
// The file may hold any other field of the Dapr CLI's schema (cliFields);
// Ignored lists those it holds, so the runner can say it does not use them.
type RunFile struct {
	Version int       `json:"version"`
	Name    string    `json:"name,omitempty"`
	Common  AppConfig `json:"common"`
	Apps    []App     `json:"apps"`
	// Ignored names the CLI fields the file sets that the runner does not
	// use ("common.placementHostAddress", "apps[gateway].runtimePath").
	Ignored []string `json:"-"`
}

// AppConfig holds what an app and "common" may both set.
type AppConfig struct {
	ResourcesPath  string            `json:"resourcesPath,omitempty"`
	ResourcesPaths []string          `json:"resourcesPaths,omitempty"`
	ConfigFilePath string            `json:"configFilePath,omitempty"`
	Env            map[string]string `json:"env,omitempty"`
	LogLevel       string            `json:"logLevel,omitempty"`
	AppProtocol    string            `json:"appProtocol,omitempty"`
	// App health checks: daprd probes the path and holds events back while
	// the app is unhealthy; the runner also waits for it at start-up. The
	// probe's interval, timeout and threshold are passed to daprd as set.
	EnableAppHealthCheck   bool   `json:"enableAppHealthCheck,omitempty"`
	AppHealthCheckPath     string `json:"appHealthCheckPath,omitempty"`
	AppHealthProbeInterval int    `json:"appHealthProbeInterval,omitempty"`
	AppHealthProbeTimeout  int    `json:"appHealthProbeTimeout,omitempty"`
	AppHealthThreshold     int    `json:"appHealthThreshold,omitempty"`
	// Passed to daprd as set: --app-max-concurrency, --max-body-size,
	// --read-buffer-size, --enable-api-logging.
	AppMaxConcurrency int    `json:"appMaxConcurrency,omitempty"`
	MaxBodySize       string `json:"maxBodySize,omitempty"`
	ReadBufferSize    string `json:"readBufferSize,omitempty"`
	EnableAPILogging  bool   `json:"enableApiLogging,omitempty"`
}

// App is one entry of apps:.
type App struct {
	AppConfig    `json:",inline"`
	AppID        string   `json:"appID"`
	AppDirPath   string   `json:"appDirPath"`
	AppPort      int      `json:"appPort"`
	Command      []string `json:"command"`
	DaprHTTPPort int      `json:"daprHTTPPort"`
	DaprGRPCPort int      `json:"daprGRPCPort"`
	MetricsPort  int      `json:"metricsPort"`
}

// cliFields is the Dapr CLI's run-file schema (dapr/cli pkg/runfileconfig
// and pkg/standalone.RunConfig, as of the CLI this project is tried with):
// every field it reads at the top, in common, and in an app. A field in
// none of them is a mistake (a typo the CLI would silently skip) and is
// refused; a CLI field the runner does not use is listed in Ignored.
var cliFields = struct{ top, shared, app map[string]bool }{
	top: set("version", "name", "common", "apps"),
	shared: set("configFilePath", "appProtocol", "apiListenAddresses", "enableProfiling", "logLevel",
		"appMaxConcurrency", "placementHostAddress", "resourcesPath", "resourcesPaths", "appSSL",
		"maxBodySize", "readBufferSize", "enableAppHealthCheck", "appHealthCheckPath",
		"appHealthProbeInterval", "appHealthProbeTimeout", "appHealthThreshold", "enableApiLogging",
		"runtimePath", "env", "daprdLogDestination", "appLogDestination", "schedulerHostAddress"),
	app: set("appID", "appChannelAddress", "appPort", "daprHTTPPort", "daprGRPCPort", "profilePort",
		"command", "metricsPort", "unixDomainSocket", "daprInternalGRPCPort",
		"containerImage", "containerImagePullPolicy", "createService", "appDirPath"),
}

// usedFields are the CLI fields the runner acts on (RunFile's json tags).
var usedFields = set("version", "name", "common", "apps",
	"resourcesPath", "resourcesPaths", "configFilePath", "env", "logLevel", "appProtocol",
	"enableAppHealthCheck", "appHealthCheckPath", "appHealthProbeInterval", "appHealthProbeTimeout",
	"appHealthThreshold", "appMaxConcurrency", "maxBodySize", "readBufferSize", "enableApiLogging",
	"appID", "appDirPath", "appPort", "command", "daprHTTPPort", "daprGRPCPort", "metricsPort")

func set(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// LoadRunFile reads and checks a run file. Relative paths are made
// absolute as the Dapr CLI does: common's against the file's folder, an
// app's against its appDirPath.
func LoadRunFile(path string) (*RunFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	ignored, err := checkFields(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var rf RunFile
	if err := yaml.Unmarshal(b, &rf); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	rf.Ignored = ignored
	base, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	abs := func(dir, p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	fix := func(dir string, c *AppConfig) {
		if c.ResourcesPath != "" {
			c.ResourcesPaths = append(c.ResourcesPaths, c.ResourcesPath)
			c.ResourcesPath = ""
		}
		for i, p := range c.ResourcesPaths {
			c.ResourcesPaths[i] = abs(dir, p)
		}
		c.ConfigFilePath = abs(dir, c.ConfigFilePath)
	}
	fix(base, &rf.Common)
	seen := map[string]bool{}
	for i := range rf.Apps {
		a := &rf.Apps[i]
		if a.AppID == "" {
			return nil, fmt.Errorf("%s: app %d has no appID", path, i)
		}
		if seen[a.AppID] {
			return nil, fmt.Errorf("%s: appID %q appears twice", path, a.AppID)
		}
		seen[a.AppID] = true
		if len(a.Command) == 0 {
			return nil, fmt.Errorf("%s: app %q has no command", path, a.AppID)
		}
		a.AppDirPath = abs(base, a.AppDirPath)
		if a.AppDirPath == "" {
			a.AppDirPath = base
		}
		fix(a.AppDirPath, &a.AppConfig)
		inherit(a, rf.Common)
	}
	return &rf, nil
}

// inherit gives an app what it does not set from common, as the CLI does.
func inherit(a *App, common AppConfig) {
	if len(a.ResourcesPaths) == 0 {
		a.ResourcesPaths = append([]string(nil), common.ResourcesPaths...)
	}
	str := func(v *string, c string) {
		if *v == "" {
			*v = c
		}
	}
	num := func(v *int, c int) {
		if *v == 0 {
			*v = c
		}
	}
	str(&a.ConfigFilePath, common.ConfigFilePath)
	str(&a.LogLevel, common.LogLevel)
	str(&a.AppProtocol, common.AppProtocol)
	str(&a.AppHealthCheckPath, common.AppHealthCheckPath)
	str(&a.MaxBodySize, common.MaxBodySize)
	str(&a.ReadBufferSize, common.ReadBufferSize)
	num(&a.AppHealthProbeInterval, common.AppHealthProbeInterval)
	num(&a.AppHealthProbeTimeout, common.AppHealthProbeTimeout)
	num(&a.AppHealthThreshold, common.AppHealthThreshold)
	num(&a.AppMaxConcurrency, common.AppMaxConcurrency)
	a.EnableAppHealthCheck = a.EnableAppHealthCheck || common.EnableAppHealthCheck
	a.EnableAPILogging = a.EnableAPILogging || common.EnableAPILogging
	env := map[string]string{}
	for k, v := range common.Env {
		env[k] = v
	}
	for k, v := range a.Env {
		env[k] = v
	}
	a.Env = env
}

// checkFields refuses a field the Dapr CLI does not know, and lists the
// CLI's fields the runner does not use.
func checkFields(text []byte) ([]string, error) {
	j, err := yaml.YAMLToJSON(text)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Top    map[string]json.RawMessage
		Common map[string]json.RawMessage   `json:"common"`
		Apps   []map[string]json.RawMessage `json:"apps"`
	}
	if err := json.Unmarshal(j, &doc.Top); err != nil {
		return nil, fmt.Errorf("not a run file: %w", err)
	}
	_ = json.Unmarshal(j, &doc)
	var ignored []string
	check := func(where string, fields map[string]json.RawMessage, known ...map[string]bool) error {
		for name := range fields {
			ok := false
			for _, k := range known {
				ok = ok || k[name]
			}
			if !ok {
				return fmt.Errorf("%s: unknown field %q (not in the Dapr CLI's run-file schema)", where, name)
			}
			if !usedFields[name] {
				ignored = append(ignored, strings.TrimPrefix(where+"."+name, "run file."))
			}
		}
		return nil
	}
	if err := check("run file", doc.Top, cliFields.top); err != nil {
		return nil, err
	}
	if err := check("common", doc.Common, cliFields.shared); err != nil {
		return nil, err
	}
	for i, a := range doc.Apps {
		where := fmt.Sprintf("apps[%d]", i)
		var id string
		if json.Unmarshal(a["appID"], &id) == nil && id != "" {
			where = "apps[" + id + "]"
		}
		if err := check(where, a, cliFields.shared, cliFields.app); err != nil {
			return nil, err
		}
	}
	sort.Strings(ignored)
	return ignored, nil
}
