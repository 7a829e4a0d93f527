package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kafkakit/kit/services/platform/sqldb"
)

// Writer produces records and returns once the broker acknowledged them;
// *kafka.Writer (with no topic of its own: each record names one) is one.
type Writer interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Relay produces the outbox to Kafka in commit order. It wakes the moment a
// commit queued records (Kick), so the outbox adds no polling interval to
// the latency path; a ticker covers records left by a previous run and
// retries after a failure.
type Relay struct {
	outbox *Outbox
	writer Writer
	log    *slog.Logger

	// Batch is the most records sent in one produce call (default 500).
	Batch int
	// Drain bounds how long Run keeps producing after ctx is done, so a
	// shutdown sends what was committed; what is left is sent on the next
	// start (default 5 s).
	Drain time.Duration
	// RetryMin and RetryMax bound the pause after a failed produce
	// (defaults 50 ms and 1 s).
	RetryMin, RetryMax time.Duration

	kick  chan struct{}
	lease lease

	mu      sync.Mutex
	failing error // the last produce's error, nil once one succeeds
	since   time.Time
}

// NewRelay returns a relay of o through w.
func NewRelay(o *Outbox, w Writer, log *slog.Logger) *Relay {
	r := &Relay{outbox: o, writer: w, log: log, Batch: 500, Drain: 5 * time.Second,
		RetryMin: 50 * time.Millisecond, RetryMax: time.Second, kick: make(chan struct{}, 1)}
	// A SQLite outbox has one instance, which always relays it.
	r.lease.held.Store(o.db.Dialect != sqldb.Postgres)
	return r
}

// Kick wakes the relay without blocking; call it after a commit that
// queued records. Kicks coalesce.
func (r *Relay) Kick() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Run relays until ctx is done, then keeps relaying for at most Drain
// while records wait. It returns nil: a broker that cannot take the
// records is waited out, never a reason to stop.
func (r *Relay) Run(ctx context.Context) error {
	leaseCtx, stopLease := context.WithCancel(ctx)
	leaseDone := make(chan struct{})
	go func() {
		defer close(leaseDone)
		r.lease.run(leaseCtx, r.outbox.db, r)
	}()
	defer func() { stopLease(); <-leaseDone }()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	pause := r.RetryMin
	for {
		sent, err := r.flush(ctx)
		switch {
		case ctx.Err() != nil:
			if r.lease.leading() {
				r.drain(context.WithoutCancel(ctx))
			}
			return nil
		case err != nil:
			r.failed(err)
			select {
			case <-time.After(pause):
			case <-ctx.Done():
			}
			pause = min(pause*2, r.RetryMax)
			continue
		}
		pause = r.RetryMin
		if sent == r.Batch {
			continue // more are waiting
		}
		select {
		case <-ctx.Done():
		case <-r.kick:
		case <-tick.C:
		}
	}
}

// drain sends what is queued until nothing is, Drain passes or a produce
// fails.
func (r *Relay) drain(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, r.Drain)
	defer cancel()
	for {
		sent, err := r.flush(ctx)
		if err != nil {
			left, _ := r.outbox.Backlog(context.WithoutCancel(ctx))
			r.log.Warn("outbox not drained at shutdown; the rest is produced on the next start", "left", left, "err", err)
			return
		}
		if sent < r.Batch {
			return
		}
	}
}

// flush produces one batch of queued records and deletes what the broker
// acknowledged. It reports how many records it took from the outbox.
func (r *Relay) flush(ctx context.Context) (int, error) {
	if !r.lease.leading() {
		return 0, nil // another instance relays the shared outbox
	}
	queue, err := r.outbox.pending(ctx, r.Batch)
	if err != nil || len(queue) == 0 {
		if err == nil {
			r.recovered()
		}
		return 0, err
	}
	// Each record carries the time it was sent (CreateTime): the moment it
	// left for the broker, from which a reader can time each hop.
	msgs := make([]kafka.Message, len(queue))
	now := time.Now()
	for i, q := range queue {
		msgs[i] = q.msg
		msgs[i].Time = now
	}
	// A stop signal never cuts a produce short: kafka-go may deliver a
	// batch whose call was cancelled, and the records, not deleted, would
	// go out again. Run looks at its context between calls. Only the
	// drain's deadline (a broker that cannot take the records at
	// shutdown) ends a call early, and then what it may have delivered is
	// sent again on the next start.
	write := context.WithoutCancel(ctx)
	if deadline, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		write, cancel = context.WithDeadline(write, deadline)
		defer cancel()
	}
	err = r.writer.WriteMessages(write, msgs...)
	var partial kafka.WriteErrors
	switch {
	case err == nil:
		seqs := make([]int64, len(queue))
		for i, q := range queue {
			seqs[i] = q.seq
		}
		if err := r.outbox.remove(context.WithoutCancel(ctx), seqs); err != nil {
			return 0, err
		}
		r.recovered()
		return len(queue), nil
	case errors.As(err, &partial) && len(partial) == len(queue):
		// Some partitions took their records: delete those, so only the
		// rest is sent again. A partition's records travel in one request
		// and succeed or fail together, so per-key order holds.
		var seqs []int64
		for i, q := range queue {
			if partial[i] == nil {
				seqs = append(seqs, q.seq)
			}
		}
		if err := r.outbox.remove(context.WithoutCancel(ctx), seqs); err != nil {
			return 0, err
		}
		return 0, fmt.Errorf("produce %d of %d outbox records: %w", len(queue)-len(seqs), len(queue), err)
	default:
		return 0, fmt.Errorf("produce %d outbox records: %w", len(queue), err)
	}
}

func (r *Relay) failed(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failing == nil {
		r.since = time.Now()
		r.log.Warn("outbox relay cannot produce; retrying", "err", err)
	}
	r.failing = err
}

func (r *Relay) recovered() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failing != nil {
		r.log.Info("outbox relay produces again", "after", time.Since(r.since).Round(time.Millisecond))
	}
	r.failing = nil
}

// Ready is a readiness check: nil unless the last produce failed, in which
// case it says since when and how many records wait. The cause, which may
// name internal addresses, is in the log, not here.
func (r *Relay) Ready(ctx context.Context) error {
	r.mu.Lock()
	failing, since := r.failing, r.since
	r.mu.Unlock()
	if failing == nil {
		return nil
	}
	waiting := "records waiting"
	if left, err := r.outbox.Backlog(ctx); err == nil {
		waiting = fmt.Sprintf("%d records waiting", left)
	}
	return fmt.Errorf("outbox relay cannot produce for %s (%s); see the log", time.Since(since).Round(time.Second), waiting)
}
