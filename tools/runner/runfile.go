// Package runner starts the system locally the way `dapr run -f dapr.yaml`
// would: every app beside its own daprd, with the components of one profile.
// For the embedded profile it also runs a NATS JetStream server inside this
// process. The command in cmd/runner wraps it; the end-to-end tests use it as
// a library.
package runner

import (
	"fmt"
	"os"
	"path/filepath"

	"sigs.k8s.io/yaml"
)

// RunFile is the Dapr multi-app run file (dapr.yaml), the fields we honour.
type RunFile struct {
	Version int       `json:"version"`
	Common  AppConfig `json:"common"`
	Apps    []App     `json:"apps"`
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
	// the app is unhealthy; the runner also waits for it at start-up.
	EnableAppHealthCheck bool   `json:"enableAppHealthCheck,omitempty"`
	AppHealthCheckPath   string `json:"appHealthCheckPath,omitempty"`
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

// LoadRunFile reads and checks a run file; relative paths in it are made
// absolute against the file's folder, as the Dapr CLI does.
func LoadRunFile(path string) (*RunFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rf RunFile
	if err := yaml.UnmarshalStrict(b, &rf); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	base, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(base, p)
	}
	fix := func(c *AppConfig) {
		if c.ResourcesPath != "" {
			c.ResourcesPaths = append(c.ResourcesPaths, c.ResourcesPath)
			c.ResourcesPath = ""
		}
		for i, p := range c.ResourcesPaths {
			c.ResourcesPaths[i] = abs(p)
		}
		c.ConfigFilePath = abs(c.ConfigFilePath)
	}
	fix(&rf.Common)
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
		fix(&a.AppConfig)
		a.AppDirPath = abs(a.AppDirPath)
		if a.AppDirPath == "" {
			a.AppDirPath = base
		}
		// An app inherits what it does not set from common.
		if len(a.ResourcesPaths) == 0 {
			a.ResourcesPaths = append([]string(nil), rf.Common.ResourcesPaths...)
		}
		if a.ConfigFilePath == "" {
			a.ConfigFilePath = rf.Common.ConfigFilePath
		}
		if a.LogLevel == "" {
			a.LogLevel = rf.Common.LogLevel
		}
		if a.AppProtocol == "" {
			a.AppProtocol = rf.Common.AppProtocol
		}
		if rf.Common.EnableAppHealthCheck {
			a.EnableAppHealthCheck = true
		}
		if a.AppHealthCheckPath == "" {
			a.AppHealthCheckPath = rf.Common.AppHealthCheckPath
		}
		env := map[string]string{}
		for k, v := range rf.Common.Env {
			env[k] = v
		}
		for k, v := range a.Env {
			env[k] = v
		}
		a.Env = env
	}
	return &rf, nil
}
