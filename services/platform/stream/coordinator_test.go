package stream_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/stream"
	"github.com/kafkakit/kit/services/platform/topics"
)

// TestAMemberJoinsPastABootstrapBrokerThatAcceptsButAnswersNothing: to join,
// kafka-go asks the first bootstrap broker it can connect to which broker
// coordinates the group, and only that one. A broker that takes the
// connection and then drops every request — a proxy in front of a broker that
// died (toxiproxy, a load balancer), a broker shutting down — kept the member
// out of its group for as long as it stayed first in the list: in the cluster
// failover scenario with FAULTS=1, stock-service never rejoined after the
// leader it listed first was killed, and no order placed after the crash was
// reserved. The member must ask the next broker instead.
func TestAMemberJoinsPastABootstrapBrokerThatAcceptsButAnswersNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	live := cluster.ListenAddrs()
	suffix := fmt.Sprintf("%d", time.Now().UnixNano())
	topic, group := "coordinator-"+suffix, "coordinator-"+suffix
	if err := topics.Create(ctx, live, nil, 1, topics.Topic{Name: topic, Partitions: 1}); err != nil {
		t.Fatal(err)
	}

	// What a proxy with a dead upstream does: accept, then hang up.
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dead.Close() })
	go func() {
		for {
			conn, err := dead.Accept()
			if err != nil {
				return
			}
			conn.Close()
		}
	}()

	w := stream.NewProducer(live, topic, stream.ProducerConfig{})
	t.Cleanup(func() { w.Close() })
	id := "00000000-0000-4000-8000-000000000001"
	v, err := json.Marshal(events.OrderCreated{OrderID: id, UserID: "coordinator",
		Items: []events.Item{{SKU: "SKU-1", Qty: 1}}, Total: 1, Currency: "EUR", CreatedAt: time.Now().UTC().Truncate(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteMessages(ctx, kafka.Message{Key: []byte(id), Value: v}); err != nil {
		t.Fatalf("produce: %v", err)
	}

	got := make(chan string, 1)
	var once sync.Once
	c, err := stream.NewConsumer(stream.ConsumerConfig{
		Brokers: []string{dead.Addr().String(), live[0]}, Group: group,
	}, stream.On(events.TopicOrdersCreated, func(_ context.Context, o events.OrderCreated) error {
		once.Do(func() { got <- o.OrderID })
		return nil
	}).From(topic))
	if err != nil {
		t.Fatalf("NewConsumer: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Run(runCtx) }()
	select {
	case orderID := <-got:
		if orderID != id {
			t.Errorf("handled order %s, want %s", orderID, id)
		}
	case <-ctx.Done():
		t.Fatalf("the member never joined its group with %s (accepting, then hanging up) first in the bootstrap list: last join error: %v",
			dead.Addr(), c.Joined(context.Background()))
	}
	stop()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v, want nil", err)
	}
}
