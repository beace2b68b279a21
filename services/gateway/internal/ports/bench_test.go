package ports

import (
	"net/http"
	"testing"
	"time"
)

// BenchmarkAcceptPathInMemory is the accept path without daprd. make bench
// reports its ratio to the real path.
func BenchmarkAcceptPathInMemory(b *testing.B) {
	// Purchases are accepted and never end here: the bound on those still
	// processing (MAX_PROCESSING) would refuse them after 500.
	e := newEnvFrom(b, map[string]string{"MAX_PROCESSING": "1000000"}, nil)
	tok := e.signUp(b, "alice", "0909123456")
	// The test store's schema check of each event is test-only work.
	e.bus.SkipEventChecks = true
	body := `{"phoneNumber":"0909123456"}`
	auth := bearer(tok)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		// 100 purchases a second of the test clock, as in make bench's end
		// to end phase: the outbox's time buckets fill as they would.
		e.clock.add(10 * time.Millisecond)
		if rec := e.do("POST", "/voucher", body, auth); rec.Code != http.StatusAccepted {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
}
