package main

import (
	"context"
	"sync"
	"time"

	"github.com/kafkakit/kit/services/platform/tail"
)

// FlowTails runs the event flow's own tails — every topic but orders.status,
// whose tail always runs — only while someone watches the flow, and for
// its idle time after the last watcher left. Each tail is a fetch loop per
// partition woken by every record: under load they cost the service a good
// share of its CPU, and most of the time nobody looks. A tail started again resumes
// where it stopped, or at the recent records the flow shows if that is
// further on.
type FlowTails struct {
	idle time.Duration

	mu        sync.Mutex
	tails     []*tail.Tail    // what Run was given
	parent    context.Context // Run's
	watchers  int
	stop      context.CancelFunc // of the running tails, nil when stopped
	running   sync.WaitGroup
	idleTimer *time.Timer
}

// NewFlowTails returns the runner of the flow's tails, which keeps them
// running for idle after the last watcher left. Hand its Watch to NewFlow,
// and the tails (which feed that flow) to Run.
func NewFlowTails(idle time.Duration) *FlowTails { return &FlowTails{idle: idle} }

// Run holds the lifetime of tails, which run while the flow is watched:
// they stop when ctx ends, at the latest. The tails are given here, not to
// NewFlowTails, because they feed the flow that NewFlow built with Watch.
func (f *FlowTails) Run(ctx context.Context, tails ...*tail.Tail) error {
	f.mu.Lock()
	f.tails, f.parent = tails, ctx
	f.mu.Unlock()
	<-ctx.Done()
	f.mu.Lock()
	if f.stop != nil {
		f.stop()
		f.stop = nil
	}
	f.mu.Unlock()
	f.running.Wait()
	return nil
}

// Watch starts the tails if they are stopped; release says the watcher left.
func (f *FlowTails) Watch() (release func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.watchers++
	if f.idleTimer != nil {
		f.idleTimer.Stop()
		f.idleTimer = nil
	}
	if f.stop == nil && f.parent != nil && f.parent.Err() == nil {
		ctx, stop := context.WithCancel(f.parent)
		f.stop = stop
		for _, t := range f.tails {
			f.running.Go(func() { _ = t.Run(ctx) })
		}
	}
	var once sync.Once
	return func() { once.Do(f.release) }
}

func (f *FlowTails) release() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.watchers--
	if f.watchers > 0 || f.stop == nil {
		return
	}
	f.idleTimer = time.AfterFunc(f.idle, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.watchers == 0 && f.stop != nil {
			f.stop()
			f.stop = nil
		}
	})
}

// Running reports whether the tails run.
func (f *FlowTails) Running() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stop != nil
}
