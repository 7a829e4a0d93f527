// Package child runs the processes the harness and the load runner start —
// the services, the Kafka and ZooKeeper JVMs, the PostgreSQL server, the
// load runner's embedded broker — each in a process group of its own that
// dies with its parent, its output prefixed line by line into a shared log
// and its last lines kept to explain a failed start or a failed scenario.
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
	tail *Output
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
	// LogPrefix starts each line in Log; "Name: " when empty.
	LogPrefix string
	// Output keeps the end of what the process prints; a new 16 KB one when
	// nil. A service restarted on its port passes the same one again, so
	// that its log reads across the restarts.
	Output *Output
	// Stdin, when not nil, is the process's standard input (an *os.File is
	// handed over as it is); nil reads nothing (/dev/null).
	Stdin io.Reader
}

// Start launches spec. Its stdout and stderr go, line by line and prefixed
// (LogPrefix), to log, and the end is kept in its Output so that a
// failed start can say why.
func Start(spec Spec, log *Log) (*Process, error) {
	p := &Process{name: spec.Name, tail: spec.Output, done: make(chan struct{})}
	if p.tail == nil {
		p.tail = NewOutput(16 << 10)
	}
	prefix := spec.LogPrefix
	if prefix == "" {
		prefix = spec.Name + ": "
	}
	out := io.MultiWriter(p.tail, &prefixWriter{prefix: prefix, w: log})
	p.cmd = exec.Command(spec.Path, spec.Args...)
	p.cmd.Dir = spec.Dir
	p.cmd.Env = spec.Env
	p.cmd.Stdin = spec.Stdin
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

// Pid is the process's id (also its process group's).
func (p *Process) Pid() int { return p.cmd.Process.Pid }

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

// Output is what the process printed, as far as its Output keeps it.
func (p *Process) Output() string { return p.tail.String() }

// ExitError describes an unexpected exit, with the tail of the output,
// which is where the JVM, log4j and PostgreSQL put the reason.
func (p *Process) ExitError() error {
	return fmt.Errorf("%s exited during start-up (%v); last output:\n%s", p.name, p.Err(), p.Tail(60))
}

// Stop sends sig to the process group (SIGTERM lets a JVM run its shutdown
// hooks; PostgreSQL's fast shutdown is SIGINT), and SIGKILL once StopGrace
// has passed or ctx is done. It returns once the process has been reaped,
// with an error when it had to be killed.
func (p *Process) Stop(ctx context.Context, sig syscall.Signal) error {
	if p.Exited() {
		return nil
	}
	pid := p.cmd.Process.Pid
	signalGroup(pid, sig)
	grace := time.NewTimer(StopGrace)
	defer grace.Stop()
	var why string
	select {
	case <-p.done:
		return nil
	case <-grace.C:
		why = StopGrace.String()
	case <-ctx.Done():
		why = fmt.Sprint(context.Cause(ctx))
	}
	signalGroup(pid, syscall.SIGKILL)
	<-p.done
	if sig == syscall.SIGKILL {
		return nil
	}
	return fmt.Errorf("%s did not stop on %v (%s) and was killed", p.name, sig, why)
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

// Output keeps the last bytes written to it, safe for concurrent use.
type Output struct {
	mu      sync.Mutex
	max     int
	b       []byte
	dropped bool
}

// NewOutput keeps the last max bytes.
func NewOutput(max int) *Output { return &Output{max: max} }

func (t *Output) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, b...)
	if over := len(t.b) - t.max; over > 0 {
		// Drop at least a quarter at once, so that a chatty process does
		// not move the whole buffer on every write.
		over = max(over, t.max/4)
		t.b = append(t.b[:0], t.b[over:]...)
		t.dropped = true
	}
	return len(b), nil
}

// String is what is kept, starting with a note when earlier output was dropped.
func (t *Output) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.dropped {
		return "…(earlier output dropped)\n" + string(t.b)
	}
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
