package runner

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is one child process (an app or a daprd) whose output is prefixed and
// whose last lines are kept for error messages.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error // set before done is closed
	// started is when it was started: the supervisor tells a crash at
	// start from one after a healthy run by it.
	started time.Time

	mu   sync.Mutex
	tail []string
	// initFailure is the first line in which daprd reported a component it
	// could not initialize and went on without (name resolution among
	// them: then nothing can invoke its app, though it reports healthy).
	initFailure string
}

const tailLines = 25

// startProc starts argv in dir with env, copying each output line to out as
// "name | line". The child gets its own process group, so stopping it also
// stops anything it started, and dies with the runner (Pdeathsig).
func startProc(name, dir string, argv, env []string, out io.Writer, outMu *sync.Mutex) (*proc, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{}), started: time.Now()}
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		pw.Close()
		return nil, fmt.Errorf("start %s (%s): %w", name, strings.Join(argv, " "), err)
	}
	prefix := fmt.Sprintf("%-22s| ", name)
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.tail = append(p.tail, line)
			if p.initFailure == "" && strings.Contains(line, "INIT_COMPONENT_FAILURE") {
				p.initFailure = line
			}
			if len(p.tail) > tailLines {
				p.tail = p.tail[len(p.tail)-tailLines:]
			}
			p.mu.Unlock()
			outMu.Lock()
			fmt.Fprintln(out, prefix+line)
			outMu.Unlock()
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	go func() {
		err := cmd.Wait()
		pw.Close()
		<-copied
		p.err = err
		close(p.done)
	}()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// failedInit is the line in which the process reported a component it
// could not initialize, or "".
func (p *proc) failedInit() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.initFailure
}

// lastLines returns the last lines the process printed.
func (p *proc) lastLines() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.tail, "\n")
}

// signal sends sig to the whole process group.
func (p *proc) signal(sig syscall.Signal) {
	if p.cmd.Process != nil {
		_ = syscall.Kill(-p.cmd.Process.Pid, sig)
	}
}

// stop asks politely (SIGTERM), then insists (SIGKILL) after grace.
func (p *proc) stop(grace time.Duration) {
	if p.exited() {
		p.signal(syscall.SIGKILL) // stray children of a dead leader
		return
	}
	p.signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.signal(syscall.SIGKILL)
		<-p.done
	}
	p.signal(syscall.SIGKILL)
}

// kill is kill -9 of the group, for fault injection.
func (p *proc) kill() {
	p.signal(syscall.SIGKILL)
	<-p.done
}

func environ(extra map[string]string) []string {
	env := os.Environ()
	for k, v := range extra {
		env = append(env, k+"="+v)
	}
	return env
}
