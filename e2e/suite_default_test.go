//go:build !faults

package e2e

// faultsOnly: this build runs the end-to-end suite on one shared system.
const faultsOnly = false

// printFaultTable has nothing to print without the fault suite.
func printFaultTable() {}
