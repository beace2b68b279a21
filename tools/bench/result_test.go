package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestStatsOfTakesNearestRankPercentiles(t *testing.T) {
	var lat []time.Duration
	for i := 100; i >= 1; i-- { // 1..100 ms, in any order
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	s := statsOf(lat)
	assert.EqualValues(t, 50, s.P50, "p50")
	assert.EqualValues(t, 95, s.P95, "p95")
	assert.EqualValues(t, 99, s.P99, "p99")
	assert.EqualValues(t, 100, s.Max, "max")
	assert.Equal(t, Stats{}, statsOf(nil), "no latencies must give zeros")
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
	assert.Equal(t, 300, r.Summary.HighestRateP99Under50ms, "highest rate")
	// Cost is compared at the highest rate both held: not 700 (the accept
	// path fell behind) nor 1000 (the bare publish had an error).
	assert.Equal(t, 300, r.Summary.CostComparedAt, "compared at")
	assert.EqualValues(t, 2, r.Summary.CPURatioToBarePublish, "ratio")
}
