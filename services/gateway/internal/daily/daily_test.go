package daily

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestCount(t *testing.T) {
	n, full := Count{}.Take(2)
	assert.False(t, full)
	n, full = n.Take(2)
	assert.False(t, full)
	assert.Equal(t, 2, n.N)
	n, full = n.Take(2)
	assert.True(t, full, "the third of two")
	assert.Equal(t, 2, n.N, "nothing counted past the bound")
	n, full = Count{N: 1000}.Take(0)
	assert.False(t, full, "zero: no bound")
	assert.Equal(t, 1001, n.N)

	assert.Equal(t, "2026-11-29", Day(time.Date(2026, 11, 30, 5, 0, 0, 0, time.FixedZone("ICT", 7*3600))), "a UTC day")
	assert.Equal(t, 15*time.Hour, UntilTomorrow(time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)), "from 09:00 UTC")
}
