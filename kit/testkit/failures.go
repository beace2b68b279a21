package testkit

import "sync"

// Failures is a sweep counter that remembers, by "sweep/reason".
type Failures struct {
	mu sync.Mutex
	by map[string]int
}

// Failed counts a pass's failures.
func (f *Failures) Failed(sweep string, reasons map[string]int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.by == nil {
		f.by = map[string]int{}
	}
	for r, n := range reasons {
		f.by[sweep+"/"+r] += n
	}
}

// Passed counts under "sweep/pass/outcome" and "sweep/items".
func (f *Failures) Passed(sweep, outcome string, items int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.by == nil {
		f.by = map[string]int{}
	}
	f.by[sweep+"/pass/"+outcome]++
	f.by[sweep+"/items"] += items
}

// By returns the counts.
func (f *Failures) By() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]int{}
	for k, v := range f.by {
		out[k] = v
	}
	return out
}

// Test tokens are long enough for the apps' checks, and never a deployment's.
const (
	AppToken  = "app-token-of-the-test-0123456789"
	DaprToken = "dapr-token-of-the-test-012345678"
)
