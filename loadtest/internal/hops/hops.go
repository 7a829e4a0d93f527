// Package hops splits each order's time to PAID into the hops it crossed,
// from the timestamps its records carry: every producer of the kit stamps a
// record with the moment it sent it (the outbox relays and the processor;
// Kafka keeps that CreateTime), and the runner knows when it meant to send
// the order, when the 201 came and when PAID arrived on the stream. All of
// them read one machine's clock.
package hops

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkakit/kit/loadtest/internal/stats"
	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/schemaid"
)

// Order is what the runner saw of one order.
type Order struct {
	ID       string
	Intended time.Time
	Accepted time.Duration // intended -> 201
	Final    time.Duration // intended -> PAID/FAILED seen on the stream
}

// The hops of an order, in the order it crosses them.
var Names = []string{
	"API: intended send -> 201",
	"outbox relay: 201 -> orders.created sent",
	"stock-service: orders.created sent -> stock.reservations sent",
	"orders-processor: stock.reservations sent -> final status sent",
	"notifications-api: final status sent -> seen on the stream",
}

// Hop is one hop's latency over the orders, in milliseconds.
type Hop struct {
	Name string  `json:"name"`
	P50  float64 `json:"p50_ms"`
	P90  float64 `json:"p90_ms"`
	P99  float64 `json:"p99_ms"`
	// SlowMean is the hop's mean over the slowest 1% of orders (by time to
	// the final status): where the tail's time goes.
	SlowMean float64 `json:"slowest_1pct_mean_ms"`
	// MedianMean is its mean over the orders from p45 to p55.
	MedianMean float64 `json:"median_band_mean_ms"`
}

// Breakdown is the hops of a run's orders.
type Breakdown struct {
	Orders int   `json:"orders"`
	Hops   []Hop `json:"hops"`
	// Missing counts orders whose records were not all found.
	Missing int `json:"missing"`
}

// Measure reads the orders' records from the kit's topics on brokers and
// splits each order's time into its hops. Record timestamps have
// millisecond resolution, so a hop of a fraction of a millisecond reads as
// 0 or 1 ms; the tail, tens of milliseconds, is what this is for.
func Measure(ctx context.Context, brokers []string, orders []Order, opts ...kgo.Opt) (Breakdown, error) {
	want := make(map[string]int, len(orders))
	for i, o := range orders {
		want[o.ID] = i
	}
	sent := make([][3]time.Time, len(orders)) // each topic of events.OrderPath: created, reserved, final
	if err := readAll(ctx, brokers, opts, events.OrderPath, func(r *kgo.Record) {
		i, ok := want[string(r.Key)]
		if !ok {
			return
		}
		slot := slices.Index(events.OrderPath, r.Topic)
		value := r.Value
		if _, payload, err := schemaid.Split(value); err == nil {
			value = payload // the JSON after the schema-id framing
		}
		if r.Topic == events.TopicOrdersStatus && !bytes.Contains(value, []byte(`"status":"PAID"`)) && !bytes.Contains(value, []byte(`"status":"FAILED"`)) {
			return
		}
		if sent[i][slot].IsZero() { // the first of a redelivery's copies
			sent[i][slot] = r.Timestamp
		}
	}); err != nil {
		return Breakdown{}, err
	}

	type split struct {
		total time.Duration
		hops  [5]time.Duration
	}
	var splits []split
	b := Breakdown{}
	for i, o := range orders {
		s := sent[i]
		if s[0].IsZero() || s[1].IsZero() || s[2].IsZero() {
			b.Missing++
			continue
		}
		accepted := o.Intended.Add(o.Accepted)
		seen := o.Intended.Add(o.Final)
		h := [5]time.Duration{o.Accepted, s[0].Sub(accepted), s[1].Sub(s[0]), s[2].Sub(s[1]), seen.Sub(s[2])}
		for j := range h {
			h[j] = max(h[j], 0) // a millisecond timestamp can read earlier than a runner's clock
		}
		splits = append(splits, split{o.Final, h})
	}
	b.Orders = len(splits)
	if len(splits) == 0 {
		return b, nil
	}
	slices.SortFunc(splits, func(a, b split) int { return int(a.total - b.total) })
	slowFrom := len(splits) * 99 / 100
	medianFrom, medianTo := len(splits)*45/100, max(len(splits)*55/100, len(splits)*45/100+1)
	for j, name := range Names {
		hist := stats.NewHistogram()
		var slow, median time.Duration
		for k, sp := range splits {
			hist.Record(sp.hops[j])
			if k >= slowFrom {
				slow += sp.hops[j]
			}
			if k >= medianFrom && k < medianTo {
				median += sp.hops[j]
			}
		}
		b.Hops = append(b.Hops, Hop{
			Name: name,
			P50:  ms(hist.Quantile(0.50)), P90: ms(hist.Quantile(0.90)), P99: ms(hist.Quantile(0.99)),
			SlowMean:   ms(slow / time.Duration(len(splits)-slowFrom)),
			MedianMean: ms(median / time.Duration(medianTo-medianFrom)),
		})
	}
	return b, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// readAll hands fn every record of topics, from their start up to their end
// offsets at the time of the call.
// opts sign the clients in (on a locked-down stack).
func readAll(ctx context.Context, brokers []string, opts []kgo.Opt, topics []string, fn func(*kgo.Record)) error {
	adm, err := kgo.NewClient(append(slices.Clone(opts), kgo.SeedBrokers(brokers...))...)
	if err != nil {
		return err
	}
	ends, err := kadm.NewClient(adm).ListEndOffsets(ctx, topics...)
	adm.Close()
	if err != nil {
		return fmt.Errorf("hops: end offsets: %w", err)
	}
	left := map[string]map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil && o.Offset > 0 {
			if left[o.Topic] == nil {
				left[o.Topic] = map[int32]int64{}
			}
			left[o.Topic][o.Partition] = o.Offset
		}
	})
	if len(left) == 0 {
		return nil
	}
	client, err := kgo.NewClient(append(slices.Clone(opts), kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		return err
	}
	defer client.Close()
	for len(left) > 0 {
		fetches := client.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("hops: reading the topics: %w", err)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			fn(r)
			if end, ok := left[r.Topic][r.Partition]; ok && r.Offset+1 >= end {
				delete(left[r.Topic], r.Partition)
				if len(left[r.Topic]) == 0 {
					delete(left, r.Topic)
				}
			}
		})
	}
	return nil
}
