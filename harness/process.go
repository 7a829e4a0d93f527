package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// process is one service binary the harness runs, restartable on the same
// port, environment and data.
type process struct {
	name string
	bin  string
	env  []string
	url  string
	tee  io.Writer

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	log    lineBuffer
}

func (p *process) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && !closed(p.exited) {
		return fmt.Errorf("%s is already running", p.name)
	}
	cmd := exec.Command(p.bin)
	cmd.Env = append(os.Environ(), p.env...)
	out := io.Writer(&p.log)
	if p.tee != nil {
		out = io.MultiWriter(&p.log, prefixWriter{p.name, p.tee})
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	p.cmd, p.exited = cmd, exited
	return nil
}

// waitReady polls /readyz until it answers 200, the process exits or ctx ends.
func (p *process) waitReady(ctx context.Context) error {
	p.mu.Lock()
	exited := p.exited
	p.mu.Unlock()
	var last string
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.url+"/readyz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = strings.TrimSpace(string(body))
		} else if ctx.Err() == nil || last == "" {
			// A request cut short by ctx's own end says nothing about the
			// service: keep what it answered before.
			last = err.Error()
		}
		select {
		case <-exited:
			return fmt.Errorf("%s exited before it was ready:\n%s", p.name, p.log.String())
		case <-ctx.Done():
			return fmt.Errorf("%s not ready at %s (last answer: %s): %w", p.name, p.url, last, ctx.Err())
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// stop sends sig and waits for the process to exit (SIGKILL after grace).
func (p *process) stop(sig syscall.Signal, grace time.Duration) error {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("%s did not stop within %s and was killed", p.name, grace)
	}
	return nil
}

// running reports whether the process is up; exited is closed when it dies.
func (p *process) running() (pid int, exited <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || closed(p.exited) {
		return 0, nil
	}
	return p.cmd.Process.Pid, p.exited
}

func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// lineBuffer keeps a process's output for printing when a scenario fails.
type lineBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// maxLog bounds what is kept per service; the oldest half is dropped first.
const maxLog = 4 << 20

func (b *lineBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len()+len(p) > maxLog {
		keep := b.buf.Bytes()[b.buf.Len()/2:]
		b.buf = *bytes.NewBuffer(append([]byte("…(earlier output dropped)\n"), keep...))
	}
	return b.buf.Write(p)
}

func (b *lineBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// prefixWriter tags each write with the service name.
type prefixWriter struct {
	name string
	w    io.Writer
}

func (p prefixWriter) Write(b []byte) (int, error) {
	var out bytes.Buffer
	for _, line := range bytes.SplitAfter(b, []byte("\n")) {
		if len(line) > 0 {
			fmt.Fprintf(&out, "%-20s| %s", p.name, line)
		}
	}
	_, err := p.w.Write(out.Bytes())
	return len(b), err
}

var errNotSpawned = errors.New("the harness did not start this service; it cannot stop or restart it")
