package vps

import (
	"regexp"
	"sync"
	"testing"
	"time"
)

func TestSameRequestIDNeverMakesASecondCode(t *testing.T) {
	p := New(time.Now)
	var wg sync.WaitGroup
	codes := make(chan string, 50)
	for range 50 {
		wg.Add(1)
		go func() { defer wg.Done(); codes <- p.Request("r1", "+84909123456").VoucherCode }()
	}
	wg.Wait()
	close(codes)
	first := ""
	for c := range codes {
		if first == "" {
			first = c
		}
		if c != first {
			t.Fatalf("two codes for one requestId: %s and %s", first, c)
		}
	}
	o, _ := p.Get("r1")
	if o.Calls != 50 || o.CodesIssued != 1 {
		t.Fatalf("calls %d codes %d", o.Calls, o.CodesIssued)
	}
}

func TestCodeFormat(t *testing.T) {
	if c := newCode(); !regexp.MustCompile(`^[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}$`).MatchString(c) {
		t.Fatalf("code %q", c)
	}
}
