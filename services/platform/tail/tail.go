// Package tail reads a topic directly, partition by partition, without a
// consumer group: nothing is committed, so a tail changes nothing for anyone.
// notifications-api follows orders.status and the event flow's topics with
// it, and `kit tail` prints records with it.
package tail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kafkakit/kit/services/platform/metrics"
	"github.com/kafkakit/kit/services/platform/stream"
)

// Tail reads every partition of one topic directly, without a consumer
// group. A browser's stream may land on any notifications-api instance, so
// every instance must see every status: a shared group would split the
// partitions between instances and each would see only part of the orders.
// On start it replays the topic from Start's choice of offset, then follows
// it live; Ready reports once the replay reached the end it saw at start.
type Tail struct {
	Brokers []string
	// Dialer connects as the service's KafkaSecurity says; nil is plaintext.
	Dialer *kafka.Dialer
	Topic  string
	// Start picks where to begin in a partition from its first and end offsets.
	Start func(first, end int64) int64
	// From, when not nil, is where to begin in the partitions it names,
	// fixed before the tail runs: a test that makes a tail and then writes
	// sees exactly what it wrote. Start decides for the other partitions.
	From map[int]int64
	// Handle gets each record; the partitions are read side by side, so it
	// may be called from several goroutines at once.
	Handle func(kafka.Message)
	Log    *slog.Logger

	next     sync.Map // partition -> next offset to read, to resume after a restart
	caughtUp atomic.Bool
	pending  atomic.Int64 // partitions still replaying
	mu       sync.Mutex
	lastErr  error // why the tail is not running, or nil
}

// Ready is a readiness check: nil once the history present at start is loaded.
func (t *Tail) Ready(context.Context) error {
	if t.caughtUp.Load() {
		return nil
	}
	if err := t.Err(); err != nil {
		return err
	}
	return fmt.Errorf("%s: replay in progress, %d partitions to go", t.Topic, t.pending.Load())
}

// Err is why the tail last stopped reading (it is retrying), or nil while
// it reads.
func (t *Tail) Err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lastErr
}

// Run follows the topic until ctx is done, retrying while the broker or the
// topic is not there yet.
func (t *Tail) Run(ctx context.Context) error {
	delay := 100 * time.Millisecond
	for {
		err := t.follow(ctx)
		if ctx.Err() != nil {
			return nil
		}
		t.setErr(err)
		t.Log.Warn("tail stopped; retrying", "topic", t.Topic, "retryIn", delay, "err", err)
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return nil
		}
		delay = min(delay*2, 5*time.Second)
	}
}

func (t *Tail) follow(ctx context.Context) error {
	transport := &kafka.Transport{}
	stream.SecureTransport(transport, t.Dialer)
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(t.Brokers...), Timeout: 5 * time.Second, Transport: transport}
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{t.Topic}})
	if err != nil {
		// The transport says "unexpected EOF" for a refused password; a
		// dial says what Kafka answered, and which broker.
		if rerr := stream.Reachable(ctx, t.Brokers, t.Dialer); rerr != nil {
			return fmt.Errorf("%s: %w", t.Topic, rerr)
		}
		return fmt.Errorf("%s: broker %s unreachable: %w", t.Topic, strings.Join(t.Brokers, ","), err)
	}
	if len(meta.Topics) != 1 || meta.Topics[0].Error != nil || len(meta.Topics[0].Partitions) == 0 {
		return fmt.Errorf("topic %s not found", t.Topic)
	}
	var req []kafka.OffsetRequest
	for _, p := range meta.Topics[0].Partitions {
		req = append(req, kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID))
	}
	offs, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{t.Topic: req}})
	if err != nil {
		return fmt.Errorf("%s: list offsets: %w", t.Topic, err)
	}
	parts := offs.Topics[t.Topic]
	if t.caughtUp.Load() {
		t.pending.Store(0)
	} else {
		t.pending.Store(int64(len(parts)))
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, len(parts))
	for _, p := range parts {
		if p.Error != nil {
			return fmt.Errorf("offsets of %s/%d: %w", t.Topic, p.Partition, p.Error)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			from, fixed := t.From[p.Partition]
			if !fixed {
				from = t.Start(p.FirstOffset, p.LastOffset)
			}
			if next, ok := t.next.Load(p.Partition); ok {
				// Resume where the last run stopped, unless Start's choice
				// is further on (the flow's tails skip what is no longer
				// recent after a pause).
				from = max(from, next.(int64))
			}
			errs <- t.partition(ctx, p.Partition, from, p.LastOffset)
			cancel() // one partition failing restarts them all
		}()
	}
	t.setErr(nil)
	if len(parts) == 0 {
		t.caughtUp.Store(true)
	}
	wg.Wait()
	return errors.Join(<-errs)
}

func (t *Tail) partition(ctx context.Context, partition int, from, end int64) error {
	t.next.Store(partition, from) // the position until a record is read
	replaying := !t.caughtUp.Load()
	done := func() {
		if replaying {
			replaying = false
			if t.pending.Add(-1) == 0 {
				t.caughtUp.Store(true)
			}
		}
	}
	if from >= end {
		done()
	}
	return Read(ctx, t.Brokers, t.Dialer, t.Topic, partition, from, -1, func(m kafka.Message) error {
		t.Handle(m)
		t.next.Store(partition, m.Offset+1)
		if m.Offset+1 >= end {
			done()
		}
		return nil
	}, nil) // Run retries, and says so on /readyz meanwhile
}

// Positions is where the tail stands in each partition it has opened, for
// kafkakit_consumer_lag.
func (t *Tail) Positions() []metrics.Position {
	var out []metrics.Position
	t.next.Range(func(p, next any) bool {
		out = append(out, metrics.Position{Topic: t.Topic, Partition: p.(int), Next: next.(int64), End: -1})
		return true
	})
	return out
}

func (t *Tail) setErr(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lastErr = err
}

// Read reads one partition of topic directly, without a consumer group (so
// nothing is committed), from offset from, handing each record to fn in
// offset order. It returns nil once the record before until was handed on
// (until -1: never) or ctx has ended, fn's error as it is, or why a read
// failed. With retrying given, an error the broker calls retriable (no
// leader during an election, a broker restarting) or a lost connection does
// not end the read: it goes to retrying and the reader tries again, as a
// console consumer waits out an election; with retrying nil it ends the read
// like any other, for a caller that retries itself (Tail.Run). dialer nil is
// plaintext.
func Read(ctx context.Context, brokers []string, dialer *kafka.Dialer, topic string, partition int, from, until int64,
	fn func(kafka.Message) error, retrying func(error)) error {
	if until >= 0 && from >= until {
		return nil
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: brokers, Dialer: dialer, Topic: topic, Partition: partition,
		MinBytes: 1, MaxBytes: 10 << 20, MaxWait: stream.MaxWait,
		ReadBackoffMin: stream.ReadBackoffMin, ReadBackoffMax: time.Second,
	})
	// kafka-go's Reader.Close waits for the fetch in flight, which no
	// context cancels: up to MaxWait (1 s) after ctx ended. Whoever stopped
	// the tail (a feature's scenario, kit tail, the flow going idle) gets on
	// at once; the reader lets go of its connection within that second.
	defer func() { go r.Close() }()
	if err := r.SetOffset(from); err != nil {
		return err
	}
	for {
		m, err := r.ReadMessage(ctx) // no group: nothing is committed
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			err = fmt.Errorf("read %s/%d: %w", topic, partition, err)
			if retrying != nil && stream.Retriable(err) {
				// kafka-go's reader goes on trying by itself, with its
				// backoff; it only reported this one.
				retrying(err)
				continue
			}
			return err
		}
		if err := fn(m); err != nil {
			return err
		}
		if until >= 0 && m.Offset+1 >= until {
			return nil
		}
	}
}
