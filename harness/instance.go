package harness

import (
	"context"
	"fmt"
	"strconv"
	"syscall"
	"time"
)

// Instance is one copy of a service: a process the harness spawned, which
// can be stopped, killed and restarted on its own port and data, or a
// service already running elsewhere (URL only).
type Instance struct {
	service string
	n       int // counted from 1
	url     string
	proc    *process // nil when not spawned by the harness
}

// Service is the service this is an instance of, such as orders-processor.
func (in *Instance) Service() string { return in.service }

// N is the instance's number, counted from 1.
func (in *Instance) N() int { return in.n }

// Name is the instance's name in logs: the service's name, with "#n" when
// it runs more than once (orders-processor#2).
func (in *Instance) Name() string {
	if in.proc != nil {
		return in.proc.name
	}
	return in.service
}

// label is the name of instance in.n of count.
func (in *Instance) label(count int) string {
	if count == 1 {
		return in.service
	}
	return in.service + "#" + strconv.Itoa(in.n)
}

// URL is the instance's base URL, such as http://127.0.0.1:8181.
func (in *Instance) URL() string { return in.url }

// PID is the instance's process id, or 0 when it is not running (or not
// spawned by the harness).
func (in *Instance) PID() int {
	if in.proc == nil {
		return 0
	}
	pid, _ := in.proc.running()
	return pid
}

// Exited returns a channel closed when the instance's current process ends,
// or nil when it is not running (or not spawned by the harness).
func (in *Instance) Exited() <-chan struct{} {
	if in.proc == nil {
		return nil
	}
	_, exited := in.proc.running()
	return exited
}

// Stop stops the instance gracefully (SIGTERM), as an orchestrator would,
// and returns once its process is gone.
func (in *Instance) Stop() error { return in.signal(syscall.SIGTERM) }

// Kill kills the instance abruptly (SIGKILL): no shutdown, no final commit.
func (in *Instance) Kill() error { return in.signal(syscall.SIGKILL) }

func (in *Instance) signal(sig syscall.Signal) error {
	if in.proc == nil {
		return fmt.Errorf("%s: %w", in.Name(), errNotSpawned)
	}
	return in.proc.stop(sig, 15*time.Second)
}

// Restart starts the stopped instance again on the same port and data, and
// waits until it is ready.
func (in *Instance) Restart(ctx context.Context) error {
	if in.proc == nil {
		return fmt.Errorf("%s: %w", in.Name(), errNotSpawned)
	}
	if err := in.proc.start(); err != nil {
		return err
	}
	return in.waitReady(ctx)
}

// Logs returns what the instance has printed, across its restarts.
func (in *Instance) Logs() string {
	if in.proc == nil {
		return ""
	}
	return in.proc.output.String()
}

func (in *Instance) waitReady(ctx context.Context) error {
	p := in.proc
	if p == nil {
		p = &process{name: in.service, url: in.url} // running elsewhere
	}
	return p.waitReady(ctx)
}
