package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kafkakit/kit/harness/child"
)

// process is one service binary the harness runs, restartable on the same
// port, environment and data. child supervises each run; process keeps what
// outlives a run: the command, and the output across restarts.
type process struct {
	name   string
	bin    string
	env    []string
	url    string
	tee    io.Writer
	output *child.Output

	mu   sync.Mutex
	proc *child.Process // the current or last run; nil before the first
}

// maxLog bounds what is kept of a service's output, printed when a scenario
// fails; the oldest is dropped first.
const maxLog = 4 << 20

func newProcess(name, bin string, env []string, url string, tee io.Writer) *process {
	return &process{name: name, bin: bin, env: env, url: url, tee: tee, output: child.NewOutput(maxLog)}
}

func (p *process) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc != nil && !p.proc.Exited() {
		return fmt.Errorf("%s is already running", p.name)
	}
	proc, err := child.Start(child.Spec{
		Name: p.name, Path: p.bin, Env: append(os.Environ(), p.env...),
		LogPrefix: fmt.Sprintf("%-20s| ", p.name), Output: p.output,
	}, child.NewLog(p.tee))
	if err != nil {
		return err
	}
	p.proc = proc
	return nil
}

// waitReady polls /readyz until it answers 200, the process exits or ctx ends.
func (p *process) waitReady(ctx context.Context) error {
	_, exited := p.running()
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
			return fmt.Errorf("%s exited before it was ready:\n%s", p.name, p.output.String())
		case <-ctx.Done():
			return fmt.Errorf("%s not ready at %s (last answer: %s): %w", p.name, p.url, last, ctx.Err())
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// stop sends sig to the process and waits for it to exit, killing it once
// grace has passed.
func (p *process) stop(sig syscall.Signal, grace time.Duration) error {
	p.mu.Lock()
	proc := p.proc
	p.mu.Unlock()
	if proc == nil {
		return nil
	}
	ctx, cancel := context.WithTimeoutCause(context.Background(), grace, fmt.Errorf("not stopped within %s", grace))
	defer cancel()
	return proc.Stop(ctx, sig)
}

// running reports whether the process is up; exited is closed when it dies.
func (p *process) running() (pid int, exited <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc == nil || p.proc.Exited() {
		return 0, nil
	}
	return p.proc.Pid(), p.proc.Done()
}

var errNotSpawned = errors.New("the harness did not start this service; it cannot stop or restart it")
