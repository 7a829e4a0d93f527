package perf

import (
	"sync"
	"testing"
)

// Ten goroutines per op are counted as at least ten (the runtime may start
// its own beside them, never fewer).
func TestGoroutinesCountsWhatTheOpsStarted(t *testing.T) {
	started := goroutinesCreated()
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go wg.Done()
	}
	wg.Wait()
	if got := goroutinesCreated() - started; got < 10 {
		t.Errorf("10 goroutines started, counted %d", got)
	}
}
