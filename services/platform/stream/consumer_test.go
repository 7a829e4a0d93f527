package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/segmentio/kafka-go"

	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/httpx"
)

func TestConsumerKeepsPerKeyOrderAndCommitsContiguously(t *testing.T) {
	var mu sync.Mutex
	seen := map[string][]int64{}
	h := newHarness(t, ConsumerConfig{MaxInFlight: 8}, raw("t", func(ctx context.Context, m kafka.Message) error {
		if m.Offset%3 == 0 {
			runtime.Gosched() // let later records overtake this one
		}
		mu.Lock()
		key := fmt.Sprintf("%s/%d", m.Key, m.Partition)
		seen[key] = append(seen[key], m.Offset)
		mu.Unlock()
		return nil
	}))
	for off := 0; off < 50; off++ {
		h.broker.produce("t", off%2, fmt.Sprintf("k%d", off%5))
	}
	h.group.assign(1, map[string][]int{"t": {0, 1}})
	stop := h.start(t)
	waitFor(t, "both partitions committed to their end", func() bool {
		a, _ := h.group.committed("t", 0)
		b, _ := h.group.committed("t", 1)
		return a == 25 && b == 25
	})
	if err := stop(); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	mu.Lock()
	defer mu.Unlock()
	for key, offs := range seen {
		for i := 1; i < len(offs); i++ {
			if offs[i] <= offs[i-1] {
				t.Errorf("key %s applied out of order: %v", key, offs)
			}
		}
	}
	if _, backwards := h.group.violations(); len(backwards) > 0 {
		t.Errorf("commits went backwards: %v", backwards)
	}
}

func TestConsumerShutdownCommitsOnlyWhatFinished(t *testing.T) {
	var mu sync.Mutex
	applied := map[int64]bool{}
	var seen outcomes
	h := newHarness(t, ConsumerConfig{Drain: 50 * time.Millisecond, Observe: seen.observe},
		raw("t", func(ctx context.Context, m kafka.Message) error {
			if string(m.Key) == "stuck" {
				<-ctx.Done() // finishes only when the drain gives up on it
				return ctx.Err()
			}
			mu.Lock()
			applied[m.Offset] = true
			mu.Unlock()
			return nil
		}))
	h.broker.produce("t", 0, "a", "stuck", "c")
	h.group.assign(1, map[string][]int{"t": {0}})
	stop := h.start(t)
	waitFor(t, "offsets 0 and 2 applied", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return applied[0] && applied[2]
	})
	if err := stop(); err != nil {
		t.Fatalf("Run = %v, want nil on a clean stop", err)
	}
	if got, ok := h.group.committed("t", 0); !ok || got != 1 {
		t.Errorf("committed %d (%v) with offset 1 unfinished, want 1 (offset 0 done, 1 redelivered next time)", got, ok)
	}
	if got := seen.results("t", 0, 1); len(got) != 1 || got[0] != ResultCancelled {
		t.Errorf("outcomes of offset 1 = %v, want [cancelled]", got)
	}
}

// Once a drain abandons a record, the records queued behind it on its key
// must not run in that generation: running one would apply a key's later
// record before its earlier one, which comes back only on redelivery. With a
// free slot and a cancelled generation both ready, a lane once picked either
// at random (half the runs of this test failed).
func TestConsumerRunsNothingOfAKeyAfterItsRecordWasAbandoned(t *testing.T) {
	entered := make(chan struct{})
	var later atomic.Int64 // calls for the records queued behind the abandoned one
	var seen outcomes
	h := newHarness(t, ConsumerConfig{Drain: time.Millisecond, Observe: seen.observe},
		raw("t", func(ctx context.Context, m kafka.Message) error {
			if m.Offset > 0 {
				later.Add(1)
				return ctx.Err()
			}
			close(entered)
			<-ctx.Done() // abandoned by the drain
			return ctx.Err()
		}))
	h.broker.produce("t", 0, "k", "k", "k")
	h.group.assign(1, map[string][]int{"t": {0}})
	stop := h.start(t)
	<-entered
	waitFor(t, "the key's later records fetched and queued", func() bool { return h.broker.fetchedFrom("t", 0) == 3 })
	if err := stop(); err != nil {
		t.Fatalf("Run = %v, want nil on a clean stop", err)
	}
	if n := later.Load(); n != 0 {
		t.Errorf("the handler ran %d times for offsets 1 and 2 after offset 0 of their key was abandoned, want 0", n)
	}
	for off := int64(1); off <= 2; off++ {
		if got := seen.results("t", 0, off); len(got) != 0 {
			t.Errorf("outcomes of offset %d = %v, want none (never attempted)", off, got)
		}
	}
	if got, ok := h.group.committed("t", 0); ok {
		t.Errorf("committed offset %d, want nothing (offset 0 was abandoned)", got)
	}
}

func TestConsumerDeadLettersRecordsThatBreakTheContract(t *testing.T) {
	var got []events.OrderStatus
	var mu sync.Mutex
	var seen outcomes
	h := newHarness(t, ConsumerConfig{Group: "g", Observe: seen.observe},
		On(events.TopicOrdersStatus, func(_ context.Context, s events.OrderStatus) error {
			mu.Lock()
			got = append(got, s)
			mu.Unlock()
			return nil
		}).From("statuses"))
	h.broker.produceValue("statuses", 2, "bad", `{"orderId":"not-a-uuid","status":"PAID"}`)
	h.broker.produceValue("statuses", 2, "good", statusJSON(1, "PAID"))
	h.group.assign(1, map[string][]int{"statuses": {2}})
	h.start(t)
	waitFor(t, "both records committed", func() bool { o, _ := h.group.committed("statuses", 2); return o == 2 })

	dl := h.dlq.written()
	if len(dl) != 1 {
		t.Fatalf("dead-lettered %d records, want 1", len(dl))
	}
	d := dl[0]
	hd := map[string]string{}
	for _, kv := range d.Headers {
		hd[kv.Key] = string(kv.Value)
	}
	if d.Topic != "statuses.dlq" || string(d.Key) != "bad" || hd[events.HeaderDLQSourceTopic] != "statuses" ||
		hd[events.HeaderDLQSourcePartition] != "2" || hd[events.HeaderDLQSourceOffset] != "0" ||
		hd[events.HeaderDLQConsumerGroup] != "g" || !strings.Contains(hd[events.HeaderDLQError], "invalid statuses value") {
		t.Errorf("dead letter %s %q headers %v, want statuses.dlq with the origin and the error", d.Topic, d.Key, hd)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0].Status != events.StatusPaid {
		t.Errorf("handler got %+v, want the one valid status", got)
	}
	if r := seen.results("statuses", 2, 0); len(r) != 1 || r[0] != ResultDeadLetter {
		t.Errorf("outcomes of the bad record = %v, want [dead_letter]", r)
	}
}

// A record near the broker's size limit that breaks its contract cannot be
// dead-lettered as it is: the copy's headers make it larger than the
// original. It was retried forever, holding up its partition. Now the
// dead-letter topic gets a copy with the value cut to fit, saying so and
// how large the value was — what the copy leaves out stays on the source
// topic at the offset it names — and the partition moves on. A dead-letter
// topic that refuses even a copy without its value holds the record, and
// readiness says why.
func TestConsumerDeadLettersATruncatedCopyOfARecordTooLargeToCopy(t *testing.T) {
	for _, tc := range []struct {
		name     string
		maxBytes int
		fits     bool
	}{
		{"the dead-letter topic takes what the source took", 1024, true},
		{"the dead-letter topic takes far less", 400, true},
		{"the dead-letter topic takes not even the headers", 40, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := uuid(1100 + tc.maxBytes)
			value := strings.Repeat("é", 500) // 1000 bytes: a cut must not split a character
			h := newHarness(t, ConsumerConfig{StuckAfter: time.Millisecond, RetryMin: time.Millisecond, RetryMax: time.Millisecond,
				Drain: time.Millisecond},
				raw("t", func(_ context.Context, m kafka.Message) error {
					if string(m.Key) == key {
						return Permanent(errors.New("not an order"))
					}
					return nil
				}))
			h.dlq.maxBytes = tc.maxBytes
			h.broker.produceValue("t", 0, key, value)
			h.broker.produce("t", 0, "next")
			h.group.assign(1, map[string][]int{"t": {0}})
			h.start(t)

			if !tc.fits {
				var stuck error
				waitFor(t, "Stuck reports the record", func() bool { stuck = h.c.Stuck(context.Background()); return stuck != nil })
				if want := "t/0 at offset 0: retrying for "; !strings.HasPrefix(stuck.Error(), want) ||
					!strings.Contains(stuck.Error(), "dead-lettering failed: broker: Message Size Too Large") {
					t.Errorf("Stuck = %q, want it to start %q and say the dead letter was too large", stuck, want)
				}
				if o, ok := h.group.committed("t", 0); ok {
					t.Errorf("committed offset %d with the record neither applied nor dead-lettered, want nothing", o)
				}
				return
			}
			waitFor(t, "both records committed", func() bool { o, _ := h.group.committed("t", 0); return o == 2 })
			dl := h.dlq.written()
			if len(dl) != 1 || h.dlq.refusals() == 0 {
				t.Fatalf("dead-lettered %d records after %d refusals, want 1 after at least one refusal", len(dl), h.dlq.refusals())
			}
			d := dl[0]
			hd := map[string]string{}
			for _, kv := range d.Headers {
				hd[kv.Key] = string(kv.Value)
			}
			if string(d.Key) != key || hd[events.HeaderDLQSourceTopic] != "t" || hd[events.HeaderDLQSourcePartition] != "0" ||
				hd[events.HeaderDLQSourceOffset] != "0" || hd[events.HeaderDLQConsumerGroup] != "g" ||
				!strings.Contains(hd[events.HeaderDLQError], "not an order") {
				t.Errorf("dead letter %q headers %v, want the record's key, its origin and the error", d.Key, hd)
			}
			if hd[events.HeaderDLQTruncated] != "true" || hd[events.HeaderDLQOriginalSize] != "1000" {
				t.Errorf("headers %v, want %s=true and %s=1000", hd, events.HeaderDLQTruncated, events.HeaderDLQOriginalSize)
			}
			if len(d.Value) == 0 || len(d.Value) >= len(value) || !strings.HasPrefix(value, string(d.Value)) || !utf8.Valid(d.Value) {
				t.Errorf("dead-lettered value of %d bytes, want a non-empty prefix of the 1000-byte original cut between characters", len(d.Value))
			}
			if n := recordSize(d); n > tc.maxBytes {
				t.Errorf("dead letter of %d bytes, want at most %d", n, tc.maxBytes)
			}
			if !h.logs.contains(`"msg":"record dead-lettered truncated"`) {
				t.Errorf("no log line saying the dead letter was truncated")
			}
		})
	}
}

func TestConsumerRetriesTransientFailures(t *testing.T) {
	var attempts atomic.Int64
	var seen outcomes
	h := newHarness(t, ConsumerConfig{RetryMin: time.Millisecond, RetryMax: 2 * time.Millisecond, Observe: seen.observe},
		raw("t", func(ctx context.Context, m kafka.Message) error {
			if attempts.Add(1) < 3 {
				return errors.New("broker not available")
			}
			return nil
		}))
	h.broker.produce("t", 0, "a")
	h.group.assign(1, map[string][]int{"t": {0}})
	h.start(t)
	waitFor(t, "offset 0 committed", func() bool { o, _ := h.group.committed("t", 0); return o == 1 })
	want := []Result{ResultRetry, ResultRetry, ResultOK}
	if got := seen.results("t", 0, 0); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("outcomes = %v, want %v (two transient failures, then success)", got, want)
	}
}

func TestConsumerRidesOutFetchErrors(t *testing.T) {
	h := newHarness(t, ConsumerConfig{RetryMin: time.Millisecond},
		raw("t", func(context.Context, kafka.Message) error { return nil }))
	h.broker.fetchErrs = 3
	h.broker.produce("t", 0, "a")
	h.group.assign(1, map[string][]int{"t": {0}})
	stop := h.start(t)
	waitFor(t, "offset 0 committed", func() bool { o, _ := h.group.committed("t", 0); return o == 1 })
	if err := stop(); err != nil {
		t.Fatalf("Run = %v, want nil: a broker outage is no reason to stop consuming", err)
	}
}

// A record that fails transiently forever must not let its partition's
// bookkeeping grow: the window fills, fetching pauses, Stuck says where and
// why, nothing past the record is committed — and other partitions go on.
func TestConsumerBoundsTheWindowBehindAFailingRecord(t *testing.T) {
	const window = 16
	h := newHarness(t, ConsumerConfig{MaxUncommitted: window, StuckAfter: time.Hour, RetryMin: time.Millisecond, RetryMax: time.Millisecond,
		Drain: time.Millisecond},
		raw("t", func(_ context.Context, m kafka.Message) error {
			if m.Partition == 0 && m.Offset == 0 {
				return errors.New("database is locked")
			}
			return nil
		}))
	h.broker.endless[topicPartition{"t", 0}] = true
	for i := 0; i < 3*window; i++ {
		h.broker.produce("t", 1, fmt.Sprintf("k%d", i))
	}
	h.group.assign(1, map[string][]int{"t": {0, 1}})
	h.start(t)

	var stuck error
	waitFor(t, "Stuck reports the failing record", func() bool { stuck = h.c.Stuck(context.Background()); return stuck != nil })
	for _, want := range []string{"t/0 at offset 0: retrying for ", "the handler failed", "window of 16"} {
		if !strings.Contains(stuck.Error(), want) {
			t.Errorf("Stuck = %q, want it to contain %q", stuck, want)
		}
	}
	waitFor(t, "partition 1 committed to its end", func() bool { o, _ := h.group.committed("t", 1); return o == 3*window })

	if got := h.broker.fetchedFrom("t", 0); got != window {
		t.Errorf("fetched %d records of the stuck partition, want %d (the window)", got, window)
	}
	waitFor(t, "the rest of the window finished behind the failing record", func() bool {
		_, done, _ := h.c.currentGen().tracked(topicPartition{"t", 0})
		return done == window-1
	})
	if pending, _, failing := h.c.currentGen().tracked(topicPartition{"t", 0}); pending != window || failing != 1 {
		t.Errorf("tracking %d pending and %d failing records of the stuck partition, want %d and 1", pending, failing, window)
	}
	if o, ok := h.group.committed("t", 0); ok {
		t.Errorf("committed offset %d on the stuck partition, want nothing past offset 0", o)
	}
	if !h.logs.contains(`"msg":"record failed; retrying"`) {
		t.Errorf("no log line about the failing record")
	}
	if n := strings.Count(h.logs.String(), `"msg":"record failed; retrying"`); n != 1 {
		t.Errorf("logged the failing record %d times, want once (then once a minute)", n)
	}
}

func TestConsumerStuckAfterAThresholdAndRecovers(t *testing.T) {
	var healthy atomic.Bool
	h := newHarness(t, ConsumerConfig{StuckAfter: time.Millisecond, RetryMin: time.Millisecond, RetryMax: time.Millisecond},
		raw("orders.created", func(context.Context, kafka.Message) error {
			if !healthy.Load() {
				return errors.New("database is locked")
			}
			return nil
		}))
	h.broker.produce("orders.created", 1, "a", "a") // one key: offset 1 waits behind offset 0
	h.group.assign(1, map[string][]int{"orders.created": {1}})
	h.start(t)
	var stuck error
	waitFor(t, "Stuck reports the failing record", func() bool { stuck = h.c.Stuck(context.Background()); return stuck != nil })
	if want := "orders.created/1 at offset 0: retrying for "; !strings.HasPrefix(stuck.Error(), want) {
		t.Errorf("Stuck = %q, want it to start with %q", stuck, want)
	}
	healthy.Store(true)
	waitFor(t, "both records committed", func() bool { o, _ := h.group.committed("orders.created", 1); return o == 2 })
	if err := h.c.Stuck(context.Background()); err != nil {
		t.Errorf("Stuck after recovery = %v, want nil", err)
	}
}

// A readiness body is open to anyone who reaches the port, and an order id
// unlocks that order's /events: what the partitions check says about a
// failing record must come from the record's coordinates and the kind of
// failure, never from the handler's error text, which names the record.
// The whole error goes to the log, for operators.
func TestConsumerReadinessNamesNoRecordData(t *testing.T) {
	orderID := uuid(8081)
	sku := "SKU-" + orderID[len(orderID)-6:]
	h := newHarness(t, ConsumerConfig{StuckAfter: time.Millisecond, RetryMin: time.Millisecond, RetryMax: time.Millisecond,
		Drain: time.Millisecond},
		raw("orders.created", func(context.Context, kafka.Message) error {
			return fmt.Errorf("reserve order %s (%s x3): %w", orderID, sku, errors.New("stock row "+sku+" is busy"))
		}))
	h.broker.produceValue("orders.created", 1, orderID, orderJSON(8081))
	h.group.assign(1, map[string][]int{"orders.created": {1}})
	h.start(t)
	waitFor(t, "Stuck reports the failing record", func() bool { return h.c.Stuck(context.Background()) != nil })

	rec := httptest.NewRecorder()
	httpx.Ready(map[string]httpx.Check{"consumer": h.c.Joined, "partitions": h.c.Stuck}).
		ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	body := rec.Body.String()
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("readiness status %d, want 503 while a record is stuck", rec.Code)
	}
	for _, secret := range []string{orderID, sku, "reserve order", "busy"} {
		if strings.Contains(body, secret) {
			t.Errorf("readiness body %s contains %q from the handler's error", body, secret)
		}
	}
	for _, want := range []string{"orders.created/1 at offset 0: retrying for ", "the handler failed"} {
		if !strings.Contains(body, want) {
			t.Errorf("readiness body %s, want it to contain %q", body, want)
		}
	}
	waitFor(t, "the whole error logged", func() bool { return h.logs.contains("stock row " + sku + " is busy") })
}

// After a rebalance, a record of the old generation that finishes late —
// its handler ignored the cancellation — is never committed, neither through
// the old generation nor the new one; the new generation redelivers it.
func TestConsumerNeverCommitsACompletionFromARevokedGeneration(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	var firstTry atomic.Bool
	var mu sync.Mutex
	handled := map[string]int{}
	h := newHarness(t, ConsumerConfig{Drain: 10 * time.Millisecond},
		raw("t", func(ctx context.Context, m kafka.Message) error {
			if m.Offset == 1 && firstTry.CompareAndSwap(false, true) {
				close(started)
				<-release // ignores ctx, as a misbehaving handler might
			}
			mu.Lock()
			handled[fmt.Sprint(m.Offset)]++
			mu.Unlock()
			return nil
		}))
	h.c.cancelGrace = 10 * time.Millisecond
	h.broker.produce("t", 0, "a", "b", "c")
	gen1 := h.group.assign(1, map[string][]int{"t": {0}})
	h.start(t)
	<-started
	waitFor(t, "offsets 0 and 2 handled", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return handled["0"] == 1 && handled["2"] == 1
	})
	waitFor(t, "generation 1 committed offset 0", func() bool { o, _ := h.group.committed("t", 0); return o == 1 })

	gen1.revoke()
	h.group.assign(2, map[string][]int{"t": {0}})
	waitFor(t, "generation 2 redelivered offsets 1 and 2 and committed them", func() bool {
		o, _ := h.group.committed("t", 0)
		return o == 3 && h.c.currentGen() != nil && h.c.currentGen().id == 2
	})
	close(release) // the old generation's record finishes now
	waitFor(t, "the late completion noticed", func() bool {
		return h.logs.contains("record finished after its generation ended; not committed")
	})

	stale, backwards := h.group.violations()
	if len(stale) > 0 || len(backwards) > 0 {
		t.Errorf("stale commits %v, backward commits %v; want none", stale, backwards)
	}
	h.group.mu.Lock()
	commits := strings.Join(h.group.commits, " ")
	h.group.mu.Unlock()
	if !strings.HasPrefix(commits, "1/t/0=1") || strings.Contains(commits, "1/t/0=2") || strings.Contains(commits, "1/t/0=3") {
		t.Errorf("commits %q: generation 1 may commit only offset 1 (offset 0 done, offset 1 unfinished)", commits)
	}
}

// A rebalance lets in-flight records finish within the drain and commits
// them through the generation that fetched them before the member rejoins,
// so the next generation starts after them and applies nothing twice.
func TestConsumerDrainsAndCommitsBeforeRejoining(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	var mu sync.Mutex
	handled := map[int64]int{}
	h := newHarness(t, ConsumerConfig{}, raw("t", func(ctx context.Context, m kafka.Message) error {
		if m.Offset == 1 {
			close(started)
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		mu.Lock()
		handled[m.Offset]++
		mu.Unlock()
		return nil
	}))
	h.broker.produce("t", 0, "a", "b", "c")
	gen1 := h.group.assign(1, map[string][]int{"t": {0}})
	h.start(t)
	<-started
	waitFor(t, "offsets 0 and 2 handled", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return handled[0] == 1 && handled[2] == 1
	})
	gen1.revoke()
	h.group.assign(2, map[string][]int{"t": {0}})
	close(release)
	waitFor(t, "generation 2 running", func() bool { g := h.c.currentGen(); return g != nil && g.id == 2 })
	h.broker.produce("t", 0, "d")
	waitFor(t, "offset 3 committed", func() bool { o, _ := h.group.committed("t", 0); return o == 4 })
	mu.Lock()
	defer mu.Unlock()
	for off := int64(0); off < 4; off++ {
		if handled[off] != 1 {
			t.Errorf("offset %d handled %d times, want once", off, handled[off])
		}
	}
	if stale, backwards := h.group.violations(); len(stale) > 0 || len(backwards) > 0 {
		t.Errorf("stale commits %v, backward commits %v; want none", stale, backwards)
	}
}

func TestConsumerRoutesEachTopicToItsTypedHandler(t *testing.T) {
	var mu sync.Mutex
	var orders []events.OrderCreated
	var statuses []events.OrderStatus
	var wrapped []string
	var seen outcomes
	mw := func(next Handler) Handler {
		return func(ctx context.Context, m kafka.Message) error {
			mu.Lock()
			wrapped = append(wrapped, m.Topic)
			mu.Unlock()
			return next(ctx, m)
		}
	}
	h := newHarness(t, ConsumerConfig{Group: "stock", Middleware: []func(Handler) Handler{mw}, Observe: seen.observe},
		On(events.TopicOrdersCreated, func(_ context.Context, o events.OrderCreated) error {
			mu.Lock()
			orders = append(orders, o)
			mu.Unlock()
			return nil
		}).From("orders"),
		On(events.TopicOrdersStatus, func(_ context.Context, s events.OrderStatus) error {
			mu.Lock()
			statuses = append(statuses, s)
			mu.Unlock()
			return nil
		}).From("status"))
	h.broker.produceValue("orders", 0, "o1", orderJSON(1))
	h.broker.produceValue("status", 1, "o1", statusJSON(1, "FAILED"))
	h.group.assign(1, map[string][]int{"orders": {0}, "status": {1}})
	h.start(t)
	waitFor(t, "both committed", func() bool {
		a, _ := h.group.committed("orders", 0)
		b, _ := h.group.committed("status", 1)
		return a == 1 && b == 1
	})
	mu.Lock()
	defer mu.Unlock()
	if len(orders) != 1 || orders[0].OrderID != uuid(1) || len(orders[0].Items) != 1 {
		t.Errorf("orders handler got %+v, want the order", orders)
	}
	if len(statuses) != 1 || statuses[0].Status != events.StatusFailed || statuses[0].Reason == "" {
		t.Errorf("status handler got %+v, want the FAILED status", statuses)
	}
	if len(wrapped) != 2 {
		t.Errorf("middleware saw %v, want both topics", wrapped)
	}
	seen.mu.Lock()
	defer seen.mu.Unlock()
	for _, o := range seen.list {
		if o.Group != "stock" || o.Result != ResultOK || o.Attempt != 1 || o.Duration <= 0 {
			t.Errorf("outcome %+v, want group stock, ok, first attempt, a duration", o)
		}
	}
}

func TestNewConsumerRefusesWhatCannotWork(t *testing.T) {
	ok := raw("t", func(context.Context, kafka.Message) error { return nil })
	tests := []struct {
		name   string
		cfg    ConsumerConfig
		routes []Route
		want   string
	}{
		{"no brokers", ConsumerConfig{Group: "g"}, []Route{ok}, "no brokers"},
		{"no group", ConsumerConfig{Brokers: []string{"b"}}, []Route{ok}, "no group"},
		{"no routes", ConsumerConfig{Brokers: []string{"b"}, Group: "g"}, nil, "no routes"},
		{"topic twice", ConsumerConfig{Brokers: []string{"b"}, Group: "g"}, []Route{ok, ok}, "topic t routed twice"},
		{"unknown contract", ConsumerConfig{Brokers: []string{"b"}, Group: "g"},
			[]Route{On("no.such.topic", func(context.Context, events.OrderStatus) error { return nil })}, "schema for no.such.topic"},
		{"route not built by On", ConsumerConfig{Brokers: []string{"b"}, Group: "g"}, []Route{{Topic: "t"}}, "build it with On"},
		{"negative window", ConsumerConfig{Brokers: []string{"b"}, Group: "g", MaxUncommitted: -1}, []Route{ok}, "MaxUncommitted -1 is negative"},
		{"negative drain", ConsumerConfig{Brokers: []string{"b"}, Group: "g", Drain: -time.Second}, []Route{ok}, "Drain -1s is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newConsumer(tt.cfg, tt.routes)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestConsumerReportsJoinAssignmentsAndTheRebalanceStory(t *testing.T) {
	h := newHarness(t, ConsumerConfig{Group: "g"}, raw("a", func(context.Context, kafka.Message) error { return nil }),
		raw("b", func(context.Context, kafka.Message) error { return nil }))
	if err := h.c.Joined(context.Background()); err == nil || !strings.Contains(err.Error(), "not joined yet") {
		t.Errorf("Joined before Run = %v, want not joined yet", err)
	}
	h.broker.produce("a", 0, "x", "y")
	gen1 := h.group.assign(7, map[string][]int{"a": {0, 2}, "b": {1}})
	stop := h.start(t)
	want := fmt.Sprint([]Assignment{{"a", 0, 7, 2, 2}, {"a", 2, 7, -1, -1}, {"b", 1, 7, -1, -1}})
	waitFor(t, "Assignments = "+want, func() bool { return fmt.Sprint(h.c.Assignments()) == want })
	if err := h.c.Joined(context.Background()); err != nil {
		t.Errorf("Joined in a generation = %v, want nil", err)
	}
	gen1.revoke()
	h.group.assign(8, nil)
	waitFor(t, "generation 8 with no partitions", func() bool { g := h.c.currentGen(); return g != nil && g.id == 8 })
	if err := h.c.Joined(context.Background()); err != nil {
		t.Errorf("Joined with no partitions = %v, want nil", err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`"msg":"consumer joined its group","group":"g","generation":7,"member":"member-1","partitions":"a[0 2] b[1]"`,
		`"msg":"consumer generation ended; partitions revoked","group":"g","generation":7,"reason":"generation ended","partitions":"a[0@2 2@-] b[1@-]"`,
		`"msg":"consumer joined its group","group":"g","generation":8,"member":"member-1","partitions":"none"`,
		`"generation":8,"reason":"shutdown"`,
	} {
		if !h.logs.contains(want) {
			t.Errorf("log lacks %s", want)
		}
	}
}

func uuid(n int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) }

func orderJSON(n int) string {
	b, _ := json.Marshal(events.OrderCreated{OrderID: uuid(n), UserID: "u", Items: []events.Item{{SKU: "S", Qty: 1}},
		Total: 1, Currency: "EUR", CreatedAt: time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC)})
	return string(b)
}

func statusJSON(n int, status string) string {
	s := events.OrderStatus{OrderID: uuid(n), Status: events.Status(status), UpdatedAt: time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC)}
	if s.Status == events.StatusFailed {
		s.Reason = "payment declined: test"
	}
	b, _ := json.Marshal(s)
	return string(b)
}

// A consume the broker's ACLs refuse never commits: a fetch refused
// (TOPIC_AUTHORIZATION_FAILED) fetches and commits nothing, and readiness
// names the partition, Kafka's code and the principal at once, not after
// StuckAfter, so the operator reads which grant is missing; once granted,
// the record is applied and committed.
func TestADeniedFetchCommitsNothingAndReadinessNamesTheGrant(t *testing.T) {
	var applied atomic.Int32
	h := newHarness(t, ConsumerConfig{Principal: "outsider", StuckAfter: time.Hour, RetryMin: time.Millisecond},
		raw("orders.created", func(context.Context, kafka.Message) error { applied.Add(1); return nil }))
	h.broker.fetchErr = kafka.TopicAuthorizationFailed
	h.broker.produce("orders.created", 0, "a")
	h.group.assign(1, map[string][]int{"orders.created": {0}})
	h.start(t)

	const want = "orders.created/0: fetch refused: TOPIC_AUTHORIZATION_FAILED for User:outsider"
	waitFor(t, "readiness names the refused fetch", func() bool {
		err := h.c.Stuck(context.Background())
		return err != nil && strings.Contains(err.Error(), want)
	})
	if o, ok := h.group.committed("orders.created", 0); ok {
		t.Errorf("committed offset %d while the fetch is refused, want no commit", o)
	}
	if n := applied.Load(); n != 0 {
		t.Errorf("applied %d records while the fetch is refused, want 0", n)
	}

	h.broker.mu.Lock()
	h.broker.fetchErr = nil // the ACL is granted
	h.broker.mu.Unlock()
	waitFor(t, "offset 0 committed once granted", func() bool { o, _ := h.group.committed("orders.created", 0); return o == 1 })
	waitFor(t, "ready once granted", func() bool { return h.c.Stuck(context.Background()) == nil })
}

// A record that must be dead-lettered where the principal may not write the
// dead-letter topic is held, not committed: committing it would drop it.
func TestARecordWhoseDeadLetterIsDeniedIsNotCommitted(t *testing.T) {
	h := newHarness(t, ConsumerConfig{Principal: "stock-service", StuckAfter: time.Millisecond, RetryMin: time.Millisecond, RetryMax: time.Millisecond},
		raw("t", func(context.Context, kafka.Message) error { return Permanent(errors.New("invalid")) }))
	h.dlq.denied = kafka.TopicAuthorizationFailed
	h.broker.produce("t", 0, "bad")
	h.group.assign(1, map[string][]int{"t": {0}})
	h.start(t)
	waitFor(t, "readiness names the refused dead letter", func() bool {
		err := h.c.Stuck(context.Background())
		return err != nil && strings.Contains(err.Error(), "dead-lettering failed")
	})
	if o, ok := h.group.committed("t", 0); ok {
		t.Errorf("committed offset %d while its dead letter is refused, want no commit", o)
	}
	h.dlq.mu.Lock()
	h.dlq.denied = nil
	h.dlq.mu.Unlock()
	waitFor(t, "offset 0 committed once the dead letter is written", func() bool { o, _ := h.group.committed("t", 0); return o == 1 })
}
