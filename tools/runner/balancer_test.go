package runner

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBalancerSpreadsAndSkipsADeadInstance: connections go round robin
// over the instances, and one that refuses (killed) is passed over.
func TestBalancerSpreadsAndSkipsADeadInstance(t *testing.T) {
	var ports []int
	var servers []*http.Server
	for i := range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, i) })}
		go func() { _ = srv.Serve(ln) }()
		servers = append(servers, srv)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	s := &System{opts: Options{Logf: t.Logf}, balancers: map[string]*relay{}}
	for i, p := range ports {
		s.apps = append(s.apps, &appRun{App: App{AppID: "gateway"}, name: fmt.Sprintf("gateway#%d", i+1), publicPort: p})
	}
	require.NoError(t, s.startBalancers())
	b := s.balancers["gateway"]
	require.NotNil(t, b)
	defer b.stop()

	get := func() string {
		// A connection per request, as many clients make.
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Get("http://" + b.addr)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	seen := map[string]int{}
	for range 10 {
		seen[get()]++
	}
	assert.Equal(t, map[string]int{"0": 5, "1": 5}, seen, "round robin")

	require.NoError(t, servers[0].Close())
	for range 4 {
		assert.Equal(t, "1", get(), "the dead instance is skipped")
	}
}
