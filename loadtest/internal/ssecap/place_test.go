package ssecap

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/schemaid"
	"github.com/kafkakit/kit/services/platform/stream"
)

// The placed order must read as orders-api's would: framed with its
// schema id and valid against it, or stock-service drops it and no stream
// ever sees a status.
func TestKafkaPlacerWritesARecordTheServicesRead(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(events.Partitions, events.TopicOrdersCreated))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	reg := srfake.New()
	t.Cleanup(reg.Close)

	place, closePlacer, err := KafkaPlacer(cluster.ListenAddrs(), events.TopicOrdersCreated, reg.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = closePlacer() })
	orderID := NewOrderID()
	if err := place(ctx, orderID); err != nil {
		t.Fatalf("place: %v", err)
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.ConsumeTopics(events.TopicOrdersCreated),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	fetches := cl.PollRecords(ctx, 1)
	if err := fetches.Err(); err != nil {
		t.Fatalf("reading %s: %v", events.TopicOrdersCreated, err)
	}
	recs := fetches.Records()
	if len(recs) != 1 {
		t.Fatalf("got %d records, want 1", len(recs))
	}
	ids, err := schemaid.New(reg.URL())
	if err != nil {
		t.Fatal(err)
	}
	decode, err := stream.ReadFramed[events.OrderCreated](ids, events.TopicOrdersCreated)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decode(ctx, kafka.Message{Topic: recs[0].Topic, Key: recs[0].Key, Value: recs[0].Value})
	if err != nil {
		t.Fatalf("the services' reader refuses the placed record: %v", err)
	}
	if got.OrderID != orderID || string(recs[0].Key) != orderID {
		t.Errorf("got order %q keyed %q, want %q", got.OrderID, recs[0].Key, orderID)
	}
}
