package stream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kafkakit/kit/services/platform/schemaid"
)

// fakeBroker holds partition logs (offset = index) that fakeReaders serve,
// optionally endless, and counts what they handed out.
type fakeBroker struct {
	mu        sync.Mutex
	logs      map[topicPartition][]kafka.Message
	endless   map[topicPartition]bool // records made up on demand, key "k<offset>"
	fetched   map[topicPartition]int
	fetchErrs int           // the next fetches fail, as while a broker is down
	fetchErr  error         // every fetch fails with it while set, as while an ACL refuses it
	grown     chan struct{} // closed and replaced when a log grows
}

func newFakeBroker() *fakeBroker {
	return &fakeBroker{logs: map[topicPartition][]kafka.Message{}, endless: map[topicPartition]bool{},
		fetched: map[topicPartition]int{}, grown: make(chan struct{})}
}

// produce appends records with these keys to topic/partition; the value
// is the key unless value is given.
func (b *fakeBroker) produce(topic string, partition int, keys ...string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	tp := topicPartition{topic, partition}
	for _, k := range keys {
		off := int64(len(b.logs[tp]))
		b.logs[tp] = append(b.logs[tp], kafka.Message{Topic: topic, Partition: partition, Offset: off,
			Key: []byte(k), Value: []byte(k)})
	}
	close(b.grown)
	b.grown = make(chan struct{})
}

func (b *fakeBroker) produceValue(topic string, partition int, key, value string) {
	b.produce(topic, partition, key)
	b.mu.Lock()
	defer b.mu.Unlock()
	log := b.logs[topicPartition{topic, partition}]
	log[len(log)-1].Value = []byte(value)
}

func (b *fakeBroker) end(topic string, partition int) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return int64(len(b.logs[topicPartition{topic, partition}]))
}

func (b *fakeBroker) fetchedFrom(topic string, partition int) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.fetched[topicPartition{topic, partition}]
}

func (b *fakeBroker) open(topic string, partition int, offset int64) partitionFetcher {
	if offset < 0 {
		offset = 0
	}
	return &fakeReader{b: b, tp: topicPartition{topic, partition}, next: offset}
}

type fakeReader struct {
	b    *fakeBroker
	tp   topicPartition
	next int64
}

func (r *fakeReader) FetchMessage(ctx context.Context) (kafka.Message, error) {
	for {
		r.b.mu.Lock()
		if r.b.fetchErr != nil {
			err := r.b.fetchErr
			r.b.mu.Unlock()
			return kafka.Message{}, err
		}
		if r.b.fetchErrs > 0 {
			r.b.fetchErrs--
			r.b.mu.Unlock()
			return kafka.Message{}, errors.New("[6] Not Leader For Partition")
		}
		log := r.b.logs[r.tp]
		var m kafka.Message
		ok := true
		switch {
		case r.next < int64(len(log)):
			m = log[r.next]
			m.HighWaterMark = int64(len(log))
		case r.b.endless[r.tp]:
			k := fmt.Sprintf("k%d", r.next)
			m = kafka.Message{Topic: r.tp.topic, Partition: r.tp.partition, Offset: r.next, Key: []byte(k), Value: []byte(k)}
		default:
			ok = false
		}
		grown := r.b.grown
		if ok {
			r.next++
			r.b.fetched[r.tp]++
		}
		r.b.mu.Unlock()
		if ok {
			return m, nil
		}
		select {
		case <-grown:
		case <-ctx.Done():
			return kafka.Message{}, ctx.Err()
		}
	}
}

func (r *fakeReader) Close() error { return nil }

// fakeGroup is a group coordinator for one member: the test hands out
// generations; each starts at the offsets the group stored, like kafka-go's
// fetch of committed offsets after a join. It accepts commits only from the
// current generation (a broker rejects the others with ILLEGAL_GENERATION)
// and records any that would have moved an offset backwards.
type fakeGroup struct {
	next      chan *fakeGen
	closed    chan struct{}
	closeOnce sync.Once

	mu        sync.Mutex
	current   *fakeGen
	store     map[topicPartition]int64
	commits   []string // "gen/topic/partition=offset", in order
	stale     []string // commits through a generation that was not current
	backwards []string
}

func newFakeGroup() *fakeGroup {
	return &fakeGroup{next: make(chan *fakeGen, 4), closed: make(chan struct{}), store: map[topicPartition]int64{}}
}

// assign queues a generation with these partitions per topic.
func (f *fakeGroup) assign(id int32, parts map[string][]int) *fakeGen {
	ctx, cancel := context.WithCancel(context.Background())
	g := &fakeGen{group: f, id: id, parts: parts, ctx: ctx, cancel: cancel}
	f.next <- g
	return g
}

func (f *fakeGroup) Next(ctx context.Context) (generation, error) {
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-f.closed:
		return nil, kafka.ErrGroupClosed
	case g := <-f.next:
		f.mu.Lock()
		defer f.mu.Unlock()
		g.assigned = map[string][]kafka.PartitionAssignment{}
		for topic, ps := range g.parts {
			for _, p := range ps {
				off, ok := f.store[topicPartition{topic, p}]
				if !ok {
					off = kafka.FirstOffset
				}
				g.assigned[topic] = append(g.assigned[topic], kafka.PartitionAssignment{ID: p, Offset: off})
			}
		}
		f.current = g
		return g, nil
	}
}

// Close ends the current generation and waits for it, as kafka-go does.
func (f *fakeGroup) Close() error {
	f.closeOnce.Do(func() { close(f.closed) })
	f.mu.Lock()
	g := f.current
	f.mu.Unlock()
	if g != nil {
		g.end()
	}
	return nil
}

func (f *fakeGroup) committed(topic string, partition int) (int64, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	off, ok := f.store[topicPartition{topic, partition}]
	return off, ok
}

func (f *fakeGroup) violations() (stale, backwards []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.stale...), append([]string(nil), f.backwards...)
}

type fakeGen struct {
	group    *fakeGroup
	id       int32
	parts    map[string][]int
	assigned map[string][]kafka.PartitionAssignment
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

func (g *fakeGen) GenerationID() int32 { return g.id }
func (g *fakeGen) Member() string      { return "member-1" }
func (g *fakeGen) PartitionAssignments() map[string][]kafka.PartitionAssignment {
	return g.assigned
}

func (g *fakeGen) Start(fn func(ctx context.Context)) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		fn(g.ctx)
		g.cancel()
	}()
}

// end ends the generation, as a rebalance does, and waits for what it started.
func (g *fakeGen) end() {
	g.cancel()
	g.wg.Wait()
}

// revoke ends the generation as a rebalance does, without waiting.
func (g *fakeGen) revoke() { g.cancel() }

func (g *fakeGen) CommitOffsets(offsets map[string]map[int]int64) error {
	f := g.group
	f.mu.Lock()
	defer f.mu.Unlock()
	for topic, ps := range offsets {
		for p, off := range ps {
			c := fmt.Sprintf("%d/%s/%d=%d", g.id, topic, p, off)
			if f.current != g {
				f.stale = append(f.stale, c)
				continue
			}
			tp := topicPartition{topic, p}
			if prev, ok := f.store[tp]; ok && off < prev {
				f.backwards = append(f.backwards, fmt.Sprintf("%s after %d", c, prev))
			}
			f.store[tp] = off
			f.commits = append(f.commits, c)
		}
	}
	if f.current != g {
		return kafka.IllegalGeneration
	}
	return nil
}

type fakeDLQ struct {
	mu   sync.Mutex
	msgs []kafka.Message
	// maxBytes, when set, refuses a write holding a record larger than it
	// (key, value and headers), as a broker refuses one above its topic's
	// max.message.bytes; refused counts the refusals.
	maxBytes int
	refused  int
	// denied, when set, refuses every write with it, as a broker whose
	// ACLs do not let the consumer's principal write the dead-letter topic.
	denied error
}

func (d *fakeDLQ) WriteMessages(_ context.Context, msgs ...kafka.Message) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.denied != nil {
		return fmt.Errorf("produce to %s: %w", msgs[0].Topic, d.denied)
	}
	for _, m := range msgs {
		if d.maxBytes > 0 && recordSize(m) > d.maxBytes {
			d.refused++
			return fmt.Errorf("produce to %s: %w", m.Topic, kafka.MessageSizeTooLarge)
		}
	}
	d.msgs = append(d.msgs, msgs...)
	return nil
}

func (d *fakeDLQ) refusals() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.refused
}

func (d *fakeDLQ) written() []kafka.Message {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]kafka.Message(nil), d.msgs...)
}

// raw routes topic to h with no contract, for tests of the machinery.
func raw(topic string, h Handler) Route {
	return Route{Topic: topic, bind: func(*schemaid.Registry) (Handler, error) { return h, nil }}
}

// logBuffer is a concurrency-safe log sink.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) contains(s string) bool { return strings.Contains(l.String(), s) }

// harness wires a Consumer to a fake broker, group and dead-letter topic.
type harness struct {
	broker *fakeBroker
	group  *fakeGroup
	dlq    *fakeDLQ
	logs   *logBuffer
	c      *Consumer
}

func newHarness(t *testing.T, cfg ConsumerConfig, routes ...Route) *harness {
	t.Helper()
	h := &harness{broker: newFakeBroker(), group: newFakeGroup(), dlq: &fakeDLQ{}, logs: &logBuffer{}}
	if cfg.Brokers == nil {
		cfg.Brokers = []string{"fake:9092"}
	}
	if cfg.Group == "" {
		cfg.Group = "g"
	}
	cfg.Log = slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := newConsumer(cfg, routes)
	if err != nil {
		t.Fatal(err)
	}
	c.group, c.open, c.dlq = h.group, h.broker.open, h.dlq
	h.c = c
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("consumer log:\n%s", h.logs.String())
		}
	})
	return h
}

// start runs the consumer until the returned stop is called; stop
// returns Run's error. The test fails if Run has not returned by then.
func (h *harness) start(t *testing.T) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.c.Run(ctx) }()
	stopped := false
	var err error
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			select {
			case err = <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("Run did not return within 20s of its context ending")
			}
		}
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// waitFor polls cond until it holds or a deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("%s: not reached within 10s", what)
		}
	}
}

// outcomes records what Observe reports.
type outcomes struct {
	mu   sync.Mutex
	list []Outcome
}

func (o *outcomes) observe(x Outcome) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.list = append(o.list, x)
}

func (o *outcomes) results(topic string, partition int, offset int64) []Result {
	o.mu.Lock()
	defer o.mu.Unlock()
	var rs []Result
	for _, x := range o.list {
		if x.Topic == topic && x.Partition == partition && x.Offset == offset {
			rs = append(rs, x.Result)
		}
	}
	return rs
}
