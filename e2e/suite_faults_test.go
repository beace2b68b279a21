//go:build faults

package e2e

// faultsOnly: this build runs the fault-injection suite (make test-faults),
// each case on a system of its own; no shared system is started.
const faultsOnly = true
