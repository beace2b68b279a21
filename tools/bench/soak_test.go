package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSoakReportsMemoryChangeAndDataPerThousandPurchases(t *testing.T) {
	start := map[string]int64{"gateway": 100 * 1024, "voucher": 20 * 1024, "gone": 10 * 1024}
	mid := map[string]int64{"gateway": 108 * 1024, "voucher": 20 * 1024, "gone": 10 * 1024}
	end := map[string]int64{"gateway": 108 * 1024, "voucher": 19 * 1024}
	s := soakOf(start, mid, end, 10<<20, 20<<20, 2000)
	assert.Equal(t, []RSSChange{
		{Name: "gateway", StartMiB: 100, MidMiB: 108, EndMiB: 108, Change: 8, SecondHalf: 0},
		{Name: "voucher", StartMiB: 20, MidMiB: 20, EndMiB: 19, Change: -5, SecondHalf: -5},
	}, s.RSS, "a process that ended is left out")
	assert.InDelta(t, 5120, s.DataPer1000KiB, 0.1, "10 MiB over 2,000 purchases")
}

func TestDataDirectoryLeavesTheSystemLogOut(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "kafka"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "kafka", "segment"), make([]byte, 300), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "gateway-store.db"), make([]byte, 200), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "system.log"), make([]byte, 1000), 0o644))
	assert.EqualValues(t, 500, dirBytes(dir))
}
