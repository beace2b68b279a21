package runner

import (
	"testing"
	"time"
)

// TestCulpritIsTheSidecarWhenBothExit: an app that fails on its dying
// sidecar's broken connection exits first; the sidecar is still named.
func TestCulpritIsTheSidecarWhenBothExit(t *testing.T) {
	newApp := func() *appRun {
		return &appRun{app: &proc{name: "gateway", done: make(chan struct{})}, dapr: &proc{name: "gateway.daprd", done: make(chan struct{})}}
	}

	a := newApp()
	if p := culprit(a, time.Second); p != nil {
		t.Fatalf("nothing exited, culprit %s", p.name)
	}

	a = newApp()
	close(a.app.done)
	go func() { time.Sleep(20 * time.Millisecond); close(a.dapr.done) }()
	if p := culprit(a, time.Minute); p != a.dapr {
		t.Fatalf("app then sidecar exited: culprit %s, want gateway.daprd", p.name)
	}

	a = newApp()
	close(a.app.done)
	if p := culprit(a, 10*time.Millisecond); p != a.app {
		t.Fatalf("only the app exited: culprit %v, want gateway", p)
	}

	a = newApp()
	close(a.dapr.done)
	if p := culprit(a, time.Minute); p != a.dapr {
		t.Fatalf("only the sidecar exited: culprit %v", p)
	}
}
