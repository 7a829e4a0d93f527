package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kafkakit/kit/services/events"
)

// chaosWriter is a broker whose partitions take, refuse or take and then
// report a failure (a timeout after the append, NOT_ENOUGH_REPLICAS_AFTER_APPEND)
// at random, one outcome per partition per call, and which sometimes fails
// a whole call: before sending anything when the call has several
// records, after appending it when the call has one (a lone record's
// failure is the call's error).
type chaosWriter struct {
	mu       sync.Mutex
	rng      *rand.Rand
	calm     bool // every call succeeds
	appended []kafka.Message
}

const chaosPartitions = 3

var errChaos = errors.New("request timed out")

func (w *chaosWriter) WriteMessages(_ context.Context, msgs ...kafka.Message) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.calm {
		w.appended = append(w.appended, msgs...)
		return nil
	}
	if w.rng.IntN(20) == 0 {
		if len(msgs) == 1 && w.rng.IntN(2) == 0 {
			w.appended = append(w.appended, msgs...)
		}
		return fmt.Errorf("produce: %w", errChaos)
	}
	const (
		took = iota
		refused
		tookButFailed
	)
	var outcome [chaosPartitions]int
	for p := range outcome {
		switch n := w.rng.IntN(10); {
		case n < 6:
			outcome[p] = took
		case n < 8:
			outcome[p] = refused
		default:
			outcome[p] = tookButFailed
		}
	}
	errs := make(kafka.WriteErrors, len(msgs))
	failed := false
	for i, m := range msgs {
		o := outcome[events.Partition(m.Key, chaosPartitions)]
		if o != refused {
			w.appended = append(w.appended, m)
		}
		if o != took {
			errs[i], failed = errChaos, true
		}
	}
	if !failed {
		return nil
	}
	if len(msgs) == 1 {
		return errs[0]
	}
	return errs
}

// TestEachKeysRecordsFirstReachTheBrokerInCommitOrderWhateverFails commits
// records of a few keys while the broker takes, refuses or takes and then
// reports a failure at random, in small batches, with table reads forced
// now and then; then lets the broker take everything. A record may reach
// the broker twice (a failure after the append is retried), but the first
// time each record of a key reaches it must follow the first time every
// earlier record of that key did: a reader keeping the newest state per key
// never goes back.
func TestEachKeysRecordsFirstReachTheBrokerInCommitOrderWhateverFails(t *testing.T) {
	for round := range 4 {
		seed := uint64(time.Now().UnixNano()) + uint64(round)
		t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) {
			db, o := openOutbox(t)
			rng := rand.New(rand.NewPCG(seed, 1))
			w := &chaosWriter{rng: rand.New(rand.NewPCG(seed, 2))}
			r := NewRelay(o, w, slog.New(slog.DiscardHandler))
			r.Batch = 3
			r.RetryMin, r.RetryMax = time.Millisecond, 5*time.Millisecond
			r.DeleteEvery = 2 * time.Millisecond
			running(t, r)
			keys := []string{"a", "b", "c", "d", "e"}
			next := map[string]int{}
			const commits = 300
			total := 0
			for range commits {
				var msgs []Message
				for range 1 + rng.IntN(3) {
					k := keys[rng.IntN(len(keys))]
					next[k]++
					msgs = append(msgs, msg("orders.status", k, fmt.Sprintf("%s-%d", k, next[k])))
				}
				total += len(msgs)
				r.Committed(commit(t, db, o, msgs...))
				if rng.IntN(10) == 0 {
					r.Kick()
				}
				if rng.IntN(4) == 0 {
					time.Sleep(time.Duration(rng.IntN(2000)) * time.Microsecond)
				}
			}
			w.mu.Lock()
			w.calm = true
			w.mu.Unlock()
			waitFor(t, "every record produced and deleted", func() bool { return backlog(o) == 0 })

			w.mu.Lock()
			defer w.mu.Unlock()
			firsts := map[string][]int{}
			seen := map[string]bool{}
			var trail []string
			for _, m := range w.appended {
				trail = append(trail, string(m.Value))
				if seen[string(m.Value)] {
					continue
				}
				seen[string(m.Value)] = true
				var k string
				var n int
				if _, err := fmt.Sscanf(string(m.Value), "%1s-%d", &k, &n); err != nil {
					t.Fatalf("record %q: %v", m.Value, err)
				}
				if want := len(firsts[k]) + 1; n != want {
					t.Fatalf("key %s: record %d reached the broker first after %v, want %d next; the broker's log: %v", k, n, firsts[k], want, trail)
				}
				firsts[k] = append(firsts[k], n)
			}
			if len(seen) != total {
				t.Errorf("%d distinct records reached the broker, want %d", len(seen), total)
			}
		})
	}
}
