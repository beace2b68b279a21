package adapters

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestNetGuardRefusesInternalAddresses(t *testing.T) {
	g := NetGuard{}
	for _, a := range []string{"127.0.0.1", "::1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254",
		"fe80::1", "fd00::1", "0.0.0.0", "100.64.0.1", "224.0.0.1", "::ffff:127.0.0.1"} {
		if g.Refused(netip.MustParseAddr(a)) == "" {
			t.Errorf("%s is allowed", a)
		}
	}
	for _, a := range []string{"93.184.216.34", "2606:2800:220:1::1", "8.8.8.8"} {
		if why := g.Refused(netip.MustParseAddr(a)); why != "" {
			t.Errorf("%s refused: %s", a, why)
		}
	}
	allowed, err := ParseNetworks("127.0.0.0/8, ::1/128")
	if err != nil {
		t.Fatal(err)
	}
	if (NetGuard{Allowed: allowed}).Refused(netip.MustParseAddr("127.0.0.1")) != "" {
		t.Error("an allowed network was refused")
	}
	if _, err := ParseNetworks("not-a-cidr"); err == nil {
		t.Error("a bad network was accepted")
	}
}

func TestNetGuardChecksHostsAndConnections(t *testing.T) {
	ctx := context.Background()
	if err := (NetGuard{}).CheckHost(ctx, "localhost"); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("localhost: %v", err)
	}
	if err := (NetGuard{}).CheckHost(ctx, "[::1]"); err == nil {
		t.Fatal("[::1] accepted")
	}
	if err := (NetGuard{}).CheckHost(ctx, "no-such-host.invalid"); err == nil {
		t.Fatal("an unresolvable host accepted")
	}
	// At connection time: the guard refuses the dial itself.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) }))
	defer srv.Close()
	_, err := GuardedWebhookClient(time.Second, NetGuard{}).Post(srv.URL, "application/json", nil)
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("dial to loopback: %v", err)
	}
	allowed, _ := ParseNetworks("127.0.0.0/8")
	resp, err := GuardedWebhookClient(time.Second, NetGuard{Allowed: allowed}).Post(srv.URL, "application/json", nil)
	if err != nil || resp.StatusCode != 204 {
		t.Fatalf("allowed loopback: %v", err)
	}
	resp.Body.Close()
}
