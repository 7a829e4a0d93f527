package outbox

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kafkakit/kit/services/platform/sqldb"
	"github.com/kafkakit/kit/services/platform/stream"
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
	// Principal is the Kafka user the writer signs in as (svc's
	// KafkaSecurity.Username; "" without SASL). Ready names it beside a
	// topic the broker's ACLs refuse, so the missing grant is read off
	// /readyz.
	Principal string

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
	// readTo is the highest sequence number a read of the table returned.
	// A commit's records are in the table before Committed hands them
	// over, so a read can find, send and delete them first; a handed-over
	// record at or below readTo may be one of those (see unsent).
	readTo int64
	// Also Run's: the record streams the broker refused, held back until
	// their retry while the others go on (see held).
	heldTopics map[string]*held
	heldKeys   map[topicKey]*held
	nextRetry  time.Time // the earliest retry of a held stream; zero when none

	// pageRead, when set, runs after each page a read of the table gets
	// (tests: another transaction commits between two pages).
	pageRead func()

	mu      sync.Mutex
	failing error // the last round's error (reading the outbox), nil once one succeeds
	since   time.Time
	stuck   map[string]stuckTopic // what Ready reports of the held streams
}

// held is a stream of records the broker refused — one key of a topic (its
// partition refused it) or a whole topic (the produce call for it failed
// as a whole) — and when it is tried again. Its records stay in the table,
// in commit order, and none of them is sent before the retry, so a key's
// records still reach its partition in commit order; the records of other
// keys and topics are read past them and go on. The relay sees keys, not
// partitions (the Writer places records), so it holds back every key a
// refused partition refused: the same records as holding the partition.
type held struct {
	since, retry time.Time
	pause        time.Duration
	denied       string // the broker's refusal as stream.Denied says it; "" for other failures
}

type topicKey struct{ topic, key string }

// streams is a set of topics and of keys of a topic.
type streams struct {
	topics map[string]bool
	keys   map[topicKey]bool
}

// stuckTopic is what Ready says of a topic with held records: topic names
// and counts only, never a key or value (readiness bodies carry no user
// data).
type stuckTopic struct {
	since  time.Time
	whole  bool   // the topic as a whole is refused
	keys   int    // the keys held back, when it is not
	denied string // an ACL refusal: Kafka's code and the principal
}

// NewRelay returns a relay of o through w.
func NewRelay(o *Outbox, w Writer, log *slog.Logger) *Relay {
	r := &Relay{outbox: o, writer: w, log: log, Batch: 500, Drain: 5 * time.Second,
		RetryMin: 50 * time.Millisecond, RetryMax: time.Second, DeleteEvery: 50 * time.Millisecond,
		kick: make(chan struct{}, 1), sent: map[int64]bool{},
		heldTopics: map[string]*held{}, heldKeys: map[topicKey]*held{}}
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
	retryTimer := time.NewTimer(time.Hour)
	retryTimer.Stop()
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
		if !r.nextRetry.IsZero() {
			retryTimer.Reset(max(0, time.Until(r.nextRetry)))
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
		case <-retryTimer.C: // round sees the retry due and reads the table
		}
		deleteTimer.Stop()
		retryTimer.Stop()
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
// Committed handed over — and reports whether more may be waiting. A
// refused record does not fail the round: its stream is held (see held).
func (r *Relay) round(ctx context.Context) (bool, error) {
	if !r.lease.leading() {
		r.takeFast() // another instance relays the shared outbox
		if len(r.heldTopics)+len(r.heldKeys) > 0 {
			clear(r.heldTopics) // and its refusals, while it leads
			clear(r.heldKeys)
			r.report()
		}
		return false, nil
	}
	if len(r.sent) >= r.Batch {
		if err := r.deleteSent(ctx); err != nil {
			return false, err
		}
	}
	now := time.Now()
	if !r.nextRetry.IsZero() && !now.Before(r.nextRetry) {
		r.scan.Store(true) // a held stream's records are in the table only
	}
	var batch []Queued
	if r.scan.Load() {
		r.takeFast() // it is all in the table, read below
		var err error
		if batch, err = r.readBatch(ctx, now); err != nil {
			return false, err
		}
		r.recovered()
		if len(batch) == 0 {
			r.scan.Store(false)
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
		// A held stream's records wait behind its refused one, in the
		// table: they are read from there once it is retried.
		batch = slices.DeleteFunc(batch, func(q Queued) bool { return r.sent[q.seq] || r.isHeld(q, time.Time{}) })
		var err error
		if batch, err = r.unsent(ctx, batch); err != nil {
			return false, err
		}
		if len(batch) == 0 {
			return false, nil
		}
	}
	// Commit order: records that committed one after another may have
	// been handed over in the other order by concurrent callers.
	slices.SortFunc(batch, func(a, b Queued) int { return cmp.Compare(a.seq, b.seq) })
	// Another instance may have taken the lease since this round began:
	// PostgreSQL says, before anything is sent (see lease).
	if err := r.lease.confirm(ctx, r.outbox.db); err != nil {
		r.scan.Store(true) // what was taken from the fast path is in the table
		if errors.Is(err, errLeaseLost) {
			r.log.Warn("outbox lease lost: another instance leads; this one stops producing")
			return false, nil
		}
		return false, err
	}
	r.produce(ctx, batch)
	return true, nil
}

// readBatch reads the table oldest first for up to Batch records to send:
// neither acknowledged already nor of a stream held at now. It reads past
// held records, however many, so that one refused partition or topic
// does not keep the others' records from being read; every page in one
// snapshot of the table (Outbox.snapshot), so no page holds a
// transaction's later records without its earlier ones.
func (r *Relay) readBatch(ctx context.Context, now time.Time) ([]Queued, error) {
	read, end, err := r.outbox.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	var batch []Queued
	var after int64
	var seen *streams // the held streams that still have records
	if len(r.heldTopics)+len(r.heldKeys) > 0 {
		seen = &streams{topics: map[string]bool{}, keys: map[topicKey]bool{}}
	}
	for {
		rows, err := r.outbox.pending(ctx, read, after, r.Batch)
		if err != nil {
			return nil, err
		}
		if r.pageRead != nil {
			r.pageRead()
		}
		for _, q := range rows {
			r.readTo = max(r.readTo, q.seq)
			if seen != nil {
				seen.topics[q.msg.Topic] = true
				seen.keys[topicKey{q.msg.Topic, string(q.msg.Key)}] = true
			}
			if r.sent[q.seq] || r.isHeld(q, now) {
				continue
			}
			batch = append(batch, q)
			if len(batch) == r.Batch {
				return batch, nil
			}
		}
		if len(rows) < r.Batch {
			r.releaseGone(seen)
			return batch, nil
		}
		after = rows[len(rows)-1].seq
	}
}

// unsent drops from batch, handed over by Committed and not in sent, the
// records a read of the table already sent and deleted: a read at start,
// on the tick or on another instance's NOTIFY finds a commit's records
// before its handover, and a handover late by more than DeleteEvery (a
// loaded machine) would send them again. Only records at or below readTo
// can be such, and the table is asked about those alone, so the fast path
// reads nothing back for a commit no read found; a record the table no
// longer holds was acknowledged and deleted.
func (r *Relay) unsent(ctx context.Context, batch []Queued) ([]Queued, error) {
	var read []int64
	for _, q := range batch {
		if q.seq <= r.readTo {
			read = append(read, q.seq)
		}
	}
	if len(read) == 0 {
		return batch, nil
	}
	waiting, err := r.outbox.present(ctx, read)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(batch, func(q Queued) bool { return q.seq <= r.readTo && !waiting[q.seq] }), nil
}

// releaseGone ends the holds of streams a read of the whole table found no
// record of (another instance, leading meanwhile, sent them): nothing of
// them waits, and readiness would name them for good.
func (r *Relay) releaseGone(seen *streams) {
	if seen == nil {
		return
	}
	for topic := range r.heldTopics {
		if !seen.topics[topic] {
			delete(r.heldTopics, topic)
		}
	}
	for k := range r.heldKeys {
		if !seen.keys[k] {
			delete(r.heldKeys, k)
		}
	}
	r.report()
}

// isHeld reports whether q's stream is held at now; with a zero now,
// whether it is held at all, due for its retry or not.
func (r *Relay) isHeld(q Queued, now time.Time) bool {
	if len(r.heldTopics) == 0 && len(r.heldKeys) == 0 {
		return false
	}
	heldAt := func(h *held) bool { return h != nil && (now.IsZero() || now.Before(h.retry)) }
	return heldAt(r.heldTopics[q.msg.Topic]) || heldAt(r.heldKeys[topicKey{q.msg.Topic, string(q.msg.Key)}])
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
		if err != nil || !more {
			if err != nil || len(r.heldTopics)+len(r.heldKeys) > 0 {
				left, _ := r.outbox.Backlog(context.WithoutCancel(ctx))
				r.log.Warn("outbox not drained at shutdown; the rest is produced on the next start", "left", left-len(r.sent), "err", err)
			}
			break
		}
	}
	if err := r.deleteSent(context.WithoutCancel(ctx)); err != nil {
		r.log.Warn("produced records not deleted from the outbox at shutdown; the next start sends them again", "count", len(r.sent), "err", err)
	}
}

// produce sends batch, notes what the broker acknowledged for deletion and
// holds the streams of what it refused.
func (r *Relay) produce(ctx context.Context, batch []Queued) {
	refused, err := r.write(ctx, batch)
	if err != nil {
		topics := splitByTopic(batch)
		if len(topics) == 1 {
			r.hold(batch[0].msg.Topic, nil, err)
			r.report()
			return
		}
		// The call failed as a whole, which a single topic's failure
		// causes too (the producer finds no partitions for it, or may not
		// write it): each topic is tried on its own, so the others go on.
		for _, part := range topics {
			r.produce(ctx, part)
		}
		return
	}
	// A partition's records travel in one request and succeed or fail
	// together; a key whose record was refused stays held even if a later
	// record of it was taken, so nothing of it goes before the refused one
	// is retried.
	refusedKeys := map[topicKey]bool{}
	for i, q := range batch {
		if refused != nil && refused[i] != nil {
			k := topicKey{q.msg.Topic, string(q.msg.Key)}
			if !refusedKeys[k] {
				refusedKeys[k] = true
				r.hold(q.msg.Topic, q.msg.Key, refused[i])
			}
		}
	}
	for i, q := range batch {
		if refused == nil || refused[i] == nil {
			r.acknowledged(q.seq)
			if !refusedKeys[topicKey{q.msg.Topic, string(q.msg.Key)}] {
				r.release(q)
			}
		}
	}
	r.report()
}

// write sends batch in one call. It returns, when the broker refused some
// records, one error per record (nil for those it took), or an error when
// the call failed as a whole.
func (r *Relay) write(ctx context.Context, batch []Queued) (kafka.WriteErrors, error) {
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
		return nil, nil
	case errors.As(err, &partial) && len(partial) == len(batch):
		return partial, nil
	default:
		return nil, fmt.Errorf("produce %d outbox records: %w", len(batch), err)
	}
}

// splitByTopic returns batch's records per topic, each part in batch's
// order.
func splitByTopic(batch []Queued) [][]Queued {
	var parts [][]Queued
	at := map[string]int{}
	for _, q := range batch {
		i, ok := at[q.msg.Topic]
		if !ok {
			i = len(parts)
			at[q.msg.Topic] = i
			parts = append(parts, nil)
		}
		parts[i] = append(parts[i], q)
	}
	return parts
}

// hold holds topic's stream — key's, or with a nil key the whole topic's —
// until its retry, each refusal in a row pausing twice as long, from
// RetryMin up to RetryMax.
func (r *Relay) hold(topic string, key []byte, err error) {
	now := time.Now()
	var h *held
	if key == nil {
		if h = r.heldTopics[topic]; h == nil {
			h = &held{since: now}
			r.heldTopics[topic] = h
			r.log.Warn("outbox relay cannot produce to a topic; its records wait, the other topics go on", "topic", topic, "err", err)
		}
	} else {
		k := topicKey{topic, string(key)}
		if h = r.heldKeys[k]; h == nil {
			h = &held{since: now}
			r.heldKeys[k] = h
			r.log.Warn("outbox relay: a partition refused a record; that key's records wait, the others go on", "topic", topic, "err", err)
		}
	}
	h.denied = stream.Denied(err, r.Principal)
	h.pause = min(max(h.pause*2, r.RetryMin), r.RetryMax)
	h.retry = now.Add(h.pause)
}

// release ends the holds the acknowledgement of q proves over: its key's
// and its topic's.
func (r *Relay) release(q Queued) {
	if len(r.heldTopics) == 0 && len(r.heldKeys) == 0 {
		return
	}
	delete(r.heldTopics, q.msg.Topic)
	delete(r.heldKeys, topicKey{q.msg.Topic, string(q.msg.Key)})
}

// report recomputes the next retry and what Ready says of the held
// streams, once per produce call: nothing to do when none is held or was.
func (r *Relay) report() {
	if len(r.heldTopics) == 0 && len(r.heldKeys) == 0 && r.nextRetry.IsZero() {
		return
	}
	r.nextRetry = time.Time{}
	stuck := map[string]stuckTopic{}
	note := func(topic string, h *held, whole bool) {
		if r.nextRetry.IsZero() || h.retry.Before(r.nextRetry) {
			r.nextRetry = h.retry
		}
		s := stuck[topic]
		if s.since.IsZero() || h.since.Before(s.since) {
			s.since = h.since
		}
		if whole {
			s.whole = true
		} else {
			s.keys++
		}
		if h.denied != "" {
			s.denied = h.denied
		}
		stuck[topic] = s
	}
	for topic, h := range r.heldTopics {
		note(topic, h, true)
	}
	for k, h := range r.heldKeys {
		note(k.topic, h, false)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(stuck) == 0 && len(r.stuck) > 0 {
		r.log.Info("outbox relay produces every topic again")
	}
	r.stuck = stuck
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
		r.log.Warn("outbox relay cannot relay; retrying", "err", err)
	}
	r.failing = err
}

func (r *Relay) recovered() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failing != nil {
		r.log.Info("outbox relay relays again", "after", time.Since(r.since).Round(time.Millisecond))
	}
	r.failing = nil
}

// Ready is a readiness check: nil unless the relay is stalled or the
// broker refuses some of its records, in which case it names each refused
// topic, since when, how many of its records wait and how many of its keys
// are held back while the others go on. It names no key or value, and not
// the cause, which may name internal addresses: that is in the log — except
// an ACL refusal, whose fixed words (Kafka's code and the principal) say
// which grant is missing: the records wait in the outbox until it is given.
func (r *Relay) Ready(ctx context.Context) error {
	r.mu.Lock()
	failing, since, stuck := r.failing, r.since, r.stuck
	r.mu.Unlock()
	if failing == nil && len(stuck) == 0 {
		return nil
	}
	waiting, err := r.outbox.waiting(ctx)
	count := func(topic string) string {
		if err != nil {
			return "records waiting"
		}
		if topic == "" {
			n := 0
			for _, c := range waiting {
				n += c
			}
			return fmt.Sprintf("%d records waiting", n)
		}
		return fmt.Sprintf("%d records waiting", waiting[topic])
	}
	var problems []string
	if failing != nil {
		problems = append(problems, fmt.Sprintf("outbox relay stalled for %s (%s)", time.Since(since).Round(time.Second), count("")))
	}
	for _, topic := range slices.Sorted(maps.Keys(stuck)) {
		s := stuck[topic]
		which := "the topic refused"
		if !s.whole {
			which = fmt.Sprintf("%d keys held back, the others go on", s.keys)
		}
		if s.denied != "" {
			which += "; " + topic + ": " + s.denied
		}
		problems = append(problems, fmt.Sprintf("outbox relay cannot produce to %s for %s (%s; %s)", topic, time.Since(s.since).Round(time.Second), count(topic), which))
	}
	return fmt.Errorf("%s; see the log", strings.Join(problems, "; "))
}
