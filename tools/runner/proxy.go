package runner

import (
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// relay is a TCP relay of the runner's in front of one target or several.
//   - In front of a shared broker (Redis, RabbitMQ...), it lets fault tests
//     take the broker away from one system without stopping a server other
//     systems use: stop closes the listener and every relayed connection,
//     start listens again on the same port.
//   - In front of the instances of one app, it spreads connections round
//     robin, as an ingress or a Kubernetes Service spreads them over
//     replicas, and passes over an instance that refuses (killed,
//     restarting), as a Service passes over a pod that is not ready.
type relay struct {
	addr    string // 127.0.0.1:port
	targets []string
	next    atomic.Uint64

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]bool
}

// startRelay listens on a free port and relays to targets.
func startRelay(targets ...string) (*relay, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	r := &relay{addr: "127.0.0.1:" + strconv.Itoa(port), targets: targets, conns: map[net.Conn]bool{}}
	return r, r.start()
}

func (r *relay) start() error {
	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.ln = ln
	r.mu.Unlock()
	go r.accept(ln)
	return nil
}

func (r *relay) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go r.relay(c)
	}
}

func (r *relay) relay(c net.Conn) {
	up := r.dial()
	if up == nil {
		c.Close()
		return
	}
	if !r.track(c, up) {
		return
	}
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	go pipe(up, c)
	go pipe(c, up)
	<-done
	r.untrack(c, up)
}

// dial connects to the next target that answers, or returns nil.
func (r *relay) dial() net.Conn {
	start := int(r.next.Add(1))
	for i := range r.targets {
		if up, err := net.DialTimeout("tcp", r.targets[(start+i)%len(r.targets)], time.Second); err == nil {
			return up
		}
	}
	return nil
}

// track registers a relayed pair, or closes it if the relay stopped
// meanwhile.
func (r *relay) track(conns ...net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ln == nil {
		for _, c := range conns {
			c.Close()
		}
		return false
	}
	for _, c := range conns {
		r.conns[c] = true
	}
	return true
}

func (r *relay) untrack(conns ...net.Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range conns {
		c.Close()
		delete(r.conns, c)
	}
}

// stop refuses new connections and cuts the open ones.
func (r *relay) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ln != nil {
		r.ln.Close()
		r.ln = nil
	}
	for c := range r.conns {
		c.Close()
		delete(r.conns, c)
	}
}
