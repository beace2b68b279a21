package main

import (
	"testing"
	"time"
)

func TestStatsOfTakesNearestRankPercentiles(t *testing.T) {
	var lat []time.Duration
	for i := 100; i >= 1; i-- { // 1..100 ms, in any order
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	s := statsOf(lat)
	if s.P50 != 50 || s.P95 != 95 || s.P99 != 99 || s.Max != 100 {
		t.Fatalf("%+v", s)
	}
	if (statsOf(nil) != Stats{}) {
		t.Fatal("no latencies must give zeros")
	}
}

func TestSummaryHighestRateNeedsNoErrorsAndTheRateHeld(t *testing.T) {
	r := Result{
		Accept: []Stats{
			{Offered: 100, Achieved: 100, P99: 10, GatewayCPUMsPerRequest: 4},
			{Offered: 300, Achieved: 299, P99: 40, GatewayCPUMsPerRequest: 3},
			{Offered: 500, Achieved: 400, Errors: 900, P99: 30}, // errors
			{Offered: 700, Achieved: 600, P99: 45},              // not held
			{Offered: 1000, Achieved: 1000, P99: 60, Errors: 0}, // too slow
		},
		BarePublish: []Stats{{Offered: 100, Achieved: 100, P50: 1}, {Offered: 300, Achieved: 300, GatewayCPUMsPerRequest: 1.5},
			{Offered: 500, Achieved: 500}, {Offered: 700, Achieved: 700}, {Offered: 1000, Achieved: 1000, Errors: 1}},
	}
	r.summarize()
	if r.Summary.HighestRateP99Under50ms != 300 {
		t.Fatalf("highest rate %d, want 300", r.Summary.HighestRateP99Under50ms)
	}
	// Cost is compared at the highest rate both held: not 700 (the accept
	// path fell behind) nor 1000 (the bare publish had an error).
	if r.Summary.CostComparedAt != 300 || r.Summary.CPURatioToBarePublish != 2 {
		t.Fatalf("compared at %d, ratio %v", r.Summary.CostComparedAt, r.Summary.CPURatioToBarePublish)
	}
}
