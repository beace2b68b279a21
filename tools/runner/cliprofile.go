package runner

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The Dapr CLI's profile (components/cli) is written from the runner's
// sources, so one set of files says what each component is: the Redis
// profile (dapr init's Redis on localhost:6379), components/local and
// components/config.yaml, every placeholder filled in, because daprd fills
// in none in a component file (and in the Configuration only plain $NAME
// from its environment, which the CLI does not set).
const (
	cliSourceProfile = "redis"
	// cliDataDir is where the CLI's run keeps its files (secrets, texts,
	// name resolution), under the repository like make run's .data.
	cliDataDir = ".data/cli"
)

// CLIDataDir is the folder of the CLI's run, relative to the run file.
func CLIDataDir() string { return filepath.FromSlash(cliDataDir) }

// RenderCLIProfile renders the CLI's profile for the run file at runFile:
// file name → content. Paths in it are relative to each daprd's working
// directory, the app's appDirPath, where the CLI starts it; every app's
// appDirPath must then be equally deep.
func RenderCLIProfile(runFile string) (map[string][]byte, error) {
	rf, err := LoadRunFile(runFile)
	if err != nil {
		return nil, err
	}
	base, err := filepath.Abs(filepath.Dir(runFile))
	if err != nil {
		return nil, err
	}
	vars := map[string]string{}
	for _, a := range rf.Apps {
		rel, err := filepath.Rel(a.AppDirPath, filepath.Join(base, cliDataDir))
		if err != nil {
			return nil, err
		}
		rel = filepath.ToSlash(rel)
		if d, ok := vars["DATA_DIR"]; ok && d != rel {
			return nil, fmt.Errorf("app %s: its data dir would be %s, another app's %s: give every app an equally deep appDirPath", a.AppID, rel, d)
		}
		vars["DATA_DIR"] = rel
		vars["APP_PORT_"+envName(a.AppID)] = strconv.Itoa(a.AppPort)
	}
	components := filepath.Join(base, "components")
	out := map[string][]byte{}
	add := func(src string) error {
		raw, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		text, err := expand(src, raw, vars)
		if err != nil {
			return err
		}
		if _, err := checkResources(src, text); err != nil {
			return err
		}
		name := filepath.Base(src)
		if _, dup := out[name]; dup {
			return fmt.Errorf("two sources of the CLI profile are named %s", name)
		}
		from, _ := filepath.Rel(base, src)
		var b bytes.Buffer
		fmt.Fprintf(&b, "# Written by `make cli-profile` from %s, for the Dapr CLI\n", filepath.ToSlash(from))
		b.WriteString("# (`dapr run -f .`), which fills in no ${...}: edit the source and run\n")
		b.WriteString("# `make cli-profile`. Paths are relative to each sidecar's working\n")
		b.WriteString("# directory, its app's appDirPath (services/<app>).\n")
		b.Write(text)
		out[name] = b.Bytes()
		return nil
	}
	for _, dir := range []string{"local", cliSourceProfile} {
		files, err := resourceFiles([]string{filepath.Join(components, dir)})
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			if err := add(f); err != nil {
				return nil, err
			}
		}
	}
	if err := add(filepath.Join(components, "config.yaml")); err != nil {
		return nil, err
	}
	// daprd runs os.ExpandEnv on the Configuration: no "$" may be left.
	for name, text := range out {
		if i := bytes.IndexByte(stripComments(text), '$'); i >= 0 {
			return nil, fmt.Errorf("the CLI profile's %s still holds a $", name)
		}
	}
	return out, nil
}

// stripComments drops YAML comment lines, which hold "${...}" in prose.
func stripComments(text []byte) []byte {
	var out []byte
	for _, line := range bytes.SplitAfter(text, []byte("\n")) {
		if !strings.HasPrefix(strings.TrimSpace(string(line)), "#") {
			out = append(out, line...)
		}
	}
	return out
}

// WriteCLIProfile writes the CLI's profile into dir, replacing the YAML
// files there.
func WriteCLIProfile(runFile, dir string) error {
	files, err := RenderCLIProfile(runFile)
	if err != nil {
		return err
	}
	old, _ := resourceFiles([]string{dir})
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), text, 0o644); err != nil {
			return err
		}
	}
	return nil
}
