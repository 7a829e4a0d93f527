package main

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kafkakit/kit/services/platform/tail"
)

func TestFlowTailsRunOnlyWhileWatched(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// A tail of a broker that is not there: it retries until stopped.
	stuck := &tail.Tail{Brokers: []string{"127.0.0.1:1"}, Topic: "t", Start: func(first, end int64) int64 { return first },
		Log: slog.New(slog.DiscardHandler), Handle: func(kafka.Message) {}}
	f := NewFlowTails(10 * time.Millisecond)
	done := make(chan error)
	go func() { done <- f.Run(ctx, stuck) }()
	flow := NewFlow(10, nil, f.Watch)
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.After(30 * time.Second)
		for !cond() {
			select {
			case <-deadline:
				t.Fatalf("gave up waiting until %s", what)
			case <-time.After(time.Millisecond):
			}
		}
	}
	waitUntil("Run holds the lifetime", func() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.parent != nil })
	if f.Running() {
		t.Fatal("the flow's tails run with nobody watching")
	}
	_, leave1 := flow.Subscribe()
	_, leave2 := flow.Subscribe()
	if !f.Running() {
		t.Fatal("the flow's tails do not run while someone watches")
	}
	leave1()
	leave1() // leaving twice counts once
	if !f.Running() {
		t.Error("the tails stopped while a watcher stayed")
	}
	leave2()
	waitUntil("the tails stop after the idle time", func() bool { return !f.Running() })
	_, leave3 := flow.Subscribe()
	if !f.Running() {
		t.Error("a new watcher did not start the tails again")
	}
	leave3()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
