package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkakit/kit/harness/broker"
	"github.com/kafkakit/kit/harness/broker/kafka"
	"github.com/kafkakit/kit/harness/internal/syncbuf"
)

// TestClusterSurvivesLosingALeader runs the three-broker cluster through a
// failover: a topic replicated three times, a write acknowledged by all
// in-sync replicas, the leader of partition 0 killed, a second write that
// the two brokers left accept, and the killed broker back in sync.
func TestClusterSurvivesLosingALeader(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	var logs syncbuf.Buffer
	t.Cleanup(func() {
		if t.Failed() && logs.String() != "" {
			t.Logf("cluster output:\n%s", lastLinesOf(logs.String(), 200))
		}
	})
	began := time.Now()
	c, err := kafka.Start(ctx, kafka.Options{Brokers: 3, Log: &logs})
	if errors.Is(err, kafka.ErrMissingTool) {
		if os.Getenv("KAFKAKIT_SKIP_REAL_KAFKA") == "1" {
			t.Skipf("!!! KAFKA CLUSTER NOT TESTED (KAFKAKIT_SKIP_REAL_KAFKA=1): %v", err)
		}
		t.Fatalf("!!! KAFKA CLUSTER CANNOT RUN: %v (set KAFKAKIT_SKIP_REAL_KAFKA=1 to skip)", err)
	}
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	t.Logf("ZooKeeper and three brokers ready in %v at %v", time.Since(began).Round(time.Millisecond), c.Addrs())

	var cluster broker.Cluster = c
	if got := cluster.Name(); got != "kafka-cluster" {
		t.Errorf("Name() = %q, want kafka-cluster", got)
	}
	if got := cluster.BrokerIDs(); !slices.Equal(got, []int32{0, 1, 2}) {
		t.Errorf("BrokerIDs() = %v, want [0 1 2]", got)
	}
	addrs := cluster.Addrs()
	if len(addrs) != 3 {
		t.Fatalf("Addrs() = %v, want three addresses", addrs)
	}

	const topic = "kafkakit.cluster-test"
	if err := broker.CreateTopics(ctx, cluster, []broker.Topic{{Name: topic, Partitions: 3}}); err != nil {
		t.Fatalf("CreateTopics: %v", err)
	}
	p0, err := cluster.Leader(ctx, topic, 0)
	if err != nil {
		t.Fatalf("Leader: %v", err)
	}
	if len(p0.Replicas) != 3 || len(p0.ISR) != 3 {
		t.Fatalf("partition 0 = %+v, want three replicas, all in sync", p0)
	}

	cl := newClient(t, addrs, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produce := func(key string) *kgo.Record {
		t.Helper()
		r := &kgo.Record{Topic: topic, Partition: 0, Key: []byte(key), Value: []byte(`{"orderId":"` + key + `"}`)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce %s with acks=all: %v", key, err)
		}
		return r
	}
	before := produce("before-the-kill")

	killed := p0.Leader
	began = time.Now()
	if err := cluster.KillBroker(killed); err != nil {
		t.Fatalf("KillBroker(%d): %v", killed, err)
	}
	// The client retries until the controller has elected a new leader
	// among the two in-sync replicas left; min.insync.replicas=2 lets
	// acks=all succeed with them.
	after := produce("after-the-kill")
	t.Logf("a write was acknowledged %v after the leader (broker %d) was killed", time.Since(began).Round(time.Millisecond), killed)
	now := waitPartition(ctx, t, cluster, topic, 0, "a new leader, and the killed broker out of sync", func(p broker.Partition) bool {
		return p.Leader >= 0 && p.Leader != killed && !slices.Contains(p.ISR, killed)
	})
	if len(now.ISR) != 2 {
		t.Errorf("after the kill, partition 0 = %+v, want two replicas in sync", now)
	}

	began = time.Now()
	if err := cluster.RestartBroker(ctx, killed); err != nil {
		t.Fatalf("RestartBroker(%d): %v", killed, err)
	}
	waitPartition(ctx, t, cluster, topic, 0, fmt.Sprintf("broker %d back in sync", killed), func(p broker.Partition) bool {
		return len(p.ISR) == 3
	})
	t.Logf("broker %d restarted and back in sync in %v", killed, time.Since(began).Round(time.Millisecond))

	assertRecord(ctx, t, addrs, topic, before)
	assertRecord(ctx, t, addrs, topic, after)

	if err := cluster.KillBroker(7); err == nil {
		t.Errorf("KillBroker(7) on brokers 0-2 = nil, want an error")
	}
	dir := c.Dir()
	if err := c.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("data dir %s after Close: %v, want it gone", dir, err)
	}
}

// waitPartition asks where partition lives until ok accepts it, failing
// the test once ctx gives up.
func waitPartition(ctx context.Context, t *testing.T, c broker.Cluster, topic string, partition int32, what string, ok func(broker.Partition) bool) broker.Partition {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var last broker.Partition
	var lastErr error
	for {
		p, err := c.Leader(ctx, topic, partition)
		if err == nil && ok(p) {
			return p
		}
		last, lastErr = p, err
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v; last seen %+v (%v)", what, ctx.Err(), last, lastErr)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func lastLinesOf(s string, n int) string {
	lines := strings.SplitAfter(s, "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "")
}
