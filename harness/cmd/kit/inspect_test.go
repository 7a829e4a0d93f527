package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kafkakit/kit/harness/broker"
	"github.com/kafkakit/kit/harness/broker/embedded"
	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/inspect"
	"github.com/kafkakit/kit/services/platform/stream"
)

// The inspect package's client against the embedded broker: what the
// commands print stands on these answers.

// startBroker runs the embedded broker with topics of events.Partitions each.
func startBroker(t *testing.T, topics ...string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := embedded.Start(ctx, embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	var ts []broker.Topic
	for _, name := range topics {
		ts = append(ts, broker.Topic{Name: name, Partitions: events.Partitions})
	}
	if err := broker.CreateTopics(ctx, b, ts); err != nil {
		t.Fatal(err)
	}
	return b.Addrs()
}

func produce(t *testing.T, ctx context.Context, brokers []string, topic string, keys ...string) {
	t.Helper()
	w := stream.NewProducer(brokers, topic, stream.ProducerConfig{})
	defer w.Close()
	var msgs []kafka.Message
	for _, k := range keys {
		msgs = append(msgs, kafka.Message{Key: []byte(k), Value: []byte(`{"k":"` + k + `"}`)})
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
}

func TestInspectClusterDescribesTopicsWithOffsets(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	brokers := startBroker(t, "inspect.topics", "inspect.empty")
	produce(t, ctx, brokers, "inspect.topics", "a", "b", "c", "d", "e", "f")
	c := inspect.New(brokers, nil)
	defer c.Close()

	cl, err := c.Cluster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(cl.Brokers) != 1 || cl.Brokers[0].Addr == "" {
		t.Errorf("brokers = %+v, want the one broker with its address", cl.Brokers)
	}
	var names []string
	for _, tp := range cl.Topics {
		names = append(names, tp.Name)
	}
	if want := []string{"inspect.empty", "inspect.topics"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("topics = %v, want %v", names, want)
	}
	var total int64
	for i, p := range cl.Topics[1].Partitions {
		if p.ID != i || p.Leader < 0 || len(p.Replicas) != 1 || len(p.ISR) != 1 || p.Earliest != 0 || p.Err != nil {
			t.Errorf("partition %d = %+v, want a led partition with one replica in sync, from offset 0", i, p)
		}
		total += p.Latest - p.Earliest
	}
	if len(cl.Topics[1].Partitions) != events.Partitions || total != 6 {
		t.Errorf("%d partitions holding %d records, want %d holding 6", len(cl.Topics[1].Partitions), total, events.Partitions)
	}

	one, err := c.Cluster(ctx, "inspect.empty")
	if err != nil || len(one.Topics) != 1 || one.Topics[0].Name != "inspect.empty" {
		t.Errorf("Cluster(inspect.empty) = %+v, %v; want that topic alone", one.Topics, err)
	}
	if _, err := c.Cluster(ctx, "inspect.nope"); !errors.Is(err, inspect.ErrUnknownTopic) {
		t.Errorf("Cluster(inspect.nope) error = %v, want inspect.ErrUnknownTopic", err)
	}
}

func TestInspectNamesAnUnreachableBroker(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := inspect.New([]string{addr}, nil)
	defer c.Close()
	_, err = c.Cluster(ctx)
	if !errors.Is(err, inspect.ErrUnreachable) {
		t.Errorf("Cluster on a closed port: error = %v, want inspect.ErrUnreachable", err)
	}
	if _, err := c.Groups(ctx); !errors.Is(err, inspect.ErrUnreachable) {
		t.Errorf("Groups on a closed port: error = %v, want inspect.ErrUnreachable", err)
	}
}

// TestInspectGroupsShowMembersCommitsAndLagAndResetNeedsAStoppedGroup has a kafka-go consumer group read and
// commit part of a topic, then checks what Groups reports while it runs and
// that a reset is refused until it stops, then done.
func TestInspectGroupsShowMembersCommitsAndLagAndResetNeedsAStoppedGroup(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const topic = "inspect.groups"
	group := fmt.Sprintf("inspect-test-%d", time.Now().UnixNano())
	brokers := startBroker(t, topic)
	produce(t, ctx, brokers, topic, "k1", "k1", "k1", "k1") // one key: one partition, offsets 0..3
	c := inspect.New(brokers, nil)
	defer c.Close()

	r := groupReader(brokers, group, topic)
	m, err := r.FetchMessage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.CommitMessages(ctx, m); err != nil { // committed: offset 1
		t.Fatal(err)
	}

	groups, err := c.Groups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 1 || groups[0].ID != group {
		t.Fatalf("groups = %+v, want just %s", groups, group)
	}
	g := groups[0]
	if g.State != "Stable" || len(g.Members) != 1 || g.Error != "" {
		t.Fatalf("group = %+v, want Stable with one member", g)
	}
	mem := g.Members[0]
	if mem.ID == "" || mem.ClientID == "" || len(mem.Assignments) != 1 || mem.Assignments[0].Topic != topic ||
		!reflect.DeepEqual(mem.Assignments[0].Partitions, []int{0, 1, 2}) {
		t.Errorf("member = %+v, want an id, a client id and all three partitions of %s", mem, topic)
	}
	if len(g.Partitions) != events.Partitions {
		t.Fatalf("partitions = %+v, want all %d (owned)", g.Partitions, events.Partitions)
	}
	for _, p := range g.Partitions {
		want := inspect.GroupPartition{Topic: topic, Partition: p.Partition, Committed: -1, End: 0, Lag: 0, MemberID: mem.ID}
		if p.Partition == m.Partition {
			want.Committed, want.End, want.Lag = 1, 4, 3
		}
		if p != want {
			t.Errorf("partition %d = %+v, want %+v", p.Partition, p, want)
		}
	}

	if _, err := c.ResetOffsets(ctx, group, topic, inspect.Earliest); !errors.Is(err, inspect.ErrGroupActive) {
		t.Errorf("ResetOffsets while a member runs: error = %v, want inspect.ErrGroupActive", err)
	}
	if after, _ := c.Groups(ctx, group); after[0].Partitions[m.Partition].Committed != 1 {
		t.Errorf("a refused reset moved the committed offset to %d", after[0].Partitions[m.Partition].Committed)
	}

	if err := r.Close(); err != nil { // leaves the group
		t.Fatal(err)
	}
	changes, err := c.ResetOffsets(ctx, group, topic, inspect.Latest)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != events.Partitions {
		t.Fatalf("changes = %+v, want one per partition", changes)
	}
	for _, ch := range changes {
		want := inspect.OffsetChange{Topic: topic, Partition: ch.Partition, Before: -1, After: 0}
		if ch.Partition == m.Partition {
			want.Before, want.After = 1, 4
		}
		if ch != want {
			t.Errorf("change = %+v, want %+v", ch, want)
		}
	}
	changes, err = c.ResetOffsets(ctx, group, topic, inspect.At(2), m.Partition)
	if err != nil {
		t.Fatal(err)
	}
	if want := []inspect.OffsetChange{{Topic: topic, Partition: m.Partition, Before: 4, After: 2}}; !reflect.DeepEqual(changes, want) {
		t.Errorf("reset of one partition to 2 = %+v, want %+v", changes, want)
	}
	groups, err = c.Groups(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	if g := groups[0]; g.State != "Empty" || len(g.Members) != 0 || g.Partitions[m.Partition].Lag != 2 {
		t.Errorf("after the reset: %+v, want Empty, no members, lag 2 on partition %d", g, m.Partition)
	}
	if _, err := c.ResetOffsets(ctx, group, topic, inspect.Earliest, 7); err == nil {
		t.Error("ResetOffsets of partition 7 of a 3-partition topic succeeded")
	}
	if _, err := c.ResetOffsets(ctx, group, "inspect.nope", inspect.Earliest); !errors.Is(err, inspect.ErrUnknownTopic) {
		t.Errorf("ResetOffsets on an unknown topic: error = %v, want inspect.ErrUnknownTopic", err)
	}
}

// groupReader is a plain kafka-go member of group on topic: it starts at the
// earliest offset and commits synchronously, so a test controls what is
// committed. Closing it waits for the fetch in flight, which the broker
// holds for up to MaxWait on an empty partition: kafka-go's default of 10 s
// made each test that closes one wait 9 s.
func groupReader(brokers []string, group, topic string) *kafka.Reader {
	return kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, GroupID: group, Topic: topic,
		StartOffset: kafka.FirstOffset, HeartbeatInterval: time.Second, SessionTimeout: 6 * time.Second,
		MaxWait: 200 * time.Millisecond})
}
