package runner

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"
)

// errStopped: the system is stopping, so nothing starts again.
var errStopped = errors.New("the system is stopping")

// Supervision restarts an app or a daprd that exits while the system runs,
// as an orchestrator restarts a container: the part that exited alone, on
// the same ports, with the same environment and tokens. A daprd whose app
// died keeps running: with app health checks it stops taking work for the
// app until the app answers again, then takes it again. Zero fields take
// the defaults (DefaultSupervision).
type Supervision struct {
	// FirstDelay is the wait before the first restart. It doubles with
	// each crash in a row, up to MaxDelay.
	FirstDelay time.Duration
	MaxDelay   time.Duration
	// StableAfter is how long a process must have run for its exit to
	// count as a new crash, not one more of a row: the delay starts over.
	StableAfter time.Duration
	// CrashLoopAfter is how many crashes in a row are reported as a crash
	// loop, with the process's last lines (again at each further
	// multiple). The runner never gives up: it retries every MaxDelay
	// until Ctrl-C, so a cause fixed meanwhile (a server started, a
	// binary rebuilt) brings the process back by itself.
	CrashLoopAfter int
	// HealthTimeout bounds the wait for a restarted process to answer its
	// health check; past it the runner says so and watches on.
	HealthTimeout time.Duration
}

// DefaultSupervision is what `make run` does: 1 s, 2 s, 4 s… up to 30 s,
// from 1 s again after a minute's run, a crash loop reported at the fifth
// crash in a row.
func DefaultSupervision() Supervision {
	return Supervision{FirstDelay: time.Second, MaxDelay: 30 * time.Second, StableAfter: time.Minute,
		CrashLoopAfter: 5, HealthTimeout: 2 * time.Minute}
}

func (sv Supervision) withDefaults() Supervision {
	d := DefaultSupervision()
	if sv.FirstDelay <= 0 {
		sv.FirstDelay = d.FirstDelay
	}
	if sv.MaxDelay <= 0 {
		sv.MaxDelay = d.MaxDelay
	}
	sv.MaxDelay = max(sv.MaxDelay, sv.FirstDelay)
	if sv.StableAfter <= 0 {
		sv.StableAfter = d.StableAfter
	}
	if sv.CrashLoopAfter <= 0 {
		sv.CrashLoopAfter = d.CrashLoopAfter
	}
	if sv.HealthTimeout <= 0 {
		sv.HealthTimeout = d.HealthTimeout
	}
	return sv
}

// delay is the wait before the restart after the n-th crash in a row
// (n from 1).
func (sv Supervision) delay(n int) time.Duration {
	d := sv.FirstDelay
	for i := 1; i < n && d < sv.MaxDelay; i++ {
		d *= 2
	}
	return min(d, sv.MaxDelay)
}

// supervise watches one part of an app and starts it again each time it
// exits, until the system stops.
func (s *System) supervise(a *appRun, part Part, sv Supervision) {
	defer s.supervisors.Done()
	crashes := 0
	for {
		p := s.current(a, part)
		select {
		case <-p.done:
		case <-s.quit:
			return
		}
		select {
		case <-s.quit:
			return // stopped by Stop, which closes quit first
		default:
		}
		ran := time.Since(p.started)
		if ran >= sv.StableAfter {
			crashes = 0
		}
		// A process group can outlive its leader; what is left of it
		// might hold a port the new one needs.
		p.signal(syscall.SIGKILL)
		crashes++
		delay := sv.delay(crashes)
		s.opts.Logf("%s exited (%s) after %s; restarting it in %s (restart %d)",
			p.name, exitText(p.err), ran.Round(time.Millisecond), delay, crashes)
		for {
			if crashes%sv.CrashLoopAfter == 0 {
				s.opts.Logf("ERROR: %s is crash-looping: %d crashes in a row, each within %s of its start; retrying every %s at most until Ctrl-C\n--- last lines of %s ---\n%s",
					p.name, crashes, sv.StableAfter, sv.MaxDelay, p.name, p.lastLines())
			}
			select {
			case <-time.After(delay):
			case <-s.quit:
				return
			}
			err := s.restartPart(a, part)
			if errors.Is(err, errStopped) {
				return
			}
			if err == nil {
				break
			}
			reason := err.Error()
			if se := (*StartError)(nil); errors.As(err, &se) {
				reason = se.Reason
			}
			crashes++
			delay = sv.delay(crashes)
			s.opts.Logf("%s could not be started again (%s); trying again in %s (restart %d)", p.name, reason, delay, crashes)
		}
		s.waitBack(a, part, crashes, sv.HealthTimeout)
	}
}

// current is the process of one part of an app now.
func (s *System) current(a *appRun, part Part) *proc {
	s.mu.Lock()
	defer s.mu.Unlock()
	if part == PartDapr {
		return a.dapr
	}
	return a.app
}

// restartPart starts one part of an app again unless the system is
// stopping: Stop takes the same lock, so it either sees the new process or
// keeps it from starting.
func (s *System) restartPart(a *appRun, part Part) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return errStopped
	}
	return s.startPart(a, part)
}

// waitBack waits until a restarted part answers its health check and says
// so. A daprd that went on without a component is stopped, to be started
// again, as at start-up.
func (s *System) waitBack(a *appRun, part Part, restart int, timeout time.Duration) {
	p := s.current(a, part)
	client := &http.Client{Timeout: time.Second}
	deadline := time.After(timeout)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		if part == PartDapr && p.failedInit() != "" {
			s.opts.Logf("%s: a component failed to initialize; stopping it to start it again", p.name)
			p.kill()
			return
		}
		if partHealthy(client, a, part) {
			s.opts.Logf("%s is healthy again (restart %d, %s after its start)", p.name, restart, time.Since(p.started).Round(time.Millisecond))
			return
		}
		select {
		case <-tick.C:
		case <-p.done:
			return
		case <-s.quit:
			return
		case <-deadline:
			s.opts.Logf("%s was started again but is not healthy after %s; still watching it", p.name, timeout)
			return
		}
	}
}

// partHealthy is daprd's /v1.0/healthz for a sidecar, and for an app its
// health path (or, with no health check, its port taking connections).
func partHealthy(c *http.Client, a *appRun, part Part) bool {
	if part == PartDapr {
		return healthy(c, fmt.Sprintf("http://127.0.0.1:%d/v1.0/healthz", a.DaprHTTPPort))
	}
	if a.EnableAppHealthCheck {
		return healthy(c, fmt.Sprintf("http://127.0.0.1:%d%s", a.AppPort, orDefault(a.AppHealthCheckPath, "/healthz")))
	}
	conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(a.AppPort), time.Second)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}
