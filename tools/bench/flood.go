package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Flood is the sign-in flood: many anonymous sign-ins at once, with
// unknown usernames and the longest passwords, while a signed-in customer
// goes on using the API.
type Flood struct {
	Workers  int            `json:"workers"`
	Seconds  float64        `json:"seconds"`
	Answers  map[string]int `json:"answers"` // sign-in answers by status
	Customer Stats          `json:"customer"`
	// GatewayPeakRSSMiB is gateway's peak resident memory (a fresh system:
	// the flood's peak).
	GatewayPeakRSSMiB float64 `json:"gatewayPeakRssMiB"`
}

func (f Flood) String() string {
	return fmt.Sprintf("Sign-in flood: %d anonymous sign-ins at a time for %.0f s (unknown usernames, 128-character passwords), answers %v; gateway's peak RSS %.0f MiB; meanwhile a signed-in customer's GET /user/me: %d sent, %d errors, p50 %.1f ms, p99 %.1f ms, max %.1f ms %s.",
		f.Workers, f.Seconds, f.Answers, f.GatewayPeakRSSMiB, f.Customer.Sent, f.Customer.Errors, f.Customer.P50, f.Customer.P99, f.Customer.Max, f.Customer.FirstError)
}

// signInFlood runs workers sign-in loops for d, and a customer's GET
// /user/me at 20/s beside them.
func (s *system) signInFlood(workers int, d time.Duration) Flood {
	f := Flood{Workers: workers, Seconds: d.Seconds(), Answers: map[string]int{}}
	var mu sync.Mutex
	stop := time.Now().Add(d)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for time.Now().Before(stop) {
				status := s.anonymousSignIn()
				mu.Lock()
				f.Answers[status]++
				mu.Unlock()
			}
		})
	}
	var lat []time.Duration
	var errCount atomic.Int64
	var firstErr string
	tok := s.users[0].token
	n, _ := offer(20, d, func(int, time.Time) {
		start := time.Now()
		if err := s.call("GET", "/user/me", tok, nil, http.StatusOK, nil); err != nil {
			if errCount.Add(1) == 1 {
				firstErr = err.Error()
			}
			return
		}
		mu.Lock()
		lat = append(lat, time.Since(start))
		mu.Unlock()
	})
	wg.Wait()
	f.Customer = statsOf(lat)
	f.Customer.Sent, f.Customer.Errors, f.Customer.FirstError = n, int(errCount.Load()), firstErr
	if u, ok := s.usage()["gateway"]; ok {
		f.GatewayPeakRSSMiB = round(float64(u.peakRSS)/1024, 1)
	}
	return f
}

// anonymousSignIn is one sign-in for a username nobody has, with a
// 128-character password; it returns the answer's status (or "error").
func (s *system) anonymousSignIn() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	body := fmt.Sprintf(`{"username":"nobody-%s","password":%q}`, hex.EncodeToString(b), strings.Repeat("p", 128))
	req, _ := http.NewRequest(http.MethodPost, s.gateway+"/user/sign-in", bytes.NewReader([]byte(body)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return "error"
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return fmt.Sprint(resp.StatusCode)
}
