package runner

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// backend is a network server that a profile's components need: the runner
// checks that it answers before starting anything, so a missing Redis is
// named at once instead of as a sidecar that never turns healthy.
type backend struct {
	kind      string   // what it is, for people: "redis", "postgresql"...
	addr      string   // host:port
	users     []string // the components that use it
	pubsub    bool     // a pub/sub component uses it
	file      string   // rendered file of the first pub/sub user, for the proxy
	component string
}

// addressOf is where a component of a known type connects, and what kind of
// server that is. Types the runner does not know (or that need no server,
// like state.sqlite) return "".
func addressOf(res resource) (kind, addr string) {
	meta := map[string]string{}
	for _, m := range res.Spec.Metadata {
		if m.Value != nil { // an empty value (a placeholder with no value) is no address
			meta[m.Name] = fmt.Sprint(m.Value)
		}
	}
	typ := res.Spec.Type
	switch {
	case typ == "state.redis" || typ == "pubsub.redis":
		return "redis", withPort(meta["redisHost"], "6379")
	case typ == "state.postgresql" || typ == "pubsub.postgresql":
		return "postgresql", postgresAddr(meta["connectionString"])
	case typ == "pubsub.rabbitmq":
		if u, err := url.Parse(meta["connectionString"]); err == nil && u.Host != "" {
			return "rabbitmq", withPort(u.Host, "5672")
		}
		return "rabbitmq", withPort(meta["hostname"], "5672")
	case typ == "pubsub.kafka":
		first, _, _ := strings.Cut(meta["brokers"], ",")
		return "kafka", withPort(strings.TrimSpace(first), "9092")
	case typ == "pubsub.jetstream":
		if u, err := url.Parse(meta["natsURL"]); err == nil && u.Host != "" {
			return "nats", withPort(u.Host, "4222")
		}
	}
	return "", ""
}

func withPort(hostport, port string) string {
	if hostport == "" {
		return ""
	}
	if _, _, err := net.SplitHostPort(hostport); err == nil {
		return hostport
	}
	return net.JoinHostPort(hostport, port)
}

// postgresAddr reads host and port from a URL or a keyword/value
// connection string.
func postgresAddr(conn string) string {
	if u, err := url.Parse(conn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		return withPort(orDefault(u.Host, "localhost"), "5432")
	}
	host, port := "localhost", "5432"
	for _, f := range strings.Fields(conn) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "host":
			host = v
		case "port":
			port = v
		}
	}
	return net.JoinHostPort(host, port)
}

// serversOf lists the servers the components of a rendered profile need,
// one entry per address.
func serversOf(docs []renderedDoc) []*backend {
	byAddr := map[string]*backend{}
	for _, d := range docs {
		if d.res.Kind != "Component" {
			continue
		}
		kind, addr := addressOf(d.res)
		if addr == "" {
			continue
		}
		s := byAddr[addr]
		if s == nil {
			s = &backend{kind: kind, addr: addr}
			byAddr[addr] = s
		}
		s.users = append(s.users, d.res.Metadata.Name)
		if strings.HasPrefix(d.res.Spec.Type, "pubsub.") && !s.pubsub {
			s.pubsub, s.file, s.component = true, d.file, d.res.Metadata.Name
		}
	}
	out := make([]*backend, 0, len(byAddr))
	for _, s := range byAddr {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].addr < out[j].addr })
	return out
}

// checkServers dials every server once and names each one that does not
// answer, with the components that need it.
func checkServers(servers []*backend, profile string) error {
	var missing []string
	for _, s := range servers {
		c, err := net.DialTimeout("tcp", s.addr, 3*time.Second)
		if err != nil {
			missing = append(missing, fmt.Sprintf("%s at %s (needed by %s): %v", s.kind, s.addr, strings.Join(s.users, ", "), err))
			continue
		}
		c.Close()
	}
	if len(missing) == 0 {
		return nil
	}
	return &StartError{
		Process: "profile " + orDefault(profile, "of dapr.yaml"),
		Reason: "a server this profile needs does not answer:\n  " + strings.Join(missing, "\n  ") +
			"\nstart it (docs/deploy.md says how) or run another profile; the embedded one needs nothing: make run PROFILE=embedded",
	}
}

// pointAt rewrites one component's server address in its rendered file, so
// that its sidecars connect through the runner's proxy.
func pointAt(file, component, from, to string) error {
	raw, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	docs := SplitDocs(raw)
	found := false
	for i, d := range docs {
		res, err := checkResources(file, d)
		if err != nil || len(res) != 1 || res[0].Metadata.Name != component {
			continue
		}
		if !strings.Contains(string(d), from) {
			return fmt.Errorf("%s: component %s does not name %s", file, component, from)
		}
		docs[i] = []byte(strings.ReplaceAll(string(d), from, to))
		found = true
	}
	if !found {
		return fmt.Errorf("%s: no component %s", file, component)
	}
	var out []byte
	for i, d := range docs {
		if i > 0 {
			out = append(out, "---\n"...)
		}
		out = append(out, d...)
	}
	return os.WriteFile(file, out, 0o644)
}

// CheckProfile tells whether the servers a profile's components need
// answer, without starting anything: the StartError names each one that
// does not. The embedded broker, which the runner itself starts, needs none.
func CheckProfile(runFile, profile string) error {
	rf, err := LoadRunFile(runFile)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "vouchers-check-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	// No NATS_URL: the embedded broker is the runner's own, not checked.
	vars := placeholderValues(tmp, map[string]string{"NATS_URL": "", "NATS_TOKEN": ""})
	var apps []*appRun
	for _, a := range rf.Apps {
		vars["APP_PORT_"+envName(a.AppID)] = "0"
		a.ResourcesPaths = withProfile(a.ResourcesPaths, profile)
		apps = append(apps, &appRun{App: a})
	}
	dirs := resourceDirs(apps)
	r, err := renderResources(dirs, filepath.Join(tmp, "resources"), vars)
	if err != nil {
		return err
	}
	return checkServers(serversOf(r.docs), profile)
}
