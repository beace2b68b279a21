package service

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestOneAtATimeSkipsTicksWhileAPassRuns(t *testing.T) {
	release := make(chan struct{})
	var passes atomic.Int32
	h := OneAtATime(context.Background(), time.Minute, func(context.Context) {
		passes.Add(1)
		<-release
	})
	for range 3 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/tick", nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("tick answered %d", rec.Code)
		}
	}
	close(release)
	deadline := time.Now().Add(10 * time.Second)
	for passes.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := passes.Load(); n != 1 {
		t.Fatalf("%d passes ran for three ticks during one pass", n)
	}
}

func TestDurationsNameTheBadVariable(t *testing.T) {
	var a, b time.Duration
	env := map[string]string{"A": "250ms", "B": "soon"}
	getenv := func(k string) string { return env[k] }
	if err := Durations(getenv, Duration{"A", "1s", &a}); err != nil || a != 250*time.Millisecond {
		t.Fatalf("a=%v err=%v", a, err)
	}
	if err := Durations(getenv, Duration{"C", "3s", &a}); err != nil || a != 3*time.Second {
		t.Fatalf("default: a=%v err=%v", a, err)
	}
	if err := Durations(getenv, Duration{"B", "1s", &b}); err == nil || !strings.Contains(err.Error(), "B:") {
		t.Fatalf("err %v", err)
	}
}

func TestPositiveIntsRefuseZeroAndWords(t *testing.T) {
	var n int
	env := map[string]string{"OK": "7", "ZERO": "0", "WORD": "many"}
	getenv := func(k string) string { return env[k] }
	if err := PositiveInts(getenv, PositiveInt{"OK", "1", &n}); err != nil || n != 7 {
		t.Fatalf("n=%d err=%v", n, err)
	}
	if err := PositiveInts(getenv, PositiveInt{"UNSET", "5", &n}); err != nil || n != 5 {
		t.Fatalf("default: n=%d err=%v", n, err)
	}
	for _, bad := range []string{"ZERO", "WORD"} {
		if err := PositiveInts(getenv, PositiveInt{bad, "1", &n}); err == nil || !strings.Contains(err.Error(), bad) {
			t.Fatalf("%s: %v", bad, err)
		}
	}
}
