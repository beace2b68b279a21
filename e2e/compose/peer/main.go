// Command peer is the Compose test's other party on the Compose network
// (image vouchers/compose-peer:dev, built by `make test-compose`):
//
//	peer serve ADDR   a customer's webhook receiver: records every POST
//	                  (path, headers, body) and answers 200; GET /received
//	                  lists what it recorded, for the test on the host.
//	peer probe JSON   tries each call of a JSON list [{name, method, url,
//	                  header}] from inside the network, as an attacker on it
//	                  would, and prints [{name, status, error}]: the status,
//	                  or why no answer came (refused, timed out).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: peer serve ADDR | peer probe JSON")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2])
	case "probe":
		err = probe(os.Args[2], os.Stdout)
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "peer:", err)
		os.Exit(1)
	}
}

// Delivery is one webhook as it arrived.
type Delivery struct {
	Path   string      `json:"path"`
	Header http.Header `json:"header"`
	Body   string      `json:"body"`
	At     time.Time   `json:"at"` // when it arrived
}

func serve(addr string) error {
	var (
		mu   sync.Mutex
		seen []Delivery
	)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /received", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(seen)
	})
	mux.HandleFunc("POST /", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		seen = append(seen, Delivery{Path: r.URL.Path, Header: r.Header, Body: string(b), At: time.Now()})
		mu.Unlock()
	})
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	// As PID 1 it gets no signal it does not handle: docker stop would
	// wait its whole timeout.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Call is one call of a probe.
type Call struct {
	Name   string            `json:"name"`
	Method string            `json:"method"`
	URL    string            `json:"url"`
	Header map[string]string `json:"header"`
	Body   string            `json:"body"`
}

// Outcome is what one call got: a status, or the error instead.
type Outcome struct {
	Name   string `json:"name"`
	Status int    `json:"status"`
	Error  string `json:"error,omitempty"`
}

func probe(spec string, out io.Writer) error {
	var calls []Call
	if err := json.Unmarshal([]byte(spec), &calls); err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	c := &http.Client{Timeout: 3 * time.Second}
	outcomes := make([]Outcome, 0, len(calls))
	for _, call := range calls {
		o := Outcome{Name: call.Name}
		req, err := http.NewRequest(call.Method, call.URL, strings.NewReader(call.Body))
		if err == nil {
			for k, v := range call.Header {
				req.Header.Set(k, v)
			}
			var resp *http.Response
			if resp, err = c.Do(req); err == nil {
				o.Status = resp.StatusCode
				resp.Body.Close()
			}
		}
		if err != nil {
			o.Error = err.Error()
		}
		outcomes = append(outcomes, o)
	}
	return json.NewEncoder(out).Encode(outcomes)
}
