package kafka_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkakit/kit/harness/broker"
	"github.com/kafkakit/kit/harness/broker/kafka"
	"github.com/kafkakit/kit/harness/internal/syncbuf"
)

// TestBroker runs one real ZooKeeper and Kafka pair through the life the
// harness gives it: start, a topic, a record, a restart that keeps the
// record and the port, and a Close that leaves nothing behind. The subtests
// share the broker because a JVM start costs seconds; they run in order.
func TestBroker(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	var logs syncbuf.Buffer
	t.Cleanup(func() {
		if t.Failed() && logs.String() != "" {
			t.Logf("broker output:\n%s", logs.String())
		}
	})

	began := time.Now()
	b, err := kafka.Start(ctx, kafka.Options{Log: &logs})
	if errors.Is(err, kafka.ErrMissingTool) {
		if os.Getenv("KAFKAKIT_SKIP_REAL_KAFKA") == "1" {
			t.Skipf("!!! REAL KAFKA NOT TESTED (KAFKAKIT_SKIP_REAL_KAFKA=1): %v", err)
		}
		t.Fatalf("!!! REAL KAFKA CANNOT RUN: %v (set KAFKAKIT_SKIP_REAL_KAFKA=1 to skip)", err)
	}
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Logf("ZooKeeper and Kafka ready in %v at %v", time.Since(began).Round(time.Millisecond), b.Addrs())
	closed := false
	t.Cleanup(func() {
		if !closed {
			_ = b.Close(context.Background())
		}
	})

	var r broker.Restarter = b
	if got := r.Name(); got != "kafka" {
		t.Errorf("Name() = %q, want %q", got, "kafka")
	}
	addrs := r.Addrs()
	if len(addrs) != 1 {
		t.Fatalf("Addrs() = %v, want one address", addrs)
	}
	if host, _, _ := net.SplitHostPort(addrs[0]); host != "127.0.0.1" {
		t.Errorf("Addrs() = %v, want a 127.0.0.1 address", addrs)
	}

	const topic = "kafkakit.broker-test"
	record := &kgo.Record{Topic: topic, Key: []byte("order-1"), Value: []byte(`{"orderId":"order-1"}`)}

	t.Run("creates a topic and round-trips a record", func(t *testing.T) {
		cl := newClient(t, addrs)
		adm := kadm.NewClient(cl)
		res, err := adm.CreateTopic(ctx, 3, 1, nil, topic)
		if err != nil || res.Err != nil {
			t.Fatalf("CreateTopic: %v %v", err, res.Err)
		}
		details, err := adm.ListTopics(ctx, topic)
		if err != nil {
			t.Fatalf("ListTopics: %v", err)
		}
		if got := len(details[topic].Partitions); got != 3 {
			t.Errorf("partitions = %d, want 3", got)
		}
		if err := cl.ProduceSync(ctx, record).FirstErr(); err != nil {
			t.Fatalf("ProduceSync: %v", err)
		}
		assertRecord(ctx, t, addrs, topic, record)
	})

	t.Run("keeps records and port across Stop and Start", func(t *testing.T) {
		if err := r.Stop(ctx); err != nil {
			t.Fatalf("Stop: %v", err)
		}
		if conn, err := net.DialTimeout("tcp", addrs[0], time.Second); err == nil {
			conn.Close()
			t.Errorf("%s still accepts connections after Stop", addrs[0])
		}
		began := time.Now()
		if err := r.Start(ctx); err != nil {
			t.Fatalf("Start after Stop: %v", err)
		}
		t.Logf("Kafka restarted in %v", time.Since(began).Round(time.Millisecond))
		// Start returns only once the restarted broker leads its
		// partitions again: a client's first look must find them led,
		// not "unknown topic" as in the moment after the JVM starts.
		details, err := kadm.NewClient(newClient(t, addrs)).ListTopics(ctx, topic)
		if err != nil {
			t.Fatalf("ListTopics right after Start: %v", err)
		}
		if d := details[topic]; d.Err != nil || len(d.Partitions) != 3 {
			t.Errorf("right after Start, %s is %v with %d partitions, want it known with 3", topic, d.Err, len(d.Partitions))
		}
		for _, p := range details[topic].Partitions.Sorted() {
			if p.Err != nil || p.Leader != 0 {
				t.Errorf("right after Start, %s/%d has leader %d (%v), want broker 0", topic, p.Partition, p.Leader, p.Err)
			}
		}
		if got := r.Addrs(); len(got) != 1 || got[0] != addrs[0] {
			t.Errorf("Addrs() after restart = %v, want %v", got, addrs)
		}
		assertRecord(ctx, t, addrs, topic, record)
	})

	t.Run("Close stops both processes and removes the directory", func(t *testing.T) {
		dir, zk := b.Dir(), b.ZooKeeperAddr()
		if _, err := os.Stat(dir); err != nil {
			t.Fatalf("data dir before Close: %v", err)
		}
		closed = true
		if err := b.Close(ctx); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("data dir %s after Close: %v, want it gone", dir, err)
		}
		for _, addr := range []string{addrs[0], zk} {
			if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
				conn.Close()
				t.Errorf("%s still accepts connections after Close", addr)
			}
		}
		if err := b.Start(ctx); !errors.Is(err, kafka.ErrClosed) {
			t.Errorf("Start after Close = %v, want ErrClosed", err)
		}
	})
}

// newClient returns a client closed with the test.
func newClient(t *testing.T, addrs []string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addrs...)}, opts...)...)
	if err != nil {
		t.Fatalf("kgo.NewClient: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// assertRecord reads topic from the start with a fresh client until it
// finds want, failing once ctx gives up.
func assertRecord(ctx context.Context, t *testing.T, addrs []string, topic string, want *kgo.Record) {
	t.Helper()
	cl := newClient(t, addrs, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("record %s not consumed from %s: %v", want.Key, topic, ctx.Err())
		}
		for _, got := range fetches.Records() {
			if bytes.Equal(got.Key, want.Key) && bytes.Equal(got.Value, want.Value) {
				return
			}
		}
	}
}
