package kafka

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

// stopGrace is how long a JVM gets to shut down after SIGTERM before it is
// killed. A single broker stops in well under a second here; anything
// near this long is a hang worth cutting short.
const stopGrace = 20 * time.Second

// process is one JVM child (ZooKeeper or Kafka) and the end of its output.
type process struct {
	name string
	cmd  *exec.Cmd
	tail *tailBuffer
	done chan struct{} // closed once the process has exited and been reaped
	err  error         // the result of Wait, read only after done is closed
}

// startProcess launches java with args. Its stdout and stderr go, line by
// line and prefixed with name, to log, and the last few kilobytes are kept
// so that a failed start can say why.
func startProcess(name, java string, args []string, dir string, log *lockedWriter) (*process, error) {
	p := &process{name: name, tail: newTailBuffer(16 << 10), done: make(chan struct{})}
	out := io.MultiWriter(p.tail, &prefixWriter{prefix: name + ": ", w: log})
	p.cmd = exec.Command(java, args...)
	p.cmd.Dir = dir
	p.cmd.Stdout = out
	p.cmd.Stderr = out
	p.cmd.SysProcAttr = sysProcAttr()
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("broker kafka: start %s: %w", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// exitError describes an unexpected exit, with the tail of the output,
// which is where the JVM and log4j put the reason.
func (p *process) exitError() error {
	return fmt.Errorf("broker kafka: %s exited during start-up (%v); last output:\n%s",
		p.name, p.err, lastLines(p.tail.String(), 60))
}

// stop sends SIGTERM to the process group, so the JVM runs its shutdown
// hooks (Kafka closes its ZooKeeper session and flushes its logs), and
// SIGKILL once stopGrace has passed or ctx is done. It returns once the
// process has been reaped.
func (p *process) stop(ctx context.Context) {
	if p.exited() {
		return
	}
	pid := p.cmd.Process.Pid
	signalGroup(pid, syscall.SIGTERM)
	grace := time.NewTimer(stopGrace)
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

// signalGroup signals the process group the child leads, falling back to
// the child alone.
func signalGroup(pid int, sig syscall.Signal) {
	if err := syscall.Kill(-pid, sig); err != nil {
		_ = syscall.Kill(pid, sig)
	}
}

// lockedWriter serialises writes from the two processes' output pipes onto
// the caller's writer, which need not be safe for concurrent use.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = l.w.Write(b) // a failing log sink must not stall the JVM's pipe
	return len(b), nil
}

// prefixWriter writes whole lines, each starting with prefix, so that
// ZooKeeper's and Kafka's interleaved output stays readable. Exec calls it
// from one goroutine at a time (stdout and stderr share it).
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

func newTailBuffer(max int) *tailBuffer { return &tailBuffer{max: max} }

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

// lastLines returns at most n trailing lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
