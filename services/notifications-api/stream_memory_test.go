//go:build !race

package main

import "testing"

// The race detector grows every goroutine's stack and instruments every
// allocation, so these figures mean something only without it
// (stream_race_test.go says so when -race skips them).

// An idle stream used to cost ~28 KB: the handler's goroutine (8 KB of
// stack), net/http's background reader, its 4 KB read and 6 KB of write
// buffers. Detached, it costs its socket, two small goroutines and what
// following an order takes. The bound is loose (under 12 KB measured 11):
// what it guards against is net/http's buffers staying reachable.
func TestAnIdleStreamCostsItsProcessUnder16KB(t *testing.T) {
	stack, heap, _ := idleStreams(t, 200, func() {}, nil)
	if stack+heap > 16<<10 {
		t.Errorf("an idle stream costs %.0f B of stack and %.0f B of heap, want under 16 KB together", stack, heap)
	}
}

// Sending a status to every stream must not grow each stream's goroutine
// stack: 19,000 streams growing from 4 to 8 KB at once is 76 MB of RSS that
// stays after a GC shrinks them back (the untraced push's span did that).
func TestDeliveringAStatusGrowsNoStreamsStack(t *testing.T) {
	var grown float64
	idleStreams(t, 200, func() {}, func(_, _, _, deliveryStack float64) { grown = deliveryStack })
	if grown > 1024 {
		t.Errorf("delivering one status grew the stacks by %.0f B per stream, want under 1 KB", grown)
	}
}
