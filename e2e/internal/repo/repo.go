// Package repo finds the repository the test suites run in.
package repo

import (
	"os"
	"path/filepath"
)

// Root is the folder holding go.work, found from the working folder up
// (go test runs a package in its own folder). It panics when there is none:
// nothing of the suites can run outside the repository.
func Root() string {
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			panic("go.work not found above the test folder")
		}
		dir = parent
	}
}
