// Package perf counts what a benchmark's op costs beyond what -benchmem
// shows.
package perf

import (
	"runtime/metrics"
	"testing"
)

// Goroutines starts counting the goroutines the process starts — each a
// wake-up on the two cores the stack shares, which allocs/op does not
// count — and returns the func that reports them per op as goroutines/op.
// Call it after b.N ops.
func Goroutines(b *testing.B) (report func()) {
	started := goroutinesCreated()
	return func() {
		b.ReportMetric(float64(goroutinesCreated()-started)/float64(b.N), "goroutines/op")
	}
}

func goroutinesCreated() uint64 {
	s := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
