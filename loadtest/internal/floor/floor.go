// Package floor measures what the broker itself costs an order: a raw
// kafka-go relay with as many hops as the order crosses topics (produce ->
// consume + produce -> ... -> consume), no HTTP, no SSE, no database. The
// pipeline's percentiles are reported as ratios of this floor's, measured on
// the same broker in the same run at the same rate.
//
// The producer makes the line. ProduceClient is the honest floor: every
// record goes out in a produce request of its own the moment it is ready
// (kafka.Client.Produce: no linger, no per-partition queue). The others are
// reference lines: ProduceWriterLinger is a kafka.Writer with the settings
// the services had until their producer lost its linger (batches of up to
// 1000 records, a millisecond's BatchTimeout); ProduceStream is the
// services' producer today (platform/stream: no linger, one request in
// flight per partition, records that arrive meanwhile go together);
// ProduceWriter1, a kafka.Writer with BatchSize 1, is the other way to send
// without linger.
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
	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/stream"
	"github.com/kafkakit/kit/services/platform/topics"
)

// Producer names how the relay's producers send a record.
type Producer string

// The producers a relay can use.
const (
	// ProduceClient sends each record in a produce request of its own the
	// moment it is ready (kafka.Client.Produce): the honest floor.
	ProduceClient Producer = "client"
	// ProduceWriter1 is a kafka.Writer with BatchSize 1: no linger, but one
	// produce request in flight per partition at a time.
	ProduceWriter1 Producer = "writer-batch1"
	// ProduceWriterLinger is a kafka.Writer with the services' former
	// settings: batches of up to 1000 records and BatchTimeout of linger.
	ProduceWriterLinger Producer = "writer-linger"
	// ProduceStream is the services' own producer (platform/stream).
	ProduceStream Producer = "stream"
)

// Producers lists every producer, the honest floor first.
var Producers = []Producer{ProduceClient, ProduceWriter1, ProduceWriterLinger, ProduceStream}

// ParseProducer checks a producer name.
func ParseProducer(s string) (Producer, error) {
	for _, p := range Producers {
		if string(p) == s {
			return p, nil
		}
	}
	return "", fmt.Errorf("producer %q: want one of %v", s, Producers)
}

// Describe says in a few words what a producer does, for reports.
func (p Producer) Describe(batchTimeout time.Duration) string {
	switch p {
	case ProduceClient:
		return "kafka.Client.Produce per record, no linger"
	case ProduceWriter1:
		return "kafka.Writer, BatchSize 1, no linger"
	case ProduceWriterLinger:
		return fmt.Sprintf("kafka.Writer with the services' former settings: BatchSize 1000, BatchTimeout %v", batchTimeout)
	case ProduceStream:
		return "the services' producer (platform/stream): no linger, one request in flight per partition"
	}
	return string(p)
}

// DefaultMaxWait is how long the broker may hold a reader's fetch on an
// idle partition. Readers ask for MinBytes 1, so a fetch returns the moment
// a record arrives whatever MaxWait is; a shorter wait does not deliver
// sooner, it only polls more: measured at 200 records/s on the embedded
// broker, 1ms gave the same p50 as 10ms and 100ms at 3-5 times the CPU per
// record, and 100ms a third less CPU than 10ms.
const DefaultMaxWait = 100 * time.Millisecond

// DefaultPrefix starts the names of the relay's topics: the runner's own,
// never the services'.
const DefaultPrefix = "loadtest.floor"

// Topics are the relay's topics for the order path: prefix + "." + each
// topic of events.OrderPath, so a listing of the broker's topics shows which
// kit topic each hop stands for; the relay has one hop per topic.
func Topics(prefix string) []string {
	out := make([]string, len(events.OrderPath))
	for i, t := range events.OrderPath {
		out[i] = prefix + "." + t
	}
	return out
}

// Config describes the relay.
type Config struct {
	Brokers []string
	// Dialer signs every client of the relay in (TLS and SASL on a
	// locked-down stack, as the kit super user); nil is plaintext.
	Dialer *kafka.Dialer
	// Topics are the hops in order: records are produced to Topics[0],
	// relayed to each next one, and timed when read from the last.
	Topics            []string
	ReplicationFactor int
	Producer          Producer
	// BatchTimeout is the linger of ProduceWriterLinger.
	BatchTimeout time.Duration
	// MaxWait bounds a consumer's fetch when no record is there.
	MaxWait time.Duration
	// Timeout bounds one record from intended send to arrival on the last topic.
	Timeout time.Duration
}

func (c *Config) defaults() {
	if len(c.Topics) == 0 {
		c.Topics = Topics(DefaultPrefix)
	}
	if c.ReplicationFactor <= 0 {
		c.ReplicationFactor = 1
	}
	if c.Producer == "" {
		c.Producer = ProduceClient
	}
	if c.BatchTimeout <= 0 {
		c.BatchTimeout = time.Millisecond
	}
	if c.MaxWait <= 0 {
		c.MaxWait = DefaultMaxWait
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
}

// Relay is a prepared relay: topics exist and every consumer is positioned
// at the current end of its topic.
type Relay struct {
	cfg Config
	// transport carries every client and writer of the relay: its own,
	// made after the topics exist (see Open).
	transport *kafka.Transport
	first     sender   // hop 1: the runner, as orders-api's relay
	hops      []sender // hop i+1 forwards Topics[i] to Topics[i+1]
	readers   []*kafka.Reader

	Latency *stats.Histogram // intended -> seen on the last topic, measured records

	pending  sync.Map // seq -> measured bool, for records still on their way
	measured atomic.Int64
	inFlight sync.WaitGroup // forwarding produces not yet answered

	mu       sync.Mutex
	errors   map[string]int64
	examples map[string]string

	wg     sync.WaitGroup
	cancel context.CancelFunc
}

// sender produces one record to its topic. A relay's first sender returns
// once the record was acknowledged; a forwarding one may return before and
// report a failure through the relay's error counts.
type sender interface {
	send(ctx context.Context, key, value []byte) error
	close() error
}

// Open creates the topics when missing, waits for their leaders and starts
// the forwarders and the final consumer at the topics' current end.
func Open(ctx context.Context, cfg Config) (*Relay, error) {
	cfg.defaults()
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("floor: no brokers")
	}
	if _, err := ParseProducer(string(cfg.Producer)); err != nil {
		return nil, fmt.Errorf("floor: %w", err)
	}
	if err := EnsureTopics(ctx, cfg.Brokers, cfg.Dialer, cfg.ReplicationFactor, cfg.Topics...); err != nil {
		return nil, err
	}
	// The relay's clients and writers share a transport of its own, made
	// now that every broker knows the topics. A kafka-go transport answers
	// metadata requests from a cache it refreshes only every few seconds
	// (MetadataTTL, 6 s); through the process-wide DefaultTransport, whose
	// cache was filled before these topics existed (by the relay opened
	// before this one), every produce failed with "Unknown Topic Or
	// Partition" until the next refresh.
	tr := newTransport(cfg.Dialer)
	if err := seesTopics(ctx, cfg.Brokers, tr, cfg.Topics); err != nil {
		tr.CloseIdleConnections()
		return nil, err
	}
	ends := make([][]int64, len(cfg.Topics))
	for i, t := range cfg.Topics {
		e, err := lastOffsets(ctx, cfg.Brokers, tr, t)
		if err != nil {
			tr.CloseIdleConnections()
			return nil, err
		}
		ends[i] = e
	}
	r := &Relay{
		cfg:       cfg,
		transport: tr,
		Latency:   stats.NewHistogram(),
		errors:    map[string]int64{},
		examples:  map[string]string{},
	}
	r.first = r.newSender(cfg.Topics[0], false)
	for _, t := range cfg.Topics[1:] {
		r.hops = append(r.hops, r.newSender(t, true))
	}
	runCtx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	for i, t := range cfg.Topics {
		for p := range events.Partitions {
			rd, err := newReader(cfg, t, p, ends[i][p])
			if err != nil {
				r.Close()
				return nil, err
			}
			r.readers = append(r.readers, rd)
			if i == len(cfg.Topics)-1 {
				r.wg.Go(func() { r.collect(runCtx, rd) })
			} else {
				next := r.hops[i]
				r.wg.Go(func() { r.forward(runCtx, rd, next) })
			}
		}
	}
	return r, nil
}

// newSender returns the configured producer for topic; forwarding is true
// for the hops inside the relay, which must not wait for one record's
// acknowledgement before reading the next.
func (r *Relay) newSender(topic string, forwarding bool) sender {
	switch r.cfg.Producer {
	case ProduceWriter1:
		return r.newWriter(topic, 1, time.Millisecond, forwarding)
	case ProduceWriterLinger:
		return r.newWriter(topic, 1000, r.cfg.BatchTimeout, forwarding)
	case ProduceStream:
		return &streamSender{p: stream.NewProducer(r.cfg.Brokers, topic, stream.ProducerConfig{Dialer: r.cfg.Dialer}), relay: r, async: forwarding}
	}
	return &clientSender{
		client: &kafka.Client{Addr: kafka.TCP(r.cfg.Brokers...), Timeout: r.cfg.Timeout, Transport: r.transport},
		topic:  topic,
		relay:  r,
		async:  forwarding,
	}
}

// newWriter returns a writer that acknowledges a write once every in-sync
// replica has it and partitions by murmur2, as the services' writers do. A
// forwarding writer is asynchronous, so one slow acknowledgement does not
// hold back the reads behind it; it still keeps each partition's order.
func (r *Relay) newWriter(topic string, batchSize int, batchTimeout time.Duration, async bool) sender {
	w := &kafka.Writer{
		Addr:                   kafka.TCP(r.cfg.Brokers...),
		Topic:                  topic,
		Balancer:               stream.Balancer{},
		RequiredAcks:           kafka.RequireAll,
		BatchTimeout:           batchTimeout,
		BatchSize:              batchSize,
		Async:                  async,
		AllowAutoTopicCreation: false,
		Transport:              r.transport,
	}
	if async {
		w.Completion = func(_ []kafka.Message, err error) {
			if err != nil {
				r.countErr("relay produce", err)
			}
		}
	}
	return writerSender{w}
}

type writerSender struct{ w *kafka.Writer }

func (s writerSender) send(ctx context.Context, key, value []byte) error {
	return s.w.WriteMessages(ctx, kafka.Message{Key: key, Value: value})
}

func (s writerSender) close() error { return s.w.Close() }

// clientSender produces each record in a request of its own, to the
// partition events.Partition picks for its key (the services'
// partitioner). Asynchronous sends each run in a goroutine: many
// requests may be in flight on one partition.
type clientSender struct {
	client *kafka.Client
	topic  string
	relay  *Relay
	async  bool
}

func (s *clientSender) send(ctx context.Context, key, value []byte) error {
	p := events.Partition(key, events.Partitions)
	produce := func(ctx context.Context) error {
		resp, err := s.client.Produce(ctx, &kafka.ProduceRequest{
			Topic:        s.topic,
			Partition:    p,
			RequiredAcks: kafka.RequireAll,
			Records:      kafka.NewRecordReader(kafka.Record{Key: kafka.NewBytes(key), Value: kafka.NewBytes(value)}),
		})
		if err == nil && resp.Error != nil {
			err = resp.Error
		}
		return err
	}
	if !s.async {
		return produce(ctx)
	}
	s.relay.inBackground(ctx, produce)
	return nil
}

// inBackground runs produce in a goroutine of its own that the relay waits
// for when it stops, counting its failure unless the relay is stopping.
func (r *Relay) inBackground(ctx context.Context, produce func(context.Context) error) {
	r.inFlight.Add(1)
	go func() {
		defer r.inFlight.Done()
		if err := produce(ctx); err != nil && ctx.Err() == nil {
			r.countErr("relay produce", err)
		}
	}()
}

func (s *clientSender) close() error { return nil }

// streamSender is the services' producer. Asynchronous sends each run in a
// goroutine, as the services' handlers hand records over concurrently; the
// producer keeps one request in flight per partition and sends what arrived
// meanwhile together.
type streamSender struct {
	p     *stream.Producer
	relay *Relay
	async bool
}

func (s *streamSender) send(ctx context.Context, key, value []byte) error {
	produce := func(ctx context.Context) error {
		return s.p.WriteMessages(ctx, kafka.Message{Key: key, Value: value})
	}
	if !s.async {
		return produce(ctx)
	}
	s.relay.inBackground(ctx, produce)
	return nil
}

func (s *streamSender) close() error { return s.p.Close() }

// newReader reads one partition from offset. kafka-go's client-side fetch
// deadline races the broker's MaxWait on an idle partition; the resulting
// i/o timeout makes the reader back off ReadBackoffMin (100ms by default)
// before it fetches again, which showed as 100ms spikes in the floor. A 1ms
// backoff keeps the floor a measure of the broker, not of that race.
func newReader(cfg Config, topic string, partition int, offset int64) (*kafka.Reader, error) {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:         cfg.Brokers,
		Dialer:          cfg.Dialer,
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

// forward is one hop inside the relay: every record read goes on to the
// next topic, same key and value, as soon as it was read.
func (r *Relay) forward(ctx context.Context, rd *kafka.Reader, next sender) {
	for {
		m, err := rd.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() == nil {
				r.countErr("relay fetch", err)
			}
			return
		}
		if err := next.send(ctx, m.Key, m.Value); err != nil && ctx.Err() == nil {
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
			continue // from an earlier run, or a duplicate
		}
		if v.(bool) {
			r.Latency.Record(seen.Sub(time.Unix(0, intended)))
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

// Send is hop 1 for one arrival: a synchronous produce, as orders-api's
// relay waits for each acknowledgement.
func (r *Relay) Send(ctx context.Context, a pace.Arrival) {
	seq := seqBase.Add(1)
	r.pending.Store(seq, a.Measured)
	ctx, cancel := context.WithDeadline(ctx, a.Intended.Add(r.cfg.Timeout))
	defer cancel()
	if err := r.first.send(ctx, []byte(strconv.FormatUint(seq, 10)), encode(a.Intended, seq)); err != nil {
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

// Received is the number of measured records seen on the last topic so far.
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
	for _, rd := range r.readers {
		errs = append(errs, rd.Close())
	}
	r.wg.Wait()
	r.inFlight.Wait()
	for _, s := range append([]sender{r.first}, r.hops...) {
		if s != nil {
			errs = append(errs, s.close())
		}
	}
	if r.transport != nil {
		r.transport.CloseIdleConnections()
	}
	return errors.Join(errs...)
}

// EnsureTopics creates topics with events.Partitions partitions unless they
// exist, then waits (30 s at most) until every partition has a leader on
// every broker: platform's topics.Create, the kit's one topic creator.
func EnsureTopics(ctx context.Context, brokers []string, dialer *kafka.Dialer, replication int, names ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	specs := make([]topics.Topic, len(names))
	for i, name := range names {
		specs[i] = topics.Topic{Name: name, Partitions: events.Partitions}
	}
	if err := topics.Create(ctx, brokers, dialer, replication, specs...); err != nil {
		return fmt.Errorf("floor: %w", err)
	}
	return nil
}

// seesTopics checks that a client on transport knows a leader for every
// partition of topics, as the relay's producers will ask it: the first
// metadata of a transport made after topics.Create returned has them, so a
// miss is an error, not something to wait for.
func seesTopics(ctx context.Context, brokers []string, transport kafka.RoundTripper, names []string) error {
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second, Transport: transport}
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: names})
	if err != nil {
		return fmt.Errorf("floor: metadata of %v: %w", names, err)
	}
	for _, t := range md.Topics {
		led := 0
		for _, p := range t.Partitions {
			if p.Error == nil && p.Leader.Host != "" {
				led++
			}
		}
		if t.Error != nil || led < events.Partitions {
			return fmt.Errorf("floor: the relay's client knows a leader for %d of the %d partitions of %s (%v)", led, events.Partitions, t.Name, t.Error)
		}
	}
	return nil
}

// lastOffsets returns the next offset of each partition of topic.
func lastOffsets(ctx context.Context, brokers []string, transport kafka.RoundTripper, topic string) ([]int64, error) {
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second, Transport: transport}
	var reqs []kafka.OffsetRequest
	for p := range events.Partitions {
		reqs = append(reqs, kafka.LastOffsetOf(p))
	}
	resp, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, fmt.Errorf("floor: list offsets of %s: %w", topic, err)
	}
	offs := make([]int64, events.Partitions)
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("floor: list offsets of %s/%d: %w", topic, po.Partition, po.Error)
		}
		if po.Partition >= 0 && po.Partition < events.Partitions {
			offs[po.Partition] = po.LastOffset
		}
	}
	return offs, nil
}

// newTransport is a kafka-go transport of its own that connects as dialer
// says (nil: plaintext). Never kafka's DefaultTransport: its metadata cache
// is the whole process's (see Open).
func newTransport(dialer *kafka.Dialer) *kafka.Transport {
	t := &kafka.Transport{DialTimeout: 3 * time.Second}
	stream.SecureTransport(t, dialer)
	return t
}
