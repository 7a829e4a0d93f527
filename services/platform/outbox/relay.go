package outbox

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kafkakit/kit/services/platform/sqldb"
)

// Writer produces records and returns once the broker acknowledged them;
// *kafka.Writer (with no topic of its own: each record names one) is one.
type Writer interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Relay produces the outbox to Kafka. Committed hands it what a commit
// queued, and it sends that at once without reading it back from the table
// (the fast path); it deletes what the broker acknowledged in batches, off
// the latency path. It reads the table itself at start (what a previous run
// left), after a failed produce (what the fast path could not send) and
// when another instance's commit is announced (PostgreSQL's NOTIFY): so
// every committed record is sent, and at most once in the normal case.
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
	// DeleteEvery bounds how long acknowledged records stay in the table
	// (default 50 ms): a crash in between sends them again.
	DeleteEvery time.Duration

	kick  chan struct{}
	lease lease

	fastMu sync.Mutex
	fast   []Queued    // committed, handed over by Committed, not sent yet
	scan   atomic.Bool // read the table on the next round

	// Owned by Run's goroutine: what the broker acknowledged and the table
	// still holds, so a read of the table does not send it again, and what
	// the next delete removes.
	sent   map[int64]bool
	oldest time.Time // of sent

	mu      sync.Mutex
	failing error // the last produce's error, nil once one succeeds
	since   time.Time
}

// NewRelay returns a relay of o through w.
func NewRelay(o *Outbox, w Writer, log *slog.Logger) *Relay {
	r := &Relay{outbox: o, writer: w, log: log, Batch: 500, Drain: 5 * time.Second,
		RetryMin: 50 * time.Millisecond, RetryMax: time.Second, DeleteEvery: 50 * time.Millisecond,
		kick: make(chan struct{}, 1), sent: map[int64]bool{}}
	// A SQLite outbox has one instance, which always relays it.
	r.lease.held.Store(o.db.Dialect != sqldb.Postgres)
	r.scan.Store(true) // what a previous run left
	return r
}

// Committed hands the relay the records a transaction queued (what Put
// returned), once that transaction committed, and wakes it.
func (r *Relay) Committed(q []Queued) {
	if len(q) == 0 {
		return
	}
	if !r.lease.leading() {
		return // the leading instance reads them from the shared table
	}
	r.fastMu.Lock()
	r.fast = append(r.fast, q...)
	r.fastMu.Unlock()
	r.wake()
}

// Kick asks the relay to read the table for records committed elsewhere
// (another instance's commit, a leadership it just took). Kicks coalesce.
func (r *Relay) Kick() {
	r.scan.Store(true)
	r.wake()
}

func (r *Relay) wake() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Run relays until ctx is done, then keeps relaying for at most Drain
// while records wait. It returns nil: a broker that cannot take the
// records is waited out, never a reason to stop.
func (r *Relay) Run(ctx context.Context) error {
	// The lease outlives ctx until Run returns: a leader drains and deletes
	// what it sent before another instance may take over, or that one would
	// send the not yet deleted records again.
	leaseCtx, stopLease := context.WithCancel(context.WithoutCancel(ctx))
	leaseDone := make(chan struct{})
	go func() {
		defer close(leaseDone)
		r.lease.run(leaseCtx, r.outbox.db, r)
	}()
	defer func() { stopLease(); <-leaseDone }()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	deleteTimer := time.NewTimer(time.Hour)
	deleteTimer.Stop()
	pause := r.RetryMin
	for {
		more, err := r.round(ctx)
		switch {
		case ctx.Err() != nil:
			if r.lease.leading() {
				r.drain(context.WithoutCancel(ctx))
			}
			return nil
		case err != nil:
			r.failed(err)
			r.scan.Store(true) // what the fast path held is in the table
			select {
			case <-time.After(pause):
			case <-ctx.Done():
			}
			pause = min(pause*2, r.RetryMax)
			continue
		}
		pause = r.RetryMin
		if more {
			continue
		}
		if len(r.sent) > 0 {
			deleteTimer.Reset(max(0, r.DeleteEvery-time.Since(r.oldest)))
		}
		select {
		case <-ctx.Done():
		case <-r.kick:
		case <-tick.C:
			r.scan.Store(true) // a safety net; the reads are cheap when nothing waits
		case <-deleteTimer.C:
			if err := r.deleteSent(ctx); err != nil && ctx.Err() == nil {
				r.log.Warn("produced records not yet deleted from the outbox; trying again", "err", err)
			}
		}
		deleteTimer.Stop()
	}
}

// Start runs the relay in the background and returns what stops it. The
// relay does not stop with ctx: a service stops it last, after its HTTP
// server and consumers, so what they committed is sent (for at most Drain);
// stop returns once the relay has drained.
func (r *Relay) Start(ctx context.Context) (stop func()) {
	run, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = r.Run(run)
	}()
	return func() {
		cancel()
		<-done
	}
}

// round sends one batch — from the table when it must be read, else what
// Committed handed over — and reports whether more may be waiting.
func (r *Relay) round(ctx context.Context) (bool, error) {
	if !r.lease.leading() {
		r.takeFast() // another instance relays the shared outbox
		return false, nil
	}
	if len(r.sent) >= r.Batch {
		if err := r.deleteSent(ctx); err != nil {
			return false, err
		}
	}
	var batch []Queued
	if r.scan.Load() {
		r.takeFast() // it is all in the table, read below
		rows, err := r.outbox.pending(ctx, r.Batch+len(r.sent))
		if err != nil {
			return false, err
		}
		for _, q := range rows {
			if !r.sent[q.seq] && len(batch) < r.Batch {
				batch = append(batch, q)
			}
		}
		if len(batch) == 0 {
			r.scan.Store(false)
			r.recovered()
			return false, nil
		}
	} else {
		batch = r.takeFast()
		if len(batch) > r.Batch { // keep the rest for the next round
			r.fastMu.Lock()
			r.fast = append(batch[r.Batch:], r.fast...)
			r.fastMu.Unlock()
			batch = batch[:r.Batch]
		}
		batch = slices.DeleteFunc(batch, func(q Queued) bool { return r.sent[q.seq] })
		if len(batch) == 0 {
			return false, nil
		}
	}
	// Commit order: records that committed one after another may have
	// been handed over in the other order by concurrent callers.
	slices.SortFunc(batch, func(a, b Queued) int { return cmp.Compare(a.seq, b.seq) })
	if err := r.produce(ctx, batch); err != nil {
		return false, err
	}
	r.recovered()
	return true, nil
}

// takeFast empties the fast path.
func (r *Relay) takeFast() []Queued {
	r.fastMu.Lock()
	defer r.fastMu.Unlock()
	batch := r.fast
	r.fast = nil
	return batch
}

// drain sends what is queued until nothing is, Drain passes or a produce
// fails, then deletes what was sent.
func (r *Relay) drain(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, r.Drain)
	defer cancel()
	r.scan.Store(true) // read the table: everything committed is there
	for {
		more, err := r.round(ctx)
		if err != nil {
			left, _ := r.outbox.Backlog(context.WithoutCancel(ctx))
			r.log.Warn("outbox not drained at shutdown; the rest is produced on the next start", "left", left-len(r.sent), "err", err)
			break
		}
		if !more {
			break
		}
	}
	if err := r.deleteSent(context.WithoutCancel(ctx)); err != nil {
		r.log.Warn("produced records not deleted from the outbox at shutdown; the next start sends them again", "count", len(r.sent), "err", err)
	}
}

// produce sends batch and notes what the broker acknowledged for deletion.
func (r *Relay) produce(ctx context.Context, batch []Queued) error {
	// Each record carries the time it was sent (CreateTime): the moment it
	// left for the broker, from which a reader can time each hop.
	msgs := make([]kafka.Message, len(batch))
	now := time.Now()
	for i, q := range batch {
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
	err := r.writer.WriteMessages(write, msgs...)
	var partial kafka.WriteErrors
	switch {
	case err == nil:
		for _, q := range batch {
			r.acknowledged(q.seq)
		}
		return nil
	case errors.As(err, &partial) && len(partial) == len(batch):
		// Some partitions took their records: those are done, only the
		// rest is sent again. A partition's records travel in one request
		// and succeed or fail together, so per-key order holds.
		took := 0
		for i, q := range batch {
			if partial[i] == nil {
				r.acknowledged(q.seq)
				took++
			}
		}
		return fmt.Errorf("produce %d of %d outbox records: %w", len(batch)-took, len(batch), err)
	default:
		return fmt.Errorf("produce %d outbox records: %w", len(batch), err)
	}
}

func (r *Relay) acknowledged(seq int64) {
	if len(r.sent) == 0 {
		r.oldest = time.Now()
	}
	r.sent[seq] = true
}

// deleteSent removes from the table what the broker acknowledged.
func (r *Relay) deleteSent(ctx context.Context) error {
	if len(r.sent) == 0 {
		return nil
	}
	if err := r.outbox.remove(context.WithoutCancel(ctx), slices.Collect(maps.Keys(r.sent))); err != nil {
		return err
	}
	clear(r.sent)
	return nil
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
