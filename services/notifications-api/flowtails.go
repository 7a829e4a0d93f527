package main

import (
	"context"
	"sync"
	"time"

	"github.com/kafkakit/kit/services/platform/tail"
)

// FlowTails runs the event flow's own tails — every topic but orders.status,
// whose tail always runs — only while someone watches the flow, and for
// Idle after the last watcher left. Each tail is a fetch loop per partition
// woken by every record: under load they cost the service a good share of
// its CPU, and most of the time nobody looks. A tail started again resumes
// where it stopped, or at the recent records the flow shows if that is
// further on.
type FlowTails struct {
	Tails []*tail.Tail
	Idle  time.Duration

	mu       sync.Mutex
	parent   context.Context
	watchers int
	stop     context.CancelFunc // of the running tails, nil when stopped
	running  sync.WaitGroup
	idle     *time.Timer
}

// Run holds the tails' lifetime: they stop when ctx ends, at the latest.
func (f *FlowTails) Run(ctx context.Context) error {
	f.mu.Lock()
	f.parent = ctx
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
	if f.idle != nil {
		f.idle.Stop()
		f.idle = nil
	}
	if f.stop == nil && f.parent != nil && f.parent.Err() == nil {
		ctx, stop := context.WithCancel(f.parent)
		f.stop = stop
		for _, t := range f.Tails {
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
	f.idle = time.AfterFunc(f.Idle, func() {
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
