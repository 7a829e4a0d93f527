// Package floor measures what the broker itself costs an order: a raw
// two-hop kafka-go relay (produce -> consume + produce -> consume) with the
// services' producer settings and no HTTP or SSE in between. The pipeline's
// percentiles are reported as ratios of this floor's, measured on the same
// broker in the same run at the same rate.
package floor

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kafkakit/kit/loadtest/internal/pace"
	"github.com/kafkakit/kit/loadtest/internal/stats"
)

// Default topics of the relay: the runner's own, never the services'.
const (
	DefaultInTopic  = "loadtest.floor.in"
	DefaultOutTopic = "loadtest.floor.out"
	Partitions      = 3
)

// Config describes the relay.
type Config struct {
	Brokers           []string
	InTopic, OutTopic string
	ReplicationFactor int
	// BatchTimeout is the producers' linger, as the services set it.
	BatchTimeout time.Duration
	// MaxWait bounds a consumer's fetch when no record is there.
	MaxWait time.Duration
	// Timeout bounds one record from intended send to arrival on OutTopic.
	Timeout time.Duration
}

func (c *Config) defaults() {
	if c.InTopic == "" {
		c.InTopic = DefaultInTopic
	}
	if c.OutTopic == "" {
		c.OutTopic = DefaultOutTopic
	}
	if c.ReplicationFactor <= 0 {
		c.ReplicationFactor = 1
	}
	if c.BatchTimeout <= 0 {
		c.BatchTimeout = time.Millisecond
	}
	if c.MaxWait <= 0 {
		c.MaxWait = 10 * time.Millisecond
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
}

// Relay is a prepared two-hop relay: topics exist and consumers are
// positioned at the current end of both topics.
type Relay struct {
	cfg    Config
	in     *kafka.Writer // hop 1: the runner, as orders-api
	relay  *kafka.Writer // hop 2: the relay, as orders-processor
	relayR []*kafka.Reader
	outR   []*kafka.Reader

	Latency  *stats.Histogram // intended -> seen on OutTopic, measured records
	Timeline *stats.Timeline  // per-second latency, by intended time

	pending   sync.Map // seq -> measured bool, for records still on their way
	received  atomic.Int64
	measured  atomic.Int64 // measured records received
	relayErrs atomic.Int64

	mu       sync.Mutex
	errors   map[string]int64
	examples map[string]string

	wg     sync.WaitGroup
	cancel context.CancelFunc
}

// Open creates the topics when missing, waits for their leaders and starts
// the relay and the final consumer at the topics' current end.
func Open(ctx context.Context, cfg Config) (*Relay, error) {
	cfg.defaults()
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("floor: no brokers")
	}
	if err := EnsureTopics(ctx, cfg.Brokers, cfg.ReplicationFactor, cfg.InTopic, cfg.OutTopic); err != nil {
		return nil, err
	}
	inEnd, err := lastOffsets(ctx, cfg.Brokers, cfg.InTopic)
	if err != nil {
		return nil, err
	}
	outEnd, err := lastOffsets(ctx, cfg.Brokers, cfg.OutTopic)
	if err != nil {
		return nil, err
	}
	r := &Relay{
		cfg:      cfg,
		in:       newWriter(cfg, cfg.InTopic, false),
		Latency:  stats.NewHistogram(),
		Timeline: stats.NewTimeline(time.Now(), time.Second),
		errors:   map[string]int64{},
		examples: map[string]string{},
	}
	r.relay = newWriter(cfg, cfg.OutTopic, true)
	r.relay.Completion = func(_ []kafka.Message, err error) {
		if err != nil {
			r.relayErrs.Add(1)
			r.countErr("relay produce", err)
		}
	}
	runCtx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	for p := range Partitions {
		rr, err := newReader(cfg, cfg.InTopic, p, inEnd[p])
		if err != nil {
			r.Close()
			return nil, err
		}
		r.relayR = append(r.relayR, rr)
		or, err := newReader(cfg, cfg.OutTopic, p, outEnd[p])
		if err != nil {
			r.Close()
			return nil, err
		}
		r.outR = append(r.outR, or)
		r.wg.Go(func() { r.forward(runCtx, rr) })
		r.wg.Go(func() { r.collect(runCtx, or) })
	}
	return r, nil
}

// newWriter has the services' producer settings. The relay's writer is
// asynchronous so that one slow acknowledgement does not hold back the
// records behind it; it still waits for all in-sync replicas.
func newWriter(cfg Config, topic string, async bool) *kafka.Writer {
	return &kafka.Writer{
		Addr:                   kafka.TCP(cfg.Brokers...),
		Topic:                  topic,
		Balancer:               &kafka.Hash{},
		RequiredAcks:           kafka.RequireAll,
		BatchTimeout:           cfg.BatchTimeout,
		BatchSize:              1000,
		Async:                  async,
		AllowAutoTopicCreation: false,
	}
}

// newReader reads one partition from offset. kafka-go's client-side fetch
// deadline races the broker's MaxWait on an idle partition; the resulting
// i/o timeout makes the reader back off ReadBackoffMin (100ms by default)
// before it fetches again, which showed as 100ms spikes in the floor. A 1ms
// backoff keeps the floor a measure of the broker, not of that race.
func newReader(cfg Config, topic string, partition int, offset int64) (*kafka.Reader, error) {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:         cfg.Brokers,
		Topic:           topic,
		Partition:       partition,
		MinBytes:        1,
		MaxBytes:        10 << 20,
		MaxWait:         cfg.MaxWait,
		ReadLagInterval: -1,
		ReadBackoffMin:  time.Millisecond,
		ReadBackoffMax:  10 * time.Millisecond,
	})
	if err := r.SetOffset(offset); err != nil {
		r.Close()
		return nil, fmt.Errorf("floor: %s/%d: set offset %d: %w", topic, partition, offset, err)
	}
	return r, nil
}

// forward is hop 2: every record on the in topic goes to the out topic,
// same key and value.
func (r *Relay) forward(ctx context.Context, rd *kafka.Reader) {
	for {
		m, err := rd.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() == nil {
				r.countErr("relay fetch", err)
			}
			return
		}
		if err := r.relay.WriteMessages(ctx, kafka.Message{Key: m.Key, Value: m.Value}); err != nil && ctx.Err() == nil {
			r.countErr("relay produce", err)
		}
	}
}

// collect is the final consumer: it times each record from its intended
// send time, carried in the value.
func (r *Relay) collect(ctx context.Context, rd *kafka.Reader) {
	for {
		m, err := rd.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() == nil {
				r.countErr("consume", err)
			}
			return
		}
		seen := time.Now()
		intended, seq, ok := decode(m.Value)
		if !ok {
			continue
		}
		v, ok := r.pending.LoadAndDelete(seq)
		if !ok {
			continue // from an earlier phase, or a duplicate
		}
		r.received.Add(1)
		if v.(bool) {
			d := seen.Sub(time.Unix(0, intended))
			r.Latency.Record(d)
			r.Timeline.Record(time.Unix(0, intended), d)
			r.measured.Add(1)
		}
	}
}

// value layout: intended send time (unix ns) then a per-run sequence number.
func encode(intended time.Time, seq uint64) []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint64(b, uint64(intended.UnixNano()))
	binary.BigEndian.PutUint64(b[8:], seq)
	return b
}

func decode(b []byte) (intended int64, seq uint64, ok bool) {
	if len(b) != 16 {
		return 0, 0, false
	}
	return int64(binary.BigEndian.Uint64(b)), binary.BigEndian.Uint64(b[8:]), true
}

var seqBase atomic.Uint64

// Send is hop 1 for one arrival: a synchronous produce, as orders-api does
// before it answers 201.
func (r *Relay) Send(ctx context.Context, a pace.Arrival) {
	seq := seqBase.Add(1)
	r.pending.Store(seq, a.Measured)
	ctx, cancel := context.WithDeadline(ctx, a.Intended.Add(r.cfg.Timeout))
	defer cancel()
	err := r.in.WriteMessages(ctx, kafka.Message{Key: []byte(strconv.FormatUint(seq, 10)), Value: encode(a.Intended, seq)})
	if err != nil {
		r.pending.Delete(seq)
		if a.Measured {
			r.countErr("produce", err)
		}
	}
}

func (r *Relay) countErr(kind string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors[kind]++
	if _, ok := r.examples[kind]; !ok {
		r.examples[kind] = err.Error()
	}
}

// Received is the number of measured records seen on the out topic so far.
func (r *Relay) Received() int64 { return r.measured.Load() }

// Drain waits until every record sent has arrived or its timeout passed,
// then returns the number of measured records that never arrived.
func (r *Relay) Drain(ctx context.Context) int64 {
	deadline := time.Now().Add(r.cfg.Timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) && ctx.Err() == nil {
		empty := true
		r.pending.Range(func(any, any) bool { empty = false; return false })
		if empty {
			return 0
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
		}
	}
	var lost int64
	r.pending.Range(func(k, v any) bool {
		if v.(bool) {
			lost++
		}
		r.pending.Delete(k)
		return true
	})
	return lost
}

// Errors returns the error counts by kind and the first message of each.
func (r *Relay) Errors() (map[string]int64, map[string]string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, e := map[string]int64{}, map[string]string{}
	for k, v := range r.errors {
		c[k] = v
	}
	for k, v := range r.examples {
		e[k] = v
	}
	return c, e
}

// Close stops the relay and closes its clients.
func (r *Relay) Close() error {
	if r.cancel != nil {
		r.cancel()
	}
	var errs []error
	for _, rd := range append(r.relayR, r.outR...) {
		errs = append(errs, rd.Close())
	}
	r.wg.Wait()
	if r.in != nil {
		errs = append(errs, r.in.Close())
	}
	if r.relay != nil {
		errs = append(errs, r.relay.Close())
	}
	return errors.Join(errs...)
}

// EnsureTopics creates topics with Partitions partitions unless they exist,
// then waits until every partition has a leader.
func EnsureTopics(ctx context.Context, brokers []string, replication int, topics ...string) error {
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	req := &kafka.CreateTopicsRequest{}
	for _, t := range topics {
		req.Topics = append(req.Topics, kafka.TopicConfig{Topic: t, NumPartitions: Partitions, ReplicationFactor: replication})
	}
	resp, err := client.CreateTopics(ctx, req)
	if err != nil {
		return fmt.Errorf("floor: create topics: %w", err)
	}
	for t, err := range resp.Errors {
		if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			return fmt.Errorf("floor: create topic %s: %w", t, err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
		ready := err == nil
		if ready {
			for _, t := range md.Topics {
				if t.Error != nil || len(t.Partitions) < Partitions {
					ready = false
				}
				for _, p := range t.Partitions {
					if p.Error != nil || p.Leader.Host == "" {
						ready = false
					}
				}
			}
		}
		if ready {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("floor: topics %v not ready: %v", topics, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// lastOffsets returns the next offset of each partition of topic.
func lastOffsets(ctx context.Context, brokers []string, topic string) ([]int64, error) {
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	var reqs []kafka.OffsetRequest
	for p := range Partitions {
		reqs = append(reqs, kafka.LastOffsetOf(p))
	}
	resp, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, fmt.Errorf("floor: list offsets of %s: %w", topic, err)
	}
	offs := make([]int64, Partitions)
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("floor: list offsets of %s/%d: %w", topic, po.Partition, po.Error)
		}
		if po.Partition >= 0 && po.Partition < Partitions {
			offs[po.Partition] = po.LastOffset
		}
	}
	return offs, nil
}
