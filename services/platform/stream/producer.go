// Package stream puts kafka-go to work by the kit's delivery rules:
// producers wait for every in-sync replica and partition by key; consumers
// fetch, apply the effect, then commit, with retries and dead-lettering
// wrapped around a handler that holds only domain logic.
package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"
)

// Producer writes records by the kit's delivery rules — every in-sync
// replica acknowledges (acks=all), records with one key go to one partition
// (murmur2, as Java clients partition) — without lingering: a partition with
// no request in flight sends a record the moment it is handed over, and the
// records that arrive while a request is in flight go out together in the
// next one. So a lone record pays one round trip and no timer, and under load
// batches grow by themselves (natural batching). One request is in flight per
// partition at a time, so records of one key keep their order across calls.
//
// kafka-go's Writer only batches by size or by its BatchTimeout, and with a
// timeout of a millisecond every write on the order path waited for it.
type Producer struct {
	// Addr and Transport are the producer's own connections and metadata
	// cache; Routable asks them.
	Addr      net.Addr
	Transport *kafka.Transport

	dialer   *kafka.Dialer // nil: plaintext
	brokers  []string
	client   *kafka.Client
	topic    string
	cfg      ProducerConfig
	balancer Balancer

	mu      sync.Mutex
	counts  map[string]partitionCount
	queues  map[topicPartition]*produceQueue
	closed  bool
	running sync.WaitGroup
}

// ProducerConfig tunes a Producer; the zero value is the kit's default.
type ProducerConfig struct {
	// Dialer says how to connect: its TLS and SASL settings are the
	// producer's (svc's KafkaSecurity.Dialer). nil is plaintext.
	Dialer *kafka.Dialer
	// WriteTimeout bounds one produce request (default 5 s).
	WriteTimeout time.Duration
	// MaxAttempts is how often a request is tried when the broker answers
	// with a retriable error or the connection fails (default 5).
	MaxAttempts int
	// MaxBatch and MaxBatchBytes bound one request (defaults 1000 records,
	// 1 MiB).
	MaxBatch, MaxBatchBytes int
	// Framer puts the writer's schema id in front of every value (the
	// Confluent framing, schemaid.Framer); a record it cannot frame is not
	// produced. nil writes values as given: the dead-letter writer, which
	// keeps the original bytes, and tests of the producer itself.
	Framer Framer
}

// Framer frames a record's value for topic (schemaid.Framer).
type Framer interface {
	Frame(ctx context.Context, topic string, value []byte) ([]byte, error)
}

type partitionCount struct {
	n  int
	at time.Time
}

// countTTL is how long a topic's partition count is trusted: the
// transport's metadata cache refreshes as often.
const countTTL = 2 * time.Second

// NewProducer returns a producer for brokers. topic may be empty when every
// message names its own (a relay, a dead-letter writer).
func NewProducer(brokers []string, topic string, cfg ProducerConfig) *Producer {
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 5 * time.Second
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 5
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 1000
	}
	if cfg.MaxBatchBytes <= 0 {
		cfg.MaxBatchBytes = 1 << 20
	}
	transport := &kafka.Transport{
		DialTimeout: 3 * time.Second,
		IdleTimeout: 5 * time.Minute,
		// kafka-go refreshes metadata only on this timer (at a random point
		// within it), never because a write failed, so this bounds how long
		// a producer routes by a stale view after a broker restart or a
		// leader change. One small request a second is nothing to a broker.
		MetadataTTL: countTTL,
	}
	SecureTransport(transport, cfg.Dialer)
	addr := kafka.TCP(brokers...)
	return &Producer{
		Addr: addr, Transport: transport, dialer: cfg.Dialer, brokers: brokers,
		client: &kafka.Client{Addr: addr, Transport: transport, Timeout: cfg.WriteTimeout},
		topic:  topic, cfg: cfg,
		counts: map[string]partitionCount{}, queues: map[topicPartition]*produceQueue{},
	}
}

// WriteMessages produces msgs and returns once the broker acknowledged every
// one, or with the errors. When some partitions took their records and
// others did not, the error is a kafka.WriteErrors with one entry per message
// (nil for those written). If ctx ends first, WriteMessages returns its error
// but the records already handed over are still sent: a caller that must not
// send twice passes a context that a stop signal does not cancel.
func (p *Producer) WriteMessages(ctx context.Context, msgs ...kafka.Message) error {
	_, err := p.Produce(ctx, msgs...)
	return err
}

// Produce is WriteMessages that also returns the messages as written: with
// their topic, partition and offset.
func (p *Producer) Produce(ctx context.Context, msgs ...kafka.Message) ([]kafka.Message, error) {
	if len(msgs) == 0 {
		return nil, nil
	}
	call := &produceCall{msgs: make([]kafka.Message, len(msgs)), errs: make([]error, len(msgs)), done: make(chan struct{})}
	copy(call.msgs, msgs)
	groups, err := p.route(ctx, call)
	if err != nil {
		return nil, err
	}
	call.left.Store(int32(len(groups)))
	for tp, idx := range groups {
		q, err := p.queue(tp)
		if err != nil {
			for _, i := range idx {
				call.errs[i] = err
			}
			call.finished()
			continue
		}
		q.add(produceItem{call: call, idx: idx})
	}
	select {
	case <-call.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return call.result()
}

// route assigns every message its topic and partition.
func (p *Producer) route(ctx context.Context, call *produceCall) (map[topicPartition][]int, error) {
	groups := map[topicPartition][]int{}
	var partitions []int
	for i := range call.msgs {
		m := &call.msgs[i]
		switch {
		case m.Topic == "" && p.topic == "":
			return nil, errors.New("produce: a message names no topic and the producer has none")
		case m.Topic != "" && p.topic != "":
			return nil, fmt.Errorf("produce: a message names topic %s, but the producer writes to %s", m.Topic, p.topic)
		case m.Topic == "":
			m.Topic = p.topic
		}
		if p.cfg.Framer != nil {
			framed, err := p.cfg.Framer.Frame(ctx, m.Topic, m.Value)
			if err != nil {
				return nil, fmt.Errorf("produce to %s: %w", m.Topic, err)
			}
			m.Value = framed
		}
		n, err := p.partitions(ctx, m.Topic)
		if err != nil {
			return nil, err
		}
		if cap(partitions) < n {
			partitions = make([]int, n)
		}
		partitions = partitions[:n]
		for j := range partitions {
			partitions[j] = j
		}
		m.Partition = p.balancer.Balance(*m, partitions...)
		tp := topicPartition{m.Topic, m.Partition}
		groups[tp] = append(groups[tp], i)
	}
	return groups, nil
}

// partitions returns topic's partition count from the transport's metadata
// cache, remembered for countTTL.
func (p *Producer) partitions(ctx context.Context, topic string) (int, error) {
	p.mu.Lock()
	c, ok := p.counts[topic]
	p.mu.Unlock()
	if ok && time.Since(c.at) < countTTL {
		return c.n, nil
	}
	md, err := p.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return 0, fmt.Errorf("produce to %s: metadata: %w", topic, err)
	}
	for _, t := range md.Topics {
		if t.Name != topic {
			continue
		}
		if errors.Is(t.Error, kafka.UnknownTopicOrPartition) || t.Error == nil && len(t.Partitions) == 0 {
			return 0, fmt.Errorf("produce to %s: %w", topic, p.missing(ctx, topic))
		}
		if t.Error != nil {
			return 0, fmt.Errorf("produce to %s: %w", topic, t.Error)
		}
		p.mu.Lock()
		p.counts[topic] = partitionCount{len(t.Partitions), time.Now()}
		p.mu.Unlock()
		return len(t.Partitions), nil
	}
	return 0, fmt.Errorf("produce to %s: %w", topic, p.missing(ctx, topic))
}

// missing says why topic is not in the metadata. kafka-go's transport
// answers from metadata of every topic, and a locked-down broker leaves out
// of that the topics the principal may not describe (Kafka does not tell
// them whether such a topic exists), so a refusal looks like an unknown
// topic. Signed in, the producer asks for the topic by name on a
// connection of its own, and Kafka answers TOPIC_AUTHORIZATION_FAILED when
// that is the reason; that is what readiness should name.
func (p *Producer) missing(ctx context.Context, topic string) error {
	if p.dialer == nil || p.dialer.SASLMechanism == nil || len(p.brokers) == 0 {
		return kafka.UnknownTopicOrPartition
	}
	_, err := p.dialer.LookupPartitions(ctx, "tcp", p.brokers[0], topic)
	var ke kafka.Error
	if errors.As(err, &ke) {
		return ke
	}
	return kafka.UnknownTopicOrPartition
}

func (p *Producer) queue(tp topicPartition) (*produceQueue, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errors.New("produce: the producer is closed")
	}
	q := p.queues[tp]
	if q == nil {
		q = &produceQueue{p: p, tp: tp, wake: make(chan struct{}, 1)}
		p.queues[tp] = q
		p.running.Add(1)
		go func() {
			defer p.running.Done()
			q.run()
		}()
	}
	return q, nil
}

// Close sends what was handed over and stops.
func (p *Producer) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	for _, q := range p.queues {
		q.close()
	}
	p.mu.Unlock()
	p.running.Wait()
	return nil
}

// produceCall is one WriteMessages call, possibly over several partitions.
type produceCall struct {
	msgs []kafka.Message
	errs []error
	left atomic.Int32 // partitions not done yet
	done chan struct{}
}

func (c *produceCall) finished() {
	if c.left.Add(-1) == 0 {
		close(c.done)
	}
}

func (c *produceCall) result() ([]kafka.Message, error) {
	failed := 0
	var first error
	for _, err := range c.errs {
		if err != nil {
			failed++
			if first == nil {
				first = err
			}
		}
	}
	switch {
	case failed == 0:
		return c.msgs, nil
	case len(c.msgs) == 1:
		return nil, first
	default:
		return nil, kafka.WriteErrors(c.errs)
	}
}

// produceItem is the messages of one call that go to one partition, in
// order.
type produceItem struct {
	call *produceCall
	idx  []int
}

// produceQueue sends the records of one partition, one request at a time.
type produceQueue struct {
	p    *Producer
	tp   topicPartition
	wake chan struct{}

	mu      sync.Mutex
	pending []produceItem
	closed  bool
}

func (q *produceQueue) add(it produceItem) {
	q.mu.Lock()
	q.pending = append(q.pending, it)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *produceQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// run sends whatever is pending as one request, then whatever arrived
// meanwhile, until closed and empty.
func (q *produceQueue) run() {
	for {
		batch, closed := q.take()
		if len(batch) > 0 {
			q.send(batch)
			continue
		}
		if closed {
			return
		}
		<-q.wake
	}
}

// take removes the pending items that fit one request (at least one).
func (q *produceQueue) take() ([]produceItem, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	records, bytes, n := 0, 0, 0
	for n < len(q.pending) {
		size := 0
		for _, i := range q.pending[n].idx {
			m := &q.pending[n].call.msgs[i]
			size += len(m.Key) + len(m.Value) + 64
		}
		if n > 0 && (records+len(q.pending[n].idx) > q.p.cfg.MaxBatch || bytes+size > q.p.cfg.MaxBatchBytes) {
			break
		}
		records += len(q.pending[n].idx)
		bytes += size
		n++
	}
	batch := q.pending[:n:n]
	q.pending = q.pending[n:]
	return batch, q.closed
}

// send produces batch as one request, retrying what may succeed on a
// second try, and tells every call its outcome.
func (q *produceQueue) send(batch []produceItem) {
	var resp *kafka.ProduceResponse
	var err error
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), q.p.cfg.WriteTimeout)
		resp, err = q.p.client.Produce(ctx, &kafka.ProduceRequest{
			Topic: q.tp.topic, Partition: q.tp.partition, RequiredAcks: kafka.RequireAll,
			Records: kafka.NewRecordReader(records(batch)...),
		})
		cancel()
		if err == nil && resp.Error != nil {
			err = resp.Error
		}
		if err == nil || attempt >= q.p.cfg.MaxAttempts || !Retriable(err) {
			break
		}
		time.Sleep(backoff(attempt))
	}
	n := 0
	for _, it := range batch {
		for _, i := range it.idx {
			switch {
			case err != nil:
				it.call.errs[i] = err
			case resp.RecordErrors[n] != nil:
				it.call.errs[i] = resp.RecordErrors[n]
			default:
				it.call.msgs[i].Offset = resp.BaseOffset + int64(n)
			}
			n++
		}
		it.call.finished()
	}
}

// records builds the batch's records afresh: a record's key and value are
// readers that encoding a request consumes, so a retry needs new ones (or it
// sends empty records).
func records(batch []produceItem) []kafka.Record {
	var out []kafka.Record
	for _, it := range batch {
		for _, i := range it.idx {
			m := &it.call.msgs[i]
			out = append(out, kafka.Record{Time: m.Time, Key: bytesOrNil(m.Key), Value: bytesOrNil(m.Value), Headers: m.Headers})
		}
	}
	return out
}

func bytesOrNil(b []byte) kafka.Bytes {
	if b == nil {
		return nil
	}
	return kafka.NewBytes(b)
}

// Retriable reports whether a request to Kafka — a produce, a fetch — may
// succeed if tried again: the broker said so (a leader moving, too few
// in-sync replicas for now), or the connection failed or timed out.
func Retriable(err error) bool {
	var temporary interface{ Temporary() bool }
	if errors.As(err, &temporary) && temporary.Temporary() {
		return true
	}
	var netErr net.Error
	return errors.As(err, &netErr) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// backoff is the pause before attempt+1: 50 ms doubling to 1 s.
func backoff(attempt int) time.Duration {
	return min(50*time.Millisecond<<(attempt-1), time.Second)
}

// SecureTransport gives t the TLS and SASL settings of d (nil leaves t
// plaintext): one dialer says how a service connects, for its readers and
// groups (which take a Dialer) and its clients (which take a Transport).
func SecureTransport(t *kafka.Transport, d *kafka.Dialer) {
	if d == nil {
		return
	}
	if d.TLS != nil {
		t.TLS = d.TLS.Clone()
	}
	t.SASL = d.SASLMechanism
}
