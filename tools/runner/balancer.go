package runner

import (
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// balancer spreads TCP connections over the instances of one app, round
// robin, as an ingress or a Kubernetes Service spreads them over replicas.
// An instance that refuses the connection (killed, restarting) is skipped
// for the next one, as a Service skips a pod that is not ready.
type balancer struct {
	addr    string
	targets []string
	next    atomic.Uint64

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]bool
}

// startBalancers puts a balancer in front of the public ports of every app
// that runs several instances.
func (s *System) startBalancers() error {
	targets := map[string][]string{}
	for _, a := range s.apps {
		if a.publicPort > 0 {
			targets[a.AppID] = append(targets[a.AppID], "127.0.0.1:"+strconv.Itoa(a.publicPort))
		}
	}
	for id, t := range targets {
		if len(t) < 2 {
			continue
		}
		port, err := FreePort()
		if err != nil {
			return err
		}
		b := &balancer{addr: "127.0.0.1:" + strconv.Itoa(port), targets: t, conns: map[net.Conn]bool{}}
		ln, err := net.Listen("tcp", b.addr)
		if err != nil {
			return err
		}
		b.ln = ln
		go b.accept(ln)
		s.balancers[id] = b
		s.opts.Logf("%s: %d instances behind %s", id, len(t), b.addr)
	}
	return nil
}

func (b *balancer) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go b.relay(c)
	}
}

func (b *balancer) relay(c net.Conn) {
	var up net.Conn
	start := int(b.next.Add(1))
	for i := range b.targets {
		var err error
		if up, err = net.DialTimeout("tcp", b.targets[(start+i)%len(b.targets)], time.Second); err == nil {
			break
		}
	}
	if up == nil {
		c.Close()
		return
	}
	b.mu.Lock()
	if b.ln == nil {
		b.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	b.conns[c], b.conns[up] = true, true
	b.mu.Unlock()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	go pipe(up, c)
	go pipe(c, up)
	<-done
	b.mu.Lock()
	for _, x := range []net.Conn{c, up} {
		x.Close()
		delete(b.conns, x)
	}
	b.mu.Unlock()
}

func (b *balancer) stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ln != nil {
		b.ln.Close()
		b.ln = nil
	}
	for c := range b.conns {
		c.Close()
		delete(b.conns, c)
	}
}
