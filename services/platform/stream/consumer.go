package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kafkakit/kit/services/events"
)

// Handler applies one record. It returns nil once the effect is durable. An
// error wrapped with Permanent sends the record to its dead-letter topic; any
// other error is treated as transient and retried with backoff, because
// dropping a record is never an option for at-least-once delivery.
type Handler func(ctx context.Context, m kafka.Message) error

type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as one no retry can fix: the record is dead-lettered.
func Permanent(err error) error { return permanentError{err} }

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// JSON adapts a typed handler: the record's value is checked by validate
// (for example Conforms to the topic's schema; nil to skip) and decoded into
// T. A record that fails either is permanent and goes to the dead-letter topic.
func JSON[T any](validate func(raw []byte) error, h func(ctx context.Context, v T) error) Handler {
	return func(ctx context.Context, m kafka.Message) error {
		if validate != nil {
			if err := validate(m.Value); err != nil {
				return Permanent(fmt.Errorf("invalid %s value: %w", m.Topic, err))
			}
		}
		var v T
		if err := json.Unmarshal(m.Value, &v); err != nil {
			return Permanent(fmt.Errorf("decode %s value: %w", m.Topic, err))
		}
		return h(ctx, v)
	}
}

// Fetcher is the part of *kafka.Reader (in consumer-group mode) the Consumer uses.
type Fetcher interface {
	FetchMessage(ctx context.Context) (kafka.Message, error)
	CommitMessages(ctx context.Context, msgs ...kafka.Message) error
}

// MessageWriter is the part of *kafka.Writer the Consumer uses for dead letters.
type MessageWriter interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Consumer runs Handler over the records Fetcher delivers, with at-least-once
// semantics: an offset is committed only after the handler succeeded (or the
// record was dead-lettered) for it and for every earlier offset of its
// partition.
//
// Records run concurrently, up to MaxInFlight, but records with the same key
// run one after another in offset order, so per-key (per-order) ordering holds
// while one slow order does not hold up the others. Commits are batched: a
// single committer sends the newest contiguous offset of each partition.
type Consumer struct {
	Fetcher Fetcher
	Handler Handler
	// DLQ receives records the handler marked Permanent, on <topic>.dlq.
	DLQ   MessageWriter
	Group string
	Log   *slog.Logger
	// MaxInFlight bounds the records fetched but not yet applied (default 256).
	MaxInFlight int
	// RetryMin and RetryMax bound the backoff between attempts of a
	// transient failure (defaults 50 ms and 5 s).
	RetryMin, RetryMax time.Duration
	// CommitEvery is the least time between two commits (default 50 ms).
	// Commits are off the latency path, and under load committing on every
	// step forward would cost the broker a write to __consumer_offsets per
	// record; after a crash at most this much more work is redelivered.
	CommitEvery time.Duration
	// Drain is how long Run lets in-flight records finish after ctx is done
	// before cancelling them (default 5 s). Cancelled records are not
	// committed and will be delivered again.
	Drain time.Duration

	reader  *GroupReader   // set by NewConsumer
	closers []func() error // set by NewConsumer

	mu       sync.Mutex
	lanes    map[string]*lane
	trackers map[topicPartition]*tracker
	ready    map[topicPartition]int64 // newest committable offset per partition
	wake     chan struct{}
	inFlight sync.WaitGroup
}

type topicPartition struct {
	topic     string
	partition int
}

// tracker follows the offsets of one partition in one consumer generation.
type tracker struct {
	tp       topicPartition
	pending  []int64 // fetched, in offset order
	done     map[int64]bool
	last     int64 // highest offset fetched
	detached bool  // replaced after a rebalance; its completions commit nothing
}

type job struct {
	msg     kafka.Message
	tracker *tracker
	release func() // frees the job's in-flight slot
}

// lane runs the jobs of one key in order.
type lane struct{ queue []job }

// Run consumes until ctx is done or fetching fails for good, then drains,
// commits what finished and returns. It returns nil on a clean shutdown.
func (c *Consumer) Run(ctx context.Context) error {
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 256
	}
	if c.RetryMin <= 0 {
		c.RetryMin = 50 * time.Millisecond
	}
	if c.RetryMax <= 0 {
		c.RetryMax = 5 * time.Second
	}
	if c.Drain <= 0 {
		c.Drain = 5 * time.Second
	}
	if c.CommitEvery <= 0 {
		c.CommitEvery = 50 * time.Millisecond
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	c.lanes = map[string]*lane{}
	c.trackers = map[topicPartition]*tracker{}
	c.ready = map[topicPartition]int64{}
	c.wake = make(chan struct{}, 1)

	// Handlers outlive ctx by Drain so a shutdown finishes what it started.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	commitCtx, stopCommitter := context.WithCancel(context.WithoutCancel(ctx))
	committerDone := make(chan struct{})
	go func() {
		defer close(committerDone)
		c.commitLoop(commitCtx)
	}()

	slots := make(chan struct{}, c.MaxInFlight)
	var fetchErr error
	backoff := c.RetryMin
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		m, err := c.Fetcher.FetchMessage(ctx)
		if err != nil {
			<-slots
			if ctx.Err() != nil {
				break
			}
			if errors.Is(err, io.EOF) { // the reader was closed
				fetchErr = fmt.Errorf("fetch: reader closed: %w", err)
				break
			}
			// kafka-go reports a broker or coordinator it cannot reach yet
			// keeps trying underneath: a broker restart is no reason to stop.
			c.Log.Warn("fetch failed; retrying", "group", c.Group, "retryIn", backoff, "err", err)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
			}
			backoff = min(backoff*2, c.RetryMax)
			continue
		}
		backoff = c.RetryMin
		c.dispatch(work, m, func() { <-slots })
	}

	drained := make(chan struct{})
	go func() { c.inFlight.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(c.Drain):
		c.Log.Warn("consumer drain timed out; unfinished records will be redelivered", "group", c.Group)
		cancelWork()
		<-drained
	}
	stopCommitter()
	<-committerDone
	// One last synchronous commit of whatever finished during the drain.
	finalCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := c.commit(finalCtx); err != nil {
		c.Log.Warn("final commit failed; records since the last commit will be redelivered", "group", c.Group, "err", err)
	}
	return fetchErr
}

func (c *Consumer) dispatch(ctx context.Context, m kafka.Message, release func()) {
	tp := topicPartition{m.Topic, m.Partition}
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.trackers[tp]
	if t == nil || m.Offset <= t.last {
		// A first record, or kafka-go restarted the partition from its
		// committed offset after a rebalance: the old bookkeeping no longer
		// describes what may be committed.
		if t != nil {
			t.detached = true
		}
		t = &tracker{tp: tp, done: map[int64]bool{}, last: -1}
		c.trackers[tp] = t
	}
	t.pending = append(t.pending, m.Offset)
	t.last = m.Offset

	c.inFlight.Add(1)
	j := job{msg: m, tracker: t, release: release}
	key := m.Topic + "\x00" + string(m.Key)
	if l, busy := c.lanes[key]; busy {
		l.queue = append(l.queue, j)
		return
	}
	l := &lane{queue: []job{j}}
	c.lanes[key] = l
	go c.runLane(ctx, key, l)
}

// runLane applies the jobs of one key in order until the lane is empty.
func (c *Consumer) runLane(ctx context.Context, key string, l *lane) {
	for {
		c.mu.Lock()
		if len(l.queue) == 0 {
			delete(c.lanes, key)
			c.mu.Unlock()
			return
		}
		j := l.queue[0]
		l.queue = l.queue[1:]
		c.mu.Unlock()

		if c.apply(ctx, j.msg) {
			c.complete(j)
		}
		j.release()
		c.inFlight.Done()
	}
}

// apply runs the handler until it succeeds or the record is dead-lettered,
// and reports whether the record may be committed.
func (c *Consumer) apply(ctx context.Context, m kafka.Message) bool {
	log := c.Log.With("topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "key", string(m.Key))
	delay := c.RetryMin
	for attempt := 1; ; attempt++ {
		err := c.Handler(ctx, m)
		if err == nil {
			return true
		}
		if IsPermanent(err) {
			err = c.deadLetter(ctx, m, err)
			if err == nil {
				return true
			}
		}
		if ctx.Err() != nil {
			log.Warn("record abandoned at shutdown; it will be redelivered", "err", err)
			return false
		}
		log.Warn("record failed; retrying", "attempt", attempt, "retryIn", delay, "err", err)
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return false
		}
		delay = min(delay*2, c.RetryMax)
	}
}

// deadLetter writes m to <topic>.dlq with the cause and its origin in
// headers, so the partition moves on and an operator can replay it later.
func (c *Consumer) deadLetter(ctx context.Context, m kafka.Message, cause error) error {
	if c.DLQ == nil {
		return fmt.Errorf("no dead-letter writer for %w", cause)
	}
	dlq := kafka.Message{
		Topic: events.DLQ(m.Topic),
		Key:   m.Key,
		Value: m.Value,
		Headers: append(append([]kafka.Header(nil), m.Headers...),
			kafka.Header{Key: events.HeaderDLQError, Value: []byte(cause.Error())},
			kafka.Header{Key: events.HeaderDLQSourceTopic, Value: []byte(m.Topic)},
			kafka.Header{Key: events.HeaderDLQSourcePartition, Value: []byte(strconv.Itoa(m.Partition))},
			kafka.Header{Key: events.HeaderDLQSourceOffset, Value: []byte(strconv.FormatInt(m.Offset, 10))},
			kafka.Header{Key: events.HeaderDLQConsumerGroup, Value: []byte(c.Group)},
		),
	}
	if err := c.DLQ.WriteMessages(ctx, dlq); err != nil {
		return fmt.Errorf("dead-letter to %s: %w", dlq.Topic, err)
	}
	c.Log.Error("record dead-lettered", "topic", m.Topic, "partition", m.Partition, "offset", m.Offset,
		"key", string(m.Key), "dlq", dlq.Topic, "err", cause)
	return nil
}

// complete marks j done and advances its partition's committable offset
// past every contiguous finished record.
func (c *Consumer) complete(j job) {
	c.mu.Lock()
	t := j.tracker
	t.done[j.msg.Offset] = true
	advanced := false
	for len(t.pending) > 0 && t.done[t.pending[0]] {
		if !t.detached {
			c.ready[t.tp] = t.pending[0]
			advanced = true
		}
		delete(t.done, t.pending[0])
		t.pending = t.pending[1:]
	}
	c.mu.Unlock()
	if advanced {
		c.wakeCommitter()
	}
}

// commitLoop commits whenever offsets advanced, at most once per
// CommitEvery, coalescing everything that finished in between.
func (c *Consumer) commitLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		}
		if err := c.commit(ctx); err != nil && ctx.Err() == nil {
			c.Log.Warn("commit failed; retrying", "group", c.Group, "err", err)
			c.wakeCommitter()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(c.CommitEvery):
		}
	}
}

// wakeCommitter asks for a commit without blocking; asks coalesce.
func (c *Consumer) wakeCommitter() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *Consumer) commit(ctx context.Context) error {
	c.mu.Lock()
	msgs := make([]kafka.Message, 0, len(c.ready))
	for tp, off := range c.ready {
		msgs = append(msgs, kafka.Message{Topic: tp.topic, Partition: tp.partition, Offset: off})
	}
	clear(c.ready)
	c.mu.Unlock()
	if len(msgs) == 0 {
		return nil
	}
	if err := c.Fetcher.CommitMessages(ctx, msgs...); err != nil {
		// Put the offsets back unless newer ones arrived meanwhile.
		c.mu.Lock()
		for _, m := range msgs {
			tp := topicPartition{m.Topic, m.Partition}
			if cur, ok := c.ready[tp]; !ok || cur < m.Offset {
				c.ready[tp] = m.Offset
			}
		}
		c.mu.Unlock()
		return err
	}
	return nil
}
