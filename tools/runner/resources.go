package runner

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// resource is the part of a Dapr resource file the runner reads.
type resource struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Type     string `json:"type"`
		Metadata []struct {
			Name  string `json:"name"`
			Value any    `json:"value"`
		} `json:"metadata"`
		Topic           string `json:"topic"`
		DeadLetterTopic string `json:"deadLetterTopic"`
	} `json:"spec"`
	Scopes []string `json:"scopes"`
}

var placeholder = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// expand replaces ${NAME} with vars[NAME], and ${NAME:-default} with the
// default when NAME has no value (an empty value counts as none, as in the
// shell). A name with neither is an error naming the file, so a profile
// never starts half-configured.
func expand(file string, text []byte, vars map[string]string) ([]byte, error) {
	var missing []string
	out := placeholder.ReplaceAllFunc(text, func(m []byte) []byte {
		sub := placeholder.FindSubmatch(m)
		name := string(sub[1])
		if v, ok := vars[name]; ok && (v != "" || sub[2] == nil) {
			return []byte(v)
		}
		if sub[2] != nil {
			return sub[3]
		}
		missing = append(missing, name)
		return nil
	})
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s uses ${%s}, which has no value", file, strings.Join(missing, "}, ${"))
	}
	return out, nil
}

// usesPlaceholder tells whether any resource file under dirs names ${name}.
func usesPlaceholder(dirs []string, name string) (bool, error) {
	files, err := resourceFiles(dirs)
	if err != nil {
		return false, err
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return false, err
		}
		if bytes.Contains(b, []byte("${"+name+"}")) || bytes.Contains(b, []byte("${"+name+":-")) {
			return true, nil
		}
	}
	return false, nil
}

func resourceFiles(dirs []string) ([]string, error) {
	var files []string
	for _, d := range dirs {
		entries, err := os.ReadDir(d)
		if err != nil {
			return nil, fmt.Errorf("resources path: %w", err)
		}
		for _, e := range entries {
			if ext := filepath.Ext(e.Name()); !e.IsDir() && (ext == ".yaml" || ext == ".yml") {
				files = append(files, filepath.Join(d, e.Name()))
			}
		}
	}
	return files, nil
}

// rendered is the outcome of rendering a profile's resources.
type rendered struct {
	dirs []string // one rendered folder per source folder, in order
	// topics that need a JetStream stream: subscribed and dead-letter
	// topics (every topic the apps publish to is subscribed).
	topics []string
	docs   []renderedDoc
}

// renderedDoc is one resource and the rendered file that holds it.
type renderedDoc struct {
	res  resource
	file string
}

// renderResources expands placeholders in every resource file of srcDirs,
// checks that each document is a well-formed Dapr resource, and writes them
// under outDir. Errors name the file and what is wrong with it.
func renderResources(srcDirs []string, outDir string, vars map[string]string) (*rendered, error) {
	if err := os.RemoveAll(outDir); err != nil {
		return nil, err
	}
	r := &rendered{}
	topics := map[string]bool{}
	for i, src := range srcDirs {
		dst := filepath.Join(outDir, fmt.Sprintf("%d-%s", i, filepath.Base(src)))
		if err := os.MkdirAll(dst, 0o700); err != nil {
			return nil, err
		}
		r.dirs = append(r.dirs, dst)
		files, err := resourceFiles([]string{src})
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			text, err := expand(f, raw, vars)
			if err != nil {
				return nil, err
			}
			docs, err := checkResources(f, text)
			if err != nil {
				return nil, err
			}
			out := filepath.Join(dst, filepath.Base(f))
			for _, d := range docs {
				for _, t := range topicsOf(d) {
					topics[t] = true
				}
				r.docs = append(r.docs, renderedDoc{res: d, file: out})
			}
			if err := os.WriteFile(out, text, 0o600); err != nil { // may hold a token
				return nil, err
			}
		}
	}
	for t := range topics {
		r.topics = append(r.topics, t)
	}
	sort.Strings(r.topics)
	return r, nil
}

// checkResources parses every YAML document of a file strictly enough to
// catch what daprd would otherwise skip with a log line nobody reads.
func checkResources(file string, text []byte) ([]resource, error) {
	var out []resource
	for n, doc := range SplitDocs(text) {
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var res resource
		if err := yaml.Unmarshal(doc, &res); err != nil {
			return nil, fmt.Errorf("bad resource YAML in %s (document %d): %w", file, n+1, err)
		}
		switch {
		case res.APIVersion == "":
			return nil, fmt.Errorf("bad resource in %s (document %d): no apiVersion", file, n+1)
		case res.Kind == "":
			return nil, fmt.Errorf("bad resource in %s (document %d): no kind", file, n+1)
		case res.Metadata.Name == "":
			return nil, fmt.Errorf("bad resource in %s (document %d): no metadata.name", file, n+1)
		case res.Kind == "Component" && res.Spec.Type == "":
			return nil, fmt.Errorf("bad resource in %s: component %q has no spec.type", file, res.Metadata.Name)
		}
		out = append(out, res)
	}
	return out, nil
}

// SplitDocs splits a YAML file into its documents (at "---" lines).
func SplitDocs(text []byte) [][]byte {
	var docs [][]byte
	var cur []byte
	for _, line := range bytes.SplitAfter(text, []byte("\n")) {
		if bytes.Equal(bytes.TrimRight(line, "\r\n"), []byte("---")) {
			docs = append(docs, cur)
			cur = nil
			continue
		}
		cur = append(cur, line...)
	}
	return append(docs, cur)
}

// topicsOf lists the topics a resource makes daprd subscribe to: a
// Subscription's topic and its dead-letter topic. The apps publish only to
// subscribed topics (their outbox, kit/daprx, publishes straight to them:
// no internal topics).
func topicsOf(res resource) []string {
	var out []string
	if res.Kind == "Subscription" {
		out = append(out, res.Spec.Topic)
		if res.Spec.DeadLetterTopic != "" {
			out = append(out, res.Spec.DeadLetterTopic)
		}
	}
	return out
}
