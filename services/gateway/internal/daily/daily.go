// Package daily counts things per UTC day. Identity caps the codes a
// number gets, purchase the voucher texts; both keep a Count per day.
package daily

import "time"

// Count is how many of something happened on one day.
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

// Day names the UTC day of now.
func Day(now time.Time) string { return now.UTC().Format("2006-01-02") }

// UntilTomorrow is how long until the next UTC day starts.
func UntilTomorrow(now time.Time) time.Duration {
	now = now.UTC()
	return time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC).Sub(now)
}
