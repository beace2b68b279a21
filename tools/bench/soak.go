package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Held is a -sustain or -soak run: the end-to-end phase alone, long, with
// what it cost; written to bench/results/ so runs can be compared.
type Held struct {
	Date    string `json:"date"`
	Profile string `json:"profile"`
	Machine string `json:"machine"`
	Mode    string `json:"mode"` // sustain or soak
	// The phase after the warm-up; a refused purchase (503) bought nothing.
	EndToEnd  E2E        `json:"endToEnd"`
	Lost      int        `json:"lost"`
	Processes []Process  `json:"processes"`
	Calls     []AppCalls `json:"sidecarCalls,omitempty"`
	Soak      *Soak      `json:"soak,omitempty"`
}

// Soak is what a long run leaves behind: memory and data.
type Soak struct {
	RSS []RSSChange `json:"rss"`
	// Data is the system's data directory (SQLite stores, the broker's
	// streams) at the phase's start and end.
	DataStartMiB float64 `json:"dataStartMiB"`
	DataEndMiB   float64 `json:"dataEndMiB"`
	// DataPer1000KiB is the growth per 1,000 purchases completed.
	DataPer1000KiB float64 `json:"dataGrowthPer1000PurchasesKiB"`
}

// RSSChange is one process's resident memory at the start, half-way and
// the end. Growth that goes on in the second half is the one to look at:
// caches and pools fill in the first.
type RSSChange struct {
	Name       string  `json:"name"`
	StartMiB   float64 `json:"startMiB"`
	MidMiB     float64 `json:"midMiB"`
	EndMiB     float64 `json:"endMiB"`
	Change     float64 `json:"changePercent"`
	SecondHalf float64 `json:"secondHalfChangePercent"`
}

// rss is each process's resident memory now, in KiB.
func (s *system) rss() map[string]int64 {
	out := map[string]int64{}
	for name, pid := range s.sys.Processes() {
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(status), "\n") {
			if strings.HasPrefix(line, "VmRSS:") {
				out[name], _ = strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			}
		}
	}
	return out
}

func dirBytes(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		// The system's log is the bench's, not the system's data.
		if err == nil && !d.IsDir() && d.Name() != "system.log" {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

func soakOf(start, mid, end map[string]int64, dataStart, dataEnd int64, completed int) *Soak {
	s := &Soak{DataStartMiB: mib(dataStart), DataEndMiB: mib(dataEnd)}
	if completed > 0 {
		s.DataPer1000KiB = round(float64(dataEnd-dataStart)/1024/float64(completed)*1000, 1)
	}
	for name, a := range start {
		b, ok := end[name]
		m := mid[name]
		if !ok || a == 0 || m == 0 {
			continue
		}
		s.RSS = append(s.RSS, RSSChange{Name: name, StartMiB: round(float64(a)/1024, 1), MidMiB: round(float64(m)/1024, 1),
			EndMiB: round(float64(b)/1024, 1), Change: round(float64(b-a)/float64(a)*100, 1),
			SecondHalf: round(float64(b-m)/float64(m)*100, 1)})
	}
	sort.Slice(s.RSS, func(i, j int) bool { return s.RSS[i].Name < s.RSS[j].Name })
	return s
}

func mib(b int64) float64 { return round(float64(b)/(1<<20), 1) }

func (s *Soak) String() string {
	var b strings.Builder
	b.WriteString("| process | RSS at start MiB | half-way | at end | change | in the second half |\n|---|---|---|---|---|---|\n")
	for _, r := range s.RSS {
		fmt.Fprintf(&b, "| %s | %.1f | %.1f | %.1f | %+.1f%% | %+.1f%% |\n", r.Name, r.StartMiB, r.MidMiB, r.EndMiB, r.Change, r.SecondHalf)
	}
	fmt.Fprintf(&b, "\ndata directory: %.1f MiB at the start, %.1f MiB at the end: %.1f KiB per 1,000 purchases\n",
		s.DataStartMiB, s.DataEndMiB, s.DataPer1000KiB)
	return b.String()
}
