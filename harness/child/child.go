// Package child runs the long-lived helper processes the harness starts
// beside the services — the Kafka and ZooKeeper JVMs, the PostgreSQL
// server — each in a process group of its own that dies with the harness,
// its output prefixed line by line into a shared log and its last lines
// kept to explain a failed start.
package child

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// StopGrace is how long a process gets to shut down after its stop signal
// before it is killed. The brokers and PostgreSQL stop in well under a
// second here; anything near this long is a hang worth cutting short.
const StopGrace = 20 * time.Second

// Process is one running child and the end of its output.
type Process struct {
	name string
	cmd  *exec.Cmd
	tail *tailBuffer
	done chan struct{} // closed once the process has exited and been reaped
	err  error         // the result of Wait, read only after done is closed
}

// Spec says what to run.
type Spec struct {
	// Name prefixes each line of output in Log ("kafka-1: ...") and names
	// the process in errors.
	Name string
	Path string
	Args []string
	// Dir is the working directory; Env, when not nil, the whole
	// environment.
	Dir string
	Env []string
	// Credential, when not nil, runs the process as another user (as root,
	// PostgreSQL refuses to run otherwise).
	Credential *syscall.Credential
}

// Start launches spec. Its stdout and stderr go, line by line and prefixed
// with its name, to log, and the last few kilobytes are kept so that a
// failed start can say why.
func Start(spec Spec, log *Log) (*Process, error) {
	p := &Process{name: spec.Name, tail: &tailBuffer{max: 16 << 10}, done: make(chan struct{})}
	out := io.MultiWriter(p.tail, &prefixWriter{prefix: spec.Name + ": ", w: log})
	p.cmd = exec.Command(spec.Path, spec.Args...)
	p.cmd.Dir = spec.Dir
	p.cmd.Env = spec.Env
	p.cmd.Stdout = out
	p.cmd.Stderr = out
	p.cmd.SysProcAttr = sysProcAttr()
	p.cmd.SysProcAttr.Credential = spec.Credential
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Done is closed once the process has ended.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err is how the process ended (Wait's result); nil while it runs.
func (p *Process) Err() error {
	if !p.Exited() {
		return nil
	}
	return p.err
}

// Tail is the last n lines of the process's output.
func (p *Process) Tail(n int) string { return LastLines(p.tail.String(), n) }

// ExitError describes an unexpected exit, with the tail of the output,
// which is where the JVM, log4j and PostgreSQL put the reason.
func (p *Process) ExitError() error {
	return fmt.Errorf("%s exited during start-up (%v); last output:\n%s", p.name, p.Err(), p.Tail(60))
}

// Stop sends sig to the process group (SIGTERM lets a JVM run its shutdown
// hooks; PostgreSQL's fast shutdown is SIGINT), and SIGKILL once StopGrace
// has passed or ctx is done. It returns once the process has been reaped.
func (p *Process) Stop(ctx context.Context, sig syscall.Signal) {
	if p.Exited() {
		return
	}
	pid := p.cmd.Process.Pid
	signalGroup(pid, sig)
	grace := time.NewTimer(StopGrace)
	defer grace.Stop()
	select {
	case <-p.done:
		return
	case <-grace.C:
	case <-ctx.Done():
	}
	signalGroup(pid, syscall.SIGKILL)
	<-p.done
}

// Kill kills the process group at once (SIGKILL: no shutdown hooks, as in a
// crash) and returns once the process has been reaped.
func (p *Process) Kill() {
	if p.Exited() {
		return
	}
	signalGroup(p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// WaitUntil polls ready until it reports true, p exits (an error carrying
// p's last output) or ctx is done. Polling keeps start-up as fast as the
// process allows instead of guessing a sleep.
func (p *Process) WaitUntil(ctx context.Context, what string, interval time.Duration, ready func(context.Context) bool) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		attempt, cancel := context.WithTimeout(ctx, 2*time.Second)
		ok := ready(attempt)
		cancel()
		if ok {
			return nil
		}
		select {
		case <-p.done:
			return p.ExitError()
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w; last output:\n%s", what, ctx.Err(), p.Tail(20))
		case <-tick.C:
		}
	}
}

// signalGroup signals the process group the child leads, falling back to
// the child alone.
func signalGroup(pid int, sig syscall.Signal) {
	if err := syscall.Kill(-pid, sig); err != nil {
		_ = syscall.Kill(pid, sig)
	}
}

// Log serialises writes from several processes' output pipes onto one
// writer, which need not be safe for concurrent use.
type Log struct {
	mu sync.Mutex
	w  io.Writer
}

// NewLog writes to w; nil discards.
func NewLog(w io.Writer) *Log {
	if w == nil {
		w = io.Discard
	}
	return &Log{w: w}
}

func (l *Log) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = l.w.Write(b) // a failing log sink must not stall a child's pipe
	return len(b), nil
}

// prefixWriter writes whole lines, each starting with prefix, so that
// interleaved output stays readable. Exec calls it from one goroutine at a
// time (stdout and stderr share it).
type prefixWriter struct {
	prefix string
	w      io.Writer
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			break
		}
		line := make([]byte, 0, len(p.prefix)+i+1)
		line = append(append(line, p.prefix...), p.buf[:i+1]...)
		_, _ = p.w.Write(line)
		p.buf = p.buf[i+1:]
	}
	// A runaway line without a newline is flushed rather than grown forever.
	if len(p.buf) > 64<<10 {
		_, _ = p.w.Write(append([]byte(p.prefix), append(p.buf, '\n')...))
		p.buf = nil
	}
	return len(b), nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, b...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(b), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// LastLines returns at most n trailing lines of s.
func LastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
