package runner

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCulpritIsTheSidecarWhenBothExit: an app that fails on its dying
// sidecar's broken connection exits first; the sidecar is still named.
func TestCulpritIsTheSidecarWhenBothExit(t *testing.T) {
	newApp := func() *appRun {
		return &appRun{app: &proc{name: "gateway", done: make(chan struct{})}, dapr: &proc{name: "gateway.daprd", done: make(chan struct{})}}
	}

	a := newApp()
	assert.Nil(t, culprit(a, time.Second), "nothing exited, yet there is a culprit")

	a = newApp()
	close(a.app.done)
	go func() { time.Sleep(20 * time.Millisecond); close(a.dapr.done) }()
	// require: the goroutine above still reads a, which the next case replaces.
	require.Same(t, a.dapr, culprit(a, time.Minute), "app then sidecar exited: want gateway.daprd")

	a = newApp()
	close(a.app.done)
	assert.Same(t, a.app, culprit(a, 10*time.Millisecond), "only the app exited: want gateway")

	a = newApp()
	close(a.dapr.done)
	assert.Same(t, a.dapr, culprit(a, time.Minute), "only the sidecar exited: want gateway.daprd")
}
