package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// fakeFetcher hands out msgs, then blocks until ctx ends, and records commits.
type fakeFetcher struct {
	mu        sync.Mutex
	msgs      []kafka.Message
	committed map[int]int64 // partition -> offset of the last committed message
	commitErr error
}

func (f *fakeFetcher) FetchMessage(ctx context.Context) (kafka.Message, error) {
	f.mu.Lock()
	if len(f.msgs) > 0 {
		m := f.msgs[0]
		f.msgs = f.msgs[1:]
		f.mu.Unlock()
		return m, nil
	}
	f.mu.Unlock()
	<-ctx.Done()
	return kafka.Message{}, ctx.Err()
}

func (f *fakeFetcher) CommitMessages(_ context.Context, msgs ...kafka.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.commitErr != nil {
		return f.commitErr
	}
	for _, m := range msgs {
		if prev, ok := f.committed[m.Partition]; ok && m.Offset < prev {
			return fmt.Errorf("commit went backwards on partition %d: %d after %d", m.Partition, m.Offset, prev)
		}
		f.committed[m.Partition] = m.Offset
	}
	return nil
}

func (f *fakeFetcher) committedOffset(p int) (int64, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, ok := f.committed[p]
	return o, ok
}

type fakeDLQ struct {
	mu   sync.Mutex
	msgs []kafka.Message
}

func (d *fakeDLQ) WriteMessages(_ context.Context, msgs ...kafka.Message) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.msgs = append(d.msgs, msgs...)
	return nil
}

func msg(p int, off int64, key string) kafka.Message {
	return kafka.Message{Topic: "t", Partition: p, Offset: off, Key: []byte(key), Value: []byte(key)}
}

// runUntil runs c until cond holds (polled with a deadline),
// then stops it and returns Run's error.
func runUntil(t *testing.T, c *Consumer, cond func() bool) error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			cancel()
			<-done
			t.Fatal("condition not reached within 10s")
		}
	}
	cancel()
	return <-done
}

func TestConsumerKeepsPerKeyOrderAndCommitsContiguously(t *testing.T) {
	f := &fakeFetcher{committed: map[int]int64{}}
	for off := int64(0); off < 50; off++ {
		f.msgs = append(f.msgs, msg(int(off%2), off/2, fmt.Sprintf("k%d", off%5)))
	}
	var mu sync.Mutex
	seen := map[string][]int64{}
	c := &Consumer{Fetcher: f, Log: slog.New(slog.DiscardHandler), MaxInFlight: 8,
		Handler: func(ctx context.Context, m kafka.Message) error {
			if m.Offset%3 == 0 {
				runtime.Gosched() // let later records overtake this one
			}
			mu.Lock()
			seen[string(m.Key)+fmt.Sprint(m.Partition)] = append(seen[string(m.Key)+fmt.Sprint(m.Partition)], m.Offset)
			mu.Unlock()
			return nil
		}}
	if err := runUntil(t, c, func() bool {
		a, okA := f.committedOffset(0)
		b, okB := f.committedOffset(1)
		return okA && okB && a == 24 && b == 24
	}); err != nil {
		t.Fatal(err)
	}
	for key, offs := range seen {
		for i := 1; i < len(offs); i++ {
			if offs[i] <= offs[i-1] {
				t.Errorf("key %s applied out of order: %v", key, offs)
			}
		}
	}
}

func TestConsumerNeverCommitsPastAnUnfinishedRecord(t *testing.T) {
	f := &fakeFetcher{committed: map[int]int64{}, msgs: []kafka.Message{msg(0, 0, "a"), msg(0, 1, "stuck"), msg(0, 2, "c")}}
	release := make(chan struct{})
	applied := map[int64]bool{}
	var mu sync.Mutex
	c := &Consumer{Fetcher: f, Log: slog.New(slog.DiscardHandler), Drain: 50 * time.Millisecond,
		Handler: func(ctx context.Context, m kafka.Message) error {
			if string(m.Key) == "stuck" {
				select {
				case <-release:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			mu.Lock()
			applied[m.Offset] = true
			mu.Unlock()
			return nil
		}}
	_ = runUntil(t, c, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return applied[0] && applied[2]
	})
	if got, ok := f.committedOffset(0); !ok || got != 0 {
		t.Errorf("committed offset %d (%v) with offset 1 unfinished, want 0", got, ok)
	}
	close(release)
}

func TestConsumerDeadLettersPermanentFailures(t *testing.T) {
	f := &fakeFetcher{committed: map[int]int64{}, msgs: []kafka.Message{msg(2, 7, "bad"), msg(2, 8, "good")}}
	dlq := &fakeDLQ{}
	c := &Consumer{Fetcher: f, DLQ: dlq, Group: "g", Log: slog.New(slog.DiscardHandler),
		Handler: JSON(nil, func(ctx context.Context, v map[string]any) error { return nil })}
	f.msgs[1].Value = []byte(`{"ok":true}`)
	if err := runUntil(t, c, func() bool { o, ok := f.committedOffset(2); return ok && o == 8 }); err != nil {
		t.Fatal(err)
	}
	if len(dlq.msgs) != 1 {
		t.Fatalf("dead-lettered %d records, want 1", len(dlq.msgs))
	}
	d := dlq.msgs[0]
	h := map[string]string{}
	for _, kv := range d.Headers {
		h[kv.Key] = string(kv.Value)
	}
	if d.Topic != "t.dlq" || string(d.Key) != "bad" || h["dlq.source.topic"] != "t" || h["dlq.source.partition"] != "2" ||
		h["dlq.source.offset"] != "7" || h["dlq.consumer.group"] != "g" || h["dlq.error"] == "" {
		t.Errorf("dead letter %s %q headers %v, want t.dlq with the origin and the error", d.Topic, d.Key, h)
	}
}

func TestConsumerRetriesTransientFailures(t *testing.T) {
	f := &fakeFetcher{committed: map[int]int64{}, msgs: []kafka.Message{msg(0, 0, "a")}}
	attempts := 0
	c := &Consumer{Fetcher: f, Log: slog.New(slog.DiscardHandler), RetryMin: time.Millisecond, RetryMax: 2 * time.Millisecond,
		Handler: func(ctx context.Context, m kafka.Message) error {
			attempts++
			if attempts < 3 {
				return errors.New("broker not available")
			}
			return nil
		}}
	if err := runUntil(t, c, func() bool { _, ok := f.committedOffset(0); return ok }); err != nil {
		t.Fatal(err)
	}
	if attempts != 3 {
		t.Errorf("handler ran %d times, want 3 (two transient failures, then success)", attempts)
	}
}

func TestConsumerRestartsBookkeepingAfterRebalance(t *testing.T) {
	// After a rebalance kafka-go delivers a partition again from its
	// committed offset: offsets go back, and must be tracked afresh.
	f := &fakeFetcher{committed: map[int]int64{}, msgs: []kafka.Message{msg(0, 0, "a"), msg(0, 1, "b"), msg(0, 1, "b"), msg(0, 2, "c")}}
	c := &Consumer{Fetcher: f, Log: slog.New(slog.DiscardHandler), Handler: func(context.Context, kafka.Message) error { return nil }}
	if err := runUntil(t, c, func() bool { o, ok := f.committedOffset(0); return ok && o == 2 }); err != nil {
		t.Fatal(err)
	}
}

// flakyFetcher fails its first fetches, as kafka-go does while the broker
// or the group coordinator is unreachable, then delivers.
type flakyFetcher struct {
	fakeFetcher
	failures int
}

func (f *flakyFetcher) FetchMessage(ctx context.Context) (kafka.Message, error) {
	f.mu.Lock()
	if f.failures > 0 {
		f.failures--
		f.mu.Unlock()
		return kafka.Message{}, errors.New("[15] Group Coordinator Not Available")
	}
	f.mu.Unlock()
	return f.fakeFetcher.FetchMessage(ctx)
}

func TestConsumerRidesOutFetchErrors(t *testing.T) {
	f := &flakyFetcher{fakeFetcher: fakeFetcher{committed: map[int]int64{}, msgs: []kafka.Message{msg(0, 0, "a")}}, failures: 3}
	c := &Consumer{Fetcher: f, Log: slog.New(slog.DiscardHandler), RetryMin: time.Millisecond,
		Handler: func(context.Context, kafka.Message) error { return nil }}
	if err := runUntil(t, c, func() bool { _, ok := f.committedOffset(0); return ok }); err != nil {
		t.Fatalf("Run = %v, want nil: a broker outage is no reason to stop consuming", err)
	}
}
