package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kafkakit/kit/services/platform/schemaid"
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

// Result is what one attempt at a record came to.
type Result string

const (
	ResultOK         Result = "ok"          // applied; committable
	ResultRetry      Result = "retry"       // failed transiently; tried again after a backoff
	ResultDeadLetter Result = "dead_letter" // failed for good; written to <topic>.dlq, committable
	ResultCancelled  Result = "cancelled"   // abandoned by a drain; redelivered later
)

// Outcome describes one attempt at one record, for metrics and tracing.
type Outcome struct {
	Group     string
	Topic     string
	Partition int
	Offset    int64
	Attempt   int // 1 for the first
	Duration  time.Duration
	Result    Result
	Err       error // the handler's error, nil when Result is ResultOK
}

// Assignment is one partition the member consumes in its current generation.
type Assignment struct {
	Topic      string
	Partition  int
	Generation int32
	// Committed is the next offset the group resumes from, as the
	// coordinator last stored it; -1 while unknown (never committed).
	Committed int64
	// HighWatermark is the partition's end offset as of the newest fetch;
	// -1 while unknown. Lag is HighWatermark - Committed.
	HighWatermark int64
}

// ConsumerConfig says how a Consumer reads. Zero values take the defaults.
type ConsumerConfig struct {
	Brokers []string
	// Dialer connects the group, its partition readers and its dead-letter
	// producer: TLS and SASL when the cluster asks for them (svc's
	// KafkaSecurity.Dialer). nil is plaintext with kafka-go's defaults.
	Dialer *kafka.Dialer
	Group  string
	// Schemas resolves the schema ids of framed records (every record the
	// kit produces): each record is checked against its writer's version
	// of the contract, and one without the framing, or with an id the
	// registry does not know, is dead-lettered saying so. nil reads
	// unframed JSON (the consumer's own tests).
	Schemas *schemaid.Registry
	// Principal is the Kafka user Dialer signs in as ("" without SASL):
	// Stuck names it beside a partition the broker's ACLs refuse to fetch.
	Principal string
	// MaxInFlight bounds the records applied concurrently (default 256).
	MaxInFlight int
	// MaxUncommitted bounds, per partition, the records fetched but not yet
	// committable (default 512). A partition whose window is full stops
	// fetching until its oldest record finishes: backpressure, not growth.
	MaxUncommitted int
	// StuckAfter is how long a record may keep failing before Stuck reports
	// it (default 10 s); a full window behind a failing record is reported
	// at once. It also bounds how long Joined tolerates a rebalance.
	StuckAfter time.Duration
	// RetryMin and RetryMax bound the backoff between attempts of a
	// transient failure (defaults 50 ms and 5 s).
	RetryMin, RetryMax time.Duration
	// CommitEvery is the least time between two commits (default 50 ms).
	// Commits are off the latency path, and under load committing on every
	// step forward would cost the broker a write to __consumer_offsets per
	// record; after a crash at most this much more work is redelivered.
	CommitEvery time.Duration
	// Drain is how long Run lets in-flight records finish at shutdown
	// before cancelling them (default 5 s); on a rebalance it is at most
	// 3 s, which keeps the member within its session. Cancelled records
	// are not committed and will be delivered again.
	Drain time.Duration
	Log   *slog.Logger
	// Observe, when set, is called after every attempt at a record, with
	// what it came to (metrics.Observe; see Consumer.chain for where).
	Observe func(Outcome)
	// Middleware wraps the handler of every route, inside the kit's own
	// (retry, metrics, dead-lettering: see Consumer.chain), once per
	// attempt; the first is outermost. tracing.Consumer goes here.
	Middleware []Middleware
}

// Consumer is one member of a consumer group over one or more topics, each
// routed to its handler, with at-least-once semantics: an offset is
// committed only after the handler succeeded (or the record was
// dead-lettered) for it and for every earlier offset of its partition, and
// only through the generation that fetched the record, so work finishing
// after its partitions were revoked never moves another member's offset.
//
// Records run concurrently, up to MaxInFlight, but records with the same key
// in one topic run one after another in offset order, so per-key (per-order)
// ordering holds while one slow order does not hold up the others.
type Consumer struct {
	cfg     ConsumerConfig
	log     *slog.Logger
	topics  []string
	routes  map[string]Handler // by topic: decoding and the typed handler, before Consumer.chain
	group   memberGroup
	open    func(topic string, partition int, offset int64) partitionFetcher
	dlq     messageWriter
	closers []func() error
	// logEvery spaces the log lines about one failing record or partition.
	logEvery time.Duration
	// cancelGrace is how long a drain waits for cancelled handlers to
	// return before it gives up on them.
	cancelGrace time.Duration

	mu       sync.Mutex
	current  *genRun   // the generation being consumed; nil between generations
	joined   bool      // in a generation at least once
	outSince time.Time // when the member was last without a generation
	joinErr  error     // the last error joining the group
}

// messageWriter is the part of *kafka.Writer the Consumer uses for dead letters.
type messageWriter interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// NewConsumer joins cfg.Group on the routes' topics. Every record is checked
// against its route's contract, decoded and handed to the route's handler;
// what fails the first two is dead-lettered. Run it, then Close it.
func NewConsumer(cfg ConsumerConfig, routes ...Route) (*Consumer, error) {
	c, err := newConsumer(cfg, routes)
	if err != nil {
		return nil, err
	}
	group, err := newKafkaGroup(c.cfg.Brokers, c.cfg.Dialer, c.cfg.Group, c.topics)
	if err != nil {
		return nil, fmt.Errorf("consumer group %s: %w", c.cfg.Group, err)
	}
	dlq := NewProducer(c.cfg.Brokers, "", ProducerConfig{Dialer: c.cfg.Dialer})
	c.group = group
	c.open = openPartitionReader(c.cfg.Brokers, c.cfg.Dialer)
	c.dlq = dlq
	c.closers = []func() error{group.Close, dlq.Close}
	return c, nil
}

// newConsumer checks cfg and routes and applies the defaults; the group,
// the partition readers and the dead-letter writer are the caller's.
func newConsumer(cfg ConsumerConfig, routes []Route) (*Consumer, error) {
	var problems []string
	if len(cfg.Brokers) == 0 {
		problems = append(problems, "no brokers")
	}
	if cfg.Group == "" {
		problems = append(problems, "no group")
	}
	if len(routes) == 0 {
		problems = append(problems, "no routes")
	}
	for name, v := range map[string]int{"MaxInFlight": cfg.MaxInFlight, "MaxUncommitted": cfg.MaxUncommitted} {
		if v < 0 {
			problems = append(problems, fmt.Sprintf("%s %d is negative", name, v))
		}
	}
	for name, d := range map[string]time.Duration{"StuckAfter": cfg.StuckAfter, "RetryMin": cfg.RetryMin,
		"RetryMax": cfg.RetryMax, "CommitEvery": cfg.CommitEvery, "Drain": cfg.Drain} {
		if d < 0 {
			problems = append(problems, fmt.Sprintf("%s %v is negative", name, d))
		}
	}
	byTopic := map[string]Handler{}
	var topics []string
	for _, r := range routes {
		switch {
		case r.Topic == "":
			problems = append(problems, "a route without a topic")
			continue
		case byTopic[r.Topic] != nil:
			problems = append(problems, fmt.Sprintf("topic %s routed twice", r.Topic))
			continue
		case r.bind == nil:
			problems = append(problems, fmt.Sprintf("route for %s has no handler (build it with On)", r.Topic))
			continue
		}
		h, err := r.bind(cfg.Schemas)
		if err != nil {
			problems = append(problems, fmt.Sprintf("route for %s: %v", r.Topic, err))
			continue
		}
		byTopic[r.Topic] = h
		topics = append(topics, r.Topic)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("consumer %s: %s", cfg.Group, strings.Join(problems, "; "))
	}
	cfg.MaxInFlight = cmp0(cfg.MaxInFlight, 256)
	cfg.MaxUncommitted = cmp0(cfg.MaxUncommitted, 512)
	cfg.StuckAfter = cmp0(cfg.StuckAfter, 10*time.Second)
	cfg.RetryMin = cmp0(cfg.RetryMin, 50*time.Millisecond)
	cfg.RetryMax = max(cmp0(cfg.RetryMax, 5*time.Second), cfg.RetryMin)
	cfg.CommitEvery = cmp0(cfg.CommitEvery, 50*time.Millisecond)
	cfg.Drain = cmp0(cfg.Drain, 5*time.Second)
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Consumer{
		cfg:         cfg,
		log:         cfg.Log.With("group", cfg.Group),
		topics:      topics,
		routes:      byTopic,
		logEvery:    time.Minute,
		cancelGrace: time.Second,
	}, nil
}

// cmp0 is v, or def when v is zero.
func cmp0[T int | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// Run consumes until ctx is done, one generation after another: it fetches
// the partitions each generation assigns, commits through that generation,
// and when the generation ends stops fetching, lets in-flight records
// finish for a bounded drain, makes a final commit and only then lets the
// member rejoin. At shutdown it drains, commits, leaves the group and
// returns nil. Call Run once.
func (c *Consumer) Run(ctx context.Context) error {
	c.mu.Lock()
	c.outSince = time.Now()
	c.mu.Unlock()
	var joinLog logLimiter
	backoff := c.cfg.RetryMin
	for ctx.Err() == nil {
		gen, err := c.group.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if errors.Is(err, kafka.ErrGroupClosed) {
				return fmt.Errorf("consumer group %s: closed while running", c.cfg.Group)
			}
			c.mu.Lock()
			c.joinErr = err
			c.mu.Unlock()
			if joinLog.allow(time.Now(), c.logEvery) {
				level := slog.LevelWarn
				if errors.Is(err, kafka.RebalanceInProgress) {
					level = slog.LevelInfo
				}
				c.log.Log(ctx, level, "joining the consumer group failed; retrying", "err", err)
			}
			if !sleep(ctx.Done(), backoff) {
				break
			}
			backoff = min(backoff*2, time.Second)
			continue
		}
		backoff = c.cfg.RetryMin
		joinLog = logLimiter{}
		c.consume(ctx, gen)
	}
	// Leaving hands the partitions to the other members now rather than
	// after the session timeout.
	if err := c.group.Close(); err != nil {
		c.log.Warn("leaving the consumer group failed", "err", err)
	}
	return nil
}

// consume runs one generation and returns once its final commit is done.
func (c *Consumer) consume(ctx context.Context, gen generation) {
	g := newGenRun(c, gen)
	committed := make(chan struct{})
	gen.Start(func(genCtx context.Context) {
		g.run(ctx, genCtx)
		close(committed)
		// At shutdown the generation is still alive here: Run closes the
		// group once the final commit is done, which ends the generation
		// and makes the member leave instead of rejoining.
		<-genCtx.Done()
	})
	<-committed
}

// enter makes g the current generation and tells the log.
func (c *Consumer) enter(g *genRun) {
	c.mu.Lock()
	c.current = g
	c.joined = true
	c.joinErr = nil
	c.mu.Unlock()
	c.log.Info("consumer joined its group", "generation", g.id, "member", g.gen.Member(),
		"partitions", g.describe(func(*partition) string { return "" }))
}

// leave records that g is over.
func (c *Consumer) leave(g *genRun) {
	c.mu.Lock()
	if c.current == g {
		c.current = nil
		c.outSince = time.Now()
	}
	c.mu.Unlock()
}

func (c *Consumer) currentGen() *genRun {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.current
}

// Joined is a readiness check: nil while the member is in a generation
// (with partitions or without), and through a rebalance shorter than
// StuckAfter once it has joined before.
func (c *Consumer) Joined(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.current != nil:
		return nil
	case !c.joined && c.joinErr != nil:
		return fmt.Errorf("consumer group %s: not joined yet: %v", c.cfg.Group, c.joinErr)
	case !c.joined:
		return fmt.Errorf("consumer group %s: not joined yet", c.cfg.Group)
	}
	out := time.Since(c.outSince)
	if out < c.cfg.StuckAfter {
		return nil
	}
	if c.joinErr != nil {
		return fmt.Errorf("consumer group %s: out of the group for %s: %v", c.cfg.Group, roundDuration(out), c.joinErr)
	}
	return fmt.Errorf("consumer group %s: out of the group for %s", c.cfg.Group, roundDuration(out))
}

// Assignments is a snapshot of the partitions of the current generation,
// ordered by topic and partition; empty between generations.
func (c *Consumer) Assignments() []Assignment {
	g := c.currentGen()
	if g == nil {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]Assignment, 0, len(g.parts))
	for _, p := range g.parts {
		out = append(out, Assignment{Topic: p.tp.topic, Partition: p.tp.partition, Generation: g.id,
			Committed: p.committed, HighWatermark: p.highWater})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out
}

// Close leaves the group (if Run has not) and closes the dead-letter writer.
func (c *Consumer) Close() error {
	var errs []error
	for _, close := range c.closers {
		errs = append(errs, close())
	}
	return errors.Join(errs...)
}

// logLimiter lets a repeated log line through at most once per interval.
type logLimiter struct{ last time.Time }

func (l *logLimiter) allow(now time.Time, every time.Duration) bool {
	if !l.last.IsZero() && now.Sub(l.last) < every {
		return false
	}
	l.last = now
	return true
}

// sleep waits d or until stop closes, and reports whether d passed.
func sleep(stop <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-stop:
		return false
	}
}

// roundDuration keeps a duration readable: whole seconds from a second up.
func roundDuration(d time.Duration) time.Duration {
	if d >= time.Second {
		return d.Round(time.Second)
	}
	return d.Round(time.Millisecond)
}
