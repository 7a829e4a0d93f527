package stream

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// newCluster starts an embedded broker with topics of 3 partitions.
func newCluster(t *testing.T, topics ...string) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, topics...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// readAll reads every record of topic, by partition, in offset order.
func readAll(t *testing.T, c *kfake.Cluster, topic string, want int) map[int32][]*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := map[int32][]*kgo.Record{}
	for n := 0; n < want; {
		fs := cl.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			t.Fatalf("read %s: %v (after %d of %d records)", topic, err, n, want)
		}
		fs.EachRecord(func(r *kgo.Record) { out[r.Partition] = append(out[r.Partition], r); n++ })
	}
	return out
}

func TestProducerKeepsEachKeysOrderOnItsPartition(t *testing.T) {
	c := newCluster(t, "orders")
	p := NewProducer(c.ListenAddrs(), "orders", ProducerConfig{})
	defer p.Close()
	ctx := context.Background()
	const keys, each = 20, 15
	var wg sync.WaitGroup
	for k := range keys { // concurrent callers, each writing its key's records in order
		wg.Go(func() {
			for i := range each {
				if err := p.WriteMessages(ctx, kafka.Message{Key: []byte(fmt.Sprint("key-", k)), Value: []byte(fmt.Sprint(i))}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	byKey := map[string][]string{}
	partitionOf := map[string]int32{}
	for part, recs := range readAll(t, c, "orders", keys*each) {
		for _, r := range recs {
			key := string(r.Key)
			if got, seen := partitionOf[key]; seen && got != part {
				t.Errorf("%s on partitions %d and %d", key, got, part)
			}
			partitionOf[key] = part
			byKey[key] = append(byKey[key], string(r.Value))
		}
	}
	// Java clients (and franz-go's default) partition keys by murmur2: the
	// same key must land on the same partition whoever writes it.
	java := kgo.StickyKeyPartitioner(nil).ForTopic("orders")
	for k := range keys {
		key := fmt.Sprint("key-", k)
		if got := fmt.Sprint(byKey[key]); got != fmt.Sprint([]string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14"}) {
			t.Errorf("%s: records %v, want 0..14 in order", key, got)
		}
		if want := int32(java.Partition(&kgo.Record{Key: []byte(key)}, 3)); partitionOf[key] != want {
			t.Errorf("%s on partition %d, Java's partitioner says %d", key, partitionOf[key], want)
		}
	}
}

func TestProducerReportsWhereRecordsLanded(t *testing.T) {
	c := newCluster(t, "a", "b")
	p := NewProducer(c.ListenAddrs(), "", ProducerConfig{})
	defer p.Close()
	got, err := p.Produce(context.Background(),
		kafka.Message{Topic: "a", Key: []byte("x"), Value: []byte("1")},
		kafka.Message{Topic: "b", Key: []byte("x"), Value: []byte("2")},
		kafka.Message{Topic: "a", Key: []byte("x"), Value: []byte("3")})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Topic != "a" || got[1].Topic != "b" || got[2].Offset != got[0].Offset+1 || got[0].Partition != got[2].Partition {
		t.Errorf("written %+v, want topics a, b, a with a's two records one after the other on one partition", got)
	}
}

// TestProducerSendsAtOnceAndBatchesWhatWaits: one record goes out alone
// and at once; the records handed over while that request is in flight go
// out together in the next one.
func TestProducerSendsAtOnceAndBatchesWhatWaits(t *testing.T) {
	c := newCluster(t, "t")
	release := make(chan struct{})
	var requests atomic.Int32
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		if requests.Add(1) == 1 {
			c.SleepControl(func() { <-release }) // hold the first request in flight
		}
		return nil, nil, false
	})
	p := NewProducer(c.ListenAddrs(), "t", ProducerConfig{})
	defer p.Close()
	ctx := context.Background()
	first := make(chan error, 1)
	go func() { first <- p.WriteMessages(ctx, kafka.Message{Key: []byte("k"), Value: []byte("first")}) }()
	// The lone record goes on the wire at once, with no timer to wait for.
	waitFor(t, "the first record reaches the broker", func() bool { return requests.Load() > 0 })
	const more = 50
	var wg sync.WaitGroup
	for i := range more {
		wg.Go(func() {
			if err := p.WriteMessages(ctx, kafka.Message{Key: []byte("k"), Value: []byte(fmt.Sprint(i))}); err != nil {
				t.Error(err)
			}
		})
	}
	p.mu.Lock()
	q := p.queues[topicPartition{"t", p.balancer.Balance(kafka.Message{Key: []byte("k")}, 0, 1, 2)}]
	p.mu.Unlock()
	waitFor(t, "every call has handed its record over", func() bool { return pending(q) == more })
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if n := requests.Load(); n != 2 {
		t.Errorf("%d produce requests, want 2: the first record alone, the %d that waited together", n, more)
	}
}

func pending(q *produceQueue) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for _, it := range q.pending {
		n += len(it.idx)
	}
	return n
}

func TestProducerRetriesWhatMaySucceedAndReportsWhatCannot(t *testing.T) {
	c := newCluster(t, "t")
	p := NewProducer(c.ListenAddrs(), "", ProducerConfig{})
	defer p.Close()
	ctx := context.Background()

	// Two refusals a broker may lift (too few in-sync replicas): retried.
	h := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "t", Err: kerr.NotEnoughReplicas, Count: 2})
	if err := p.WriteMessages(ctx, kafka.Message{Topic: "t", Key: []byte("k"), Value: []byte("v"),
		Headers: []kafka.Header{{Key: "h", Value: []byte("1")}}}); err != nil {
		t.Errorf("write through two retriable refusals: %v", err)
	}
	if h.Hits() != 2 {
		t.Errorf("fault hit %d times, want 2", h.Hits())
	}
	for _, recs := range readAll(t, c, "t", 1) { // the third try carries the whole record
		if r := recs[0]; string(r.Key) != "k" || string(r.Value) != "v" || len(r.Headers) != 1 {
			t.Errorf("retried record written as key %q value %q headers %v, want k, v and its header", r.Key, r.Value, r.Headers)
		}
	}

	// A refusal no retry lifts: reported at once, per message.
	key0, key1 := keysOnTwoPartitions(p)
	part0 := p.balancer.Balance(kafka.Message{Key: key0}, 0, 1, 2)
	h = c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "t", Partitions: []int32{int32(part0)}, Err: kerr.MessageTooLarge, Count: -1})
	defer h.Remove()
	err := p.WriteMessages(ctx, kafka.Message{Topic: "t", Key: key0, Value: []byte("x")}, kafka.Message{Topic: "t", Key: key1, Value: []byte("y")})
	var partial kafka.WriteErrors
	if !errors.As(err, &partial) || len(partial) != 2 || !errors.Is(partial[0], kafka.MessageSizeTooLarge) || partial[1] != nil {
		t.Errorf("write to a refusing and a taking partition: %v, want WriteErrors [MESSAGE_TOO_LARGE, nil]", err)
	}
	if err := p.WriteMessages(ctx, kafka.Message{Topic: "nowhere", Value: []byte("v")}); err == nil {
		t.Error("write to a topic that does not exist succeeded")
	}
}

// keysOnTwoPartitions returns two keys murmur2 puts on different partitions.
func keysOnTwoPartitions(p *Producer) (a, b []byte) {
	a = []byte("a")
	first := p.balancer.Balance(kafka.Message{Key: a}, 0, 1, 2)
	for i := 0; ; i++ {
		b = []byte(fmt.Sprint("b", i))
		if p.balancer.Balance(kafka.Message{Key: b}, 0, 1, 2) != first {
			return a, b
		}
	}
}

func TestDeniedNamesKafkasCodeAndThePrincipal(t *testing.T) {
	for _, tc := range []struct {
		err       error
		principal string
		want      string
	}{
		{fmt.Errorf("produce to orders.status: %w", kafka.TopicAuthorizationFailed), "stock-service",
			"TOPIC_AUTHORIZATION_FAILED for User:stock-service"},
		{kafka.GroupAuthorizationFailed, "", "GROUP_AUTHORIZATION_FAILED for User:ANONYMOUS"},
		{kafka.NotLeaderForPartition, "stock-service", ""},
		{errors.New("topic authorization failed"), "stock-service", ""},
	} {
		if got := Denied(tc.err, tc.principal); got != tc.want {
			t.Errorf("Denied(%v, %q) = %q, want %q", tc.err, tc.principal, got, tc.want)
		}
	}
}
