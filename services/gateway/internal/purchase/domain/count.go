package domain

import "time"

// Count is how many voucher codes went to one number on one day.
type Count struct {
	N int
}

// Take counts one more unless max is reached (zero: no bound).
func (n Count) Take(max int) (next Count, full bool) {
	if max > 0 && n.N >= max {
		return n, true
	}
	n.N++
	return n, false
}

// Day names the UTC day of now, for daily counts.
func Day(now time.Time) string { return now.UTC().Format("2006-01-02") }

// UntilTomorrow is how long until the next UTC day starts.
func UntilTomorrow(now time.Time) time.Duration {
	now = now.UTC()
	return time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC).Sub(now)
}
