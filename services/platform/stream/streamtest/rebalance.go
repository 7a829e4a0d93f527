// Package streamtest holds checks of package stream that need a broker, so
// the same check runs on the embedded broker in the unit tests and on real
// Kafka from the harness.
package streamtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/stream"
	"github.com/kafkakit/kit/services/platform/topics"
)

// Rebalance checks, on the broker at brokers, that commits belong to their
// generation: one consumer works through a topic with a slow handler, a
// second joins the group mid-stream, more records arrive; throughout, an
// offset fetch in a loop asserts that no partition's committed offset ever
// goes backwards. At the end every record was handled at least once and the
// committed offsets equal the end offsets. It uses a topic and group of its
// own, so it can share a broker.
func Rebalance(t *testing.T, brokers []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const partitions = 3
	suffix := fmt.Sprintf("%d", time.Now().UnixNano())
	topic, group := "streamtest.rebalance-"+suffix, "streamtest-rebalance-"+suffix
	if err := topics.Create(ctx, brokers, nil, 1, topics.Topic{Name: topic, Partitions: partitions}); err != nil {
		t.Fatal(err)
	}
	// A transport of its own, made once the topic exists: kafka-go's
	// DefaultTransport answers from a metadata cache another test in this
	// process may have filled before the topic was created, and refreshes it
	// only every few seconds (the floor relays met exactly that).
	transport := &kafka.Transport{}
	t.Cleanup(transport.CloseIdleConnections)
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second, Transport: transport}

	logs := &syncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("consumer logs:\n%s", logs.String())
		}
	})
	log := slog.New(slog.NewJSONHandler(logs, nil))

	// The handler is slow on purpose, so records are in flight when the
	// second member joins; it gives up when its work is cancelled.
	var mu sync.Mutex
	handled := map[int]map[int64]int{}
	perMember := map[string]int{}
	slow := func(ctx context.Context, _ events.OrderCreated) error {
		work := time.NewTimer(20 * time.Millisecond)
		defer work.Stop()
		select {
		case <-work.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	// Which record a handler ran for comes from a middleware, since the
	// typed handler sees only the value.
	record := func(member string) func(stream.Handler) stream.Handler {
		return func(next stream.Handler) stream.Handler {
			return func(ctx context.Context, m kafka.Message) error {
				err := next(ctx, m)
				if err == nil {
					mu.Lock()
					if handled[m.Partition] == nil {
						handled[m.Partition] = map[int64]int{}
					}
					handled[m.Partition][m.Offset]++
					perMember[member]++
					mu.Unlock()
				}
				return err
			}
		}
	}
	handledCount := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, offs := range handled {
			n += len(offs)
		}
		return n
	}
	start := func(member string) (*stream.Consumer, func()) {
		c, err := stream.NewConsumer(stream.ConsumerConfig{
			Brokers: brokers, Group: group, MaxInFlight: 4, Log: log.With("consumer", member),
			Middleware: []func(stream.Handler) stream.Handler{record(member)},
		}, stream.On(events.TopicOrdersCreated, slow).From(topic))
		if err != nil {
			t.Fatalf("NewConsumer: %v", err)
		}
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- c.Run(runCtx) }()
		stopped := false
		return c, func() {
			if stopped {
				return
			}
			stopped = true
			stop()
			if err := <-done; err != nil {
				t.Errorf("%s: Run = %v, want nil", member, err)
			}
			if err := c.Close(); err != nil {
				t.Errorf("%s: Close = %v", member, err)
			}
		}
	}

	// The monitor: committed offsets never go backwards.
	var violations []string
	var maxSeen [partitions]int64
	for i := range maxSeen {
		maxSeen[i] = -1
	}
	monitorCtx, stopMonitor := context.WithCancel(ctx)
	monitorDone := make(chan struct{})
	check := func(ctx context.Context) map[int]int64 {
		got, err := committed(ctx, client, group, topic, partitions)
		if err != nil {
			return nil
		}
		for p, off := range got {
			if v := fmt.Sprintf("partition %d: committed %d after %d", p, off, maxSeen[p]); off < maxSeen[p] && !slices.Contains(violations, v) {
				violations = append(violations, v)
			}
			maxSeen[p] = max(maxSeen[p], off)
		}
		return got
	}
	go func() {
		defer close(monitorDone)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-monitorCtx.Done():
				return
			case <-tick.C:
				check(monitorCtx)
			}
		}
	}()
	t.Cleanup(func() { stopMonitor(); <-monitorDone })

	writer := stream.NewProducer(brokers, topic, stream.ProducerConfig{})
	t.Cleanup(func() { _ = writer.Close() })
	produce(ctx, t, writer, 0, 300)

	_, stopA := start("a")
	t.Cleanup(stopA)
	waitFor(ctx, t, "the first member handled 40 records", func() bool { return handledCount() >= 40 })

	b, stopB := start("b")
	t.Cleanup(stopB)
	waitFor(ctx, t, "the second member got partitions", func() bool { return len(b.Assignments()) > 0 })
	produce(ctx, t, writer, 300, 300)

	ends := endOffsets(ctx, t, client, topic, partitions)
	waitFor(ctx, t, fmt.Sprintf("committed offsets reach the end offsets %v", ends), func() bool {
		got, err := committed(ctx, client, group, topic, partitions)
		if err != nil {
			return false
		}
		for p, end := range ends {
			if got[p] != end {
				return false
			}
		}
		return true
	})
	stopB()
	stopA()
	stopMonitor()
	<-monitorDone
	final := check(ctx)

	if len(violations) > 0 {
		t.Errorf("committed offsets went backwards: %s", strings.Join(violations, "; "))
	}
	mu.Lock()
	defer mu.Unlock()
	total := int64(0)
	for p, end := range ends {
		total += end
		for off := int64(0); off < end; off++ {
			if handled[p][off] == 0 {
				t.Errorf("partition %d offset %d was never handled", p, off)
			}
		}
	}
	if total != 600 {
		t.Errorf("end offsets %v sum to %d, want the 600 records produced", ends, total)
	}
	if fmt.Sprint(final) != fmt.Sprint(ends) {
		t.Errorf("final committed offsets %v, want the end offsets %v", final, ends)
	}
	if perMember["a"] == 0 || perMember["b"] == 0 {
		t.Errorf("records handled per member %v, want both members to have worked", perMember)
	}
	if !strings.Contains(logs.String(), `"reason":"generation ended"`) {
		t.Errorf("the first member's generation never ended: no rebalance happened")
	}
	t.Logf("handled %d records (a %d, b %d) for 600 produced; committed %v", handledCountLocked(handled),
		perMember["a"], perMember["b"], final)
}

func handledCountLocked(handled map[int]map[int64]int) int {
	n := 0
	for _, offs := range handled {
		for _, c := range offs {
			n += c
		}
	}
	return n
}

// produce writes n valid orders.created records, keyed by order id over 50
// keys, the first numbered from.
func produce(ctx context.Context, t *testing.T, w *stream.Producer, from, n int) {
	t.Helper()
	msgs := make([]kafka.Message, 0, n)
	for i := from; i < from+n; i++ {
		id := fmt.Sprintf("00000000-0000-4000-8000-%012d", i%50)
		v, err := json.Marshal(events.OrderCreated{OrderID: id, UserID: "streamtest",
			Items: []events.Item{{SKU: "SKU-1", Qty: 1}}, Total: 1, Currency: "EUR", CreatedAt: time.Now().UTC().Truncate(time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, kafka.Message{Key: []byte(id), Value: v})
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// committed fetches the group's committed offset of each partition (-1 when none).
func committed(ctx context.Context, client *kafka.Client, group, topic string, partitions int) (map[int]int64, error) {
	ids := make([]int, partitions)
	for i := range ids {
		ids[i] = i
	}
	resp, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: ids}})
	if err != nil {
		return nil, err
	}
	if resp.Error != nil {
		return nil, resp.Error
	}
	out := map[int]int64{}
	for _, p := range resp.Topics[topic] {
		if p.Error != nil {
			return nil, p.Error
		}
		out[p.Partition] = p.CommittedOffset
	}
	return out, nil
}

func endOffsets(ctx context.Context, t *testing.T, client *kafka.Client, topic string, partitions int) map[int]int64 {
	t.Helper()
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for p := 0; p < partitions; p++ {
		req.Topics[topic] = append(req.Topics[topic], kafka.LastOffsetOf(p))
	}
	resp, err := client.ListOffsets(ctx, req)
	if err != nil {
		t.Fatalf("list offsets: %v", err)
	}
	out := map[int]int64{}
	for _, p := range resp.Topics[topic] {
		if p.Error != nil {
			t.Fatalf("list offsets of partition %d: %v", p.Partition, p.Error)
		}
		out[p.Partition] = p.LastOffset
	}
	return out
}

// waitFor polls cond until it holds, failing the test at ctx's deadline.
func waitFor(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("%s: not reached before the deadline", what)
		}
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
