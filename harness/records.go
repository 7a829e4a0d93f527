package harness

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkakit/kit/harness/broker"
	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/schemaid"
)

// Record is a Kafka record as a test observes it.
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       string
	// Value is the record's JSON: for a framed record (every record the
	// kit produces), what follows the framing.
	Value []byte
	// SchemaID is the writer's schema id from the framing (magic byte 0,
	// 4-byte id), 0 for a record without it.
	SchemaID  int
	Headers   map[string]string
	Timestamp time.Time
}

// Kafka talks to the stack's broker directly, with franz-go: a client of its
// own, independent of the kafka-go the services use.
type Kafka struct {
	addrs []string
	auth  []kgo.Opt // the kit super user's TLS and SASL on a locked-down broker
	// framer frames what Produce writes to the kit's topics; nil writes
	// values as given.
	framer *schemaid.Framer
}

// Kafka returns a direct client of the stack's broker, as the kit super
// user when the broker is locked down.
func (s *Stack) Kafka() *Kafka {
	return NewKafka(s.broker.Addrs(), broker.ClientOpts(s.broker)...).WithRegistry(s.regURL)
}

// WithRegistry returns k framing what Produce writes to the kit's topics
// with their current schema ids, from the registry at url ("" : none), as
// the services' producers do.
func (k *Kafka) WithRegistry(url string) *Kafka {
	ids, err := schemaid.New(url)
	if err != nil {
		return k
	}
	framed := *k
	framed.framer = schemaid.NewFramer(ids, events.Topics...)
	return &framed
}

// NewKafka returns a direct client of the cluster at addrs; auth are the
// franz-go options that authenticate it (none for plaintext).
func NewKafka(addrs []string, auth ...kgo.Opt) *Kafka { return &Kafka{addrs: addrs, auth: auth} }

// opts are the client options: the seeds, the authentication, then extra.
func (k *Kafka) opts(extra ...kgo.Opt) []kgo.Opt {
	return slices.Concat([]kgo.Opt{kgo.SeedBrokers(k.addrs...)}, k.auth, extra)
}

// KeyPartitioner is events.Partition as a franz-go partitioner: a client
// built with kgo.RecordPartitioner(harness.KeyPartitioner{}) puts a record
// where the services' producers would put its key. A nil key hashes as an
// empty one: every record the harness writes by key has one.
type KeyPartitioner struct{}

// ForTopic implements kgo.Partitioner.
func (KeyPartitioner) ForTopic(string) kgo.TopicPartitioner { return KeyPartitioner{} }

// RequiresConsistency implements kgo.TopicPartitioner: a key's partition
// never changes, even while its leader is unavailable.
func (KeyPartitioner) RequiresConsistency(*kgo.Record) bool { return true }

// Partition implements kgo.TopicPartitioner.
func (KeyPartitioner) Partition(r *kgo.Record, n int) int { return events.Partition(r.Key, n) }

// Produce writes one record and returns once the broker acknowledged it,
// partitioned by key as the services' producers do (events.Partition). A value for
// one of the kit's topics is framed with its schema id first, as the
// services frame theirs (with a registry: WithRegistry).
func (k *Kafka) Produce(ctx context.Context, topic, key string, value []byte) (Record, error) {
	value, err := k.Frame(ctx, topic, value)
	if err != nil {
		return Record{}, err
	}
	return k.ProduceRaw(ctx, topic, key, value)
}

// Frame returns value as Produce writes it: framed with its schema id when
// topic is one of the kit's and k has a registry, as given otherwise. For
// steps that write many records through a client of their own.
func (k *Kafka) Frame(ctx context.Context, topic string, value []byte) ([]byte, error) {
	if k.framer == nil || !slices.Contains(events.Topics, topic) {
		return value, nil
	}
	return k.framer.Frame(ctx, topic, value)
}

// ProduceRaw writes value exactly as given: to show what a consumer does
// with a record that lacks the framing, or carries an id nobody knows.
func (k *Kafka) ProduceRaw(ctx context.Context, topic, key string, value []byte) (Record, error) {
	client, err := kgo.NewClient(k.opts(kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(KeyPartitioner{}))...)
	if err != nil {
		return Record{}, err
	}
	defer client.Close()
	r, err := client.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte(key), Value: value}).First()
	if err != nil {
		return Record{}, fmt.Errorf("produce to %s: %w", topic, err)
	}
	return toRecord(r), nil
}

// EndOffsets returns the next offset of every partition of topic.
func (k *Kafka) EndOffsets(ctx context.Context, topic string) (map[int32]int64, error) {
	client, err := kgo.NewClient(k.opts()...)
	if err != nil {
		return nil, err
	}
	defer client.Close()
	return endOffsets(ctx, client, topic)
}

// endOffsets asks the cluster client reaches for the next offset of every
// partition of topic.
func endOffsets(ctx context.Context, client *kgo.Client, topic string) (map[int32]int64, error) {
	ends, err := kadm.NewClient(client).ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	out := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out, nil
}

// Tail collects the records of a topic from the offsets it had when the
// tail started, so a test sees exactly what was written after that point.
// It reads with franz-go, as it always has.
type Tail struct {
	Topic  string
	From   map[int32]int64
	client *kgo.Client

	mu      sync.Mutex
	records []Record
	news    chan struct{}
	err     error
	// errs lists the distinct fetch errors seen, each with when it was
	// first seen (at most maxTailErrors): a lost record — data loss after
	// a leader's log was truncated, a reset offset — shows there.
	errs   []string
	done   chan struct{}
	cancel context.CancelFunc
}

// Tail starts following topic from its current end.
func (k *Kafka) Tail(ctx context.Context, topic string) (*Tail, error) {
	from, err := k.EndOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	offsets := map[int32]kgo.Offset{}
	for p, o := range from {
		offsets[p] = kgo.NewOffset().At(o)
	}
	client, err := kgo.NewClient(k.opts(
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}),
		kgo.FetchMaxWait(100*time.Millisecond))...)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	t := &Tail{Topic: topic, From: from, client: client, news: make(chan struct{}, 1), done: make(chan struct{}), cancel: cancel}
	go t.run(ctx)
	return t, nil
}

func (t *Tail) run(ctx context.Context) {
	defer close(t.done)
	for {
		fetches := t.client.PollFetches(ctx)
		if ctx.Err() != nil {
			return
		}
		var batch []Record
		fetches.EachRecord(func(r *kgo.Record) { batch = append(batch, toRecord(r)) })
		t.mu.Lock()
		fetches.EachError(func(topic string, p int32, err error) {
			t.err = fmt.Errorf("tail %s/%d: %w", topic, p, err)
			t.noteError(t.err)
		})
		t.records = append(t.records, batch...)
		t.mu.Unlock()
		select {
		case t.news <- struct{}{}:
		default:
		}
	}
}

// maxTailErrors bounds Tail.Errors.
const maxTailErrors = 20

// noteError adds err to errs unless it is there already; t.mu is held.
func (t *Tail) noteError(err error) {
	msg := err.Error()
	for _, e := range t.errs {
		if strings.HasSuffix(e, " "+msg) {
			return
		}
	}
	if len(t.errs) < maxTailErrors {
		t.errs = append(t.errs, time.Now().UTC().Format("15:04:05.000")+" "+msg)
	}
}

// Errors returns the distinct fetch errors the tail has seen, each after
// the time it was first seen; nil when there were none.
func (t *Tail) Errors() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.errs)
}

// Records returns what the tail has seen so far.
func (t *Tail) Records() []Record {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Record(nil), t.records...)
}

// WaitFor returns once done is true of the records seen so far, or fails
// when ctx ends first. done may be called many times.
func (t *Tail) WaitFor(ctx context.Context, done func([]Record) bool) ([]Record, error) {
	for {
		recs := t.Records()
		if done(recs) {
			return recs, nil
		}
		select {
		case <-t.news:
		case <-ctx.Done():
			t.mu.Lock()
			err := t.err
			t.mu.Unlock()
			return recs, fmt.Errorf("waiting on %s (%d records seen, last fetch error: %v): %w", t.Topic, len(recs), err, ctx.Err())
		}
	}
}

// Close stops the tail.
func (t *Tail) Close() {
	t.cancel()
	<-t.done
	t.client.Close()
}

func toRecord(r *kgo.Record) Record {
	h := map[string]string{}
	for _, kv := range r.Headers {
		h[kv.Key] = string(kv.Value)
	}
	return newRecord(Record{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Key: string(r.Key), Value: r.Value, Headers: h, Timestamp: r.Timestamp})
}

// newRecord is rec with a framed value split into its schema id and JSON.
func newRecord(rec Record) Record {
	if id, payload, err := schemaid.Split(rec.Value); err == nil {
		rec.SchemaID, rec.Value = id, payload
	}
	return rec
}

// Committed returns the offset group has committed on a partition of
// topic (the next record it will read), or -1 when it has committed none.
func (k *Kafka) Committed(ctx context.Context, group, topic string, partition int32) (int64, error) {
	client, err := kgo.NewClient(k.opts()...)
	if err != nil {
		return 0, err
	}
	defer client.Close()
	offsets, err := kadm.NewClient(client).FetchOffsets(ctx, group)
	if err != nil {
		return 0, fmt.Errorf("committed offsets of %s: %w", group, err)
	}
	if o, ok := offsets.Lookup(topic, partition); ok && o.Err == nil {
		return o.At, nil
	}
	return -1, nil
}

// waitPast returns once the tail has read everything before ends (offsets
// from EndOffsets), so that what it holds is complete up to that point.
func (t *Tail) waitPast(ctx context.Context, ends map[int32]int64) ([]Record, error) {
	return t.WaitFor(ctx, func(recs []Record) bool {
		next := map[int32]int64{}
		for p, o := range t.From {
			next[p] = o
		}
		for _, r := range recs {
			next[r.Partition] = max(next[r.Partition], r.Offset+1)
		}
		for p, end := range ends {
			if next[p] < end {
				return false
			}
		}
		return true
	})
}

// UpToNow returns what the tail has read once it has caught up with
// everything on its topic at the time of the call: what was acknowledged
// before is all there.
func (t *Tail) UpToNow(ctx context.Context) ([]Record, error) {
	ends, err := endOffsets(ctx, t.client, t.Topic)
	if err != nil {
		return nil, err
	}
	return t.waitPast(ctx, ends)
}
