package hops

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkakit/kit/services/events"
)

func TestMeasureSplitsEachOrderAtItsRecordsTimestamps(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(events.Partitions, events.OrderPath...))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic(events.TopicOrdersCreated))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	base := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	var orders []Order
	for i := range 100 {
		id := fmt.Sprint("order-", i)
		at := base.Add(time.Duration(i) * time.Second)
		slow := time.Duration(0)
		if i == 99 { // the slowest: 40 ms more in stock-service
			slow = 40 * time.Millisecond
		}
		// intended +1 ms 201, +2 ms created sent, +5(+slow) reserved, +6 status, +8 seen
		orders = append(orders, Order{ID: id, Intended: at, Accepted: time.Millisecond, Final: 8*time.Millisecond + slow})
		for _, r := range []*kgo.Record{
			{Topic: events.TopicOrdersCreated, Key: []byte(id), Value: []byte(`{}`), Timestamp: at.Add(2 * time.Millisecond)},
			{Topic: events.TopicStockReservations, Key: []byte(id), Value: []byte(`{}`), Timestamp: at.Add(5*time.Millisecond + slow)},
			{Topic: events.TopicOrdersStatus, Key: []byte(id), Value: []byte(`{"status":"CREATED"}`), Timestamp: at.Add(5*time.Millisecond + slow)},
			{Topic: events.TopicOrdersStatus, Key: []byte(id), Value: []byte(`{"status":"PAID"}`), Timestamp: at.Add(6*time.Millisecond + slow)},
		} {
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	orders = append(orders, Order{ID: "never-recorded", Intended: base, Accepted: time.Millisecond, Final: time.Second})
	b, err := Measure(ctx, c.ListenAddrs(), orders)
	if err != nil {
		t.Fatal(err)
	}
	if b.Orders != 100 || b.Missing != 1 || len(b.Hops) != len(Names) {
		t.Fatalf("breakdown of %d orders, %d missing, %d hops; want 100, 1, %d", b.Orders, b.Missing, len(b.Hops), len(Names))
	}
	want := []float64{1, 1, 3, 1, 2} // each hop of a median order, ms
	for i, h := range b.Hops {
		if h.MedianMean < want[i]-0.01 || h.MedianMean > want[i]+0.01 {
			t.Errorf("%s: median band mean %.2f ms, want %.0f", h.Name, h.MedianMean, want[i])
		}
	}
	if s := b.Hops[2].SlowMean; s < 42.9 || s > 43.1 {
		t.Errorf("stock-service's mean over the slowest 1%% = %.2f ms, want 43: the slow order's extra time is that hop's", s)
	}
}
