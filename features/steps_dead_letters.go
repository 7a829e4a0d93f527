package features

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/cucumber/godog"
	"github.com/google/uuid"

	"github.com/kafkakit/kit/harness"
	"github.com/kafkakit/kit/services/events"
)

func deadLetterSteps(sc *godog.ScenarioContext) {
	sc.When(`^(.+) arrives on ([a-z.]+)$`, breakingRecord)
	sc.Then(`^it is set aside on ([a-z.]+)\.dlq by ([a-z-]+), with the error and where it came from$`, setAside)
}

// breakingValue is a record value that breaks topic's contract, in the
// words of the feature.
func (w *world) breakingValue(what string) ([]byte, error) {
	switch what {
	case "a record that is not an order", "a record that is not a stock answer", "a record that is not an order status":
		return []byte("this is not what the contract says " + w.token), nil
	case "an order for more of an item than can exist":
		// Two lines of the largest integer: summed carelessly, they wrap
		// around to -2 and would raise the stock.
		return json.Marshal(events.OrderCreated{
			OrderID: uuid.NewString(), UserID: w.user, Total: 1, Currency: "EUR", CreatedAt: time.Now().UTC(),
			Items: []events.Item{{SKU: w.sku("cup"), Qty: math.MaxInt64}, {SKU: w.sku("cup"), Qty: math.MaxInt64}},
		})
	}
	return nil, fmt.Errorf("no contract-breaking record %q is known to the steps", what)
}

func breakingRecord(ctx context.Context, what, topic string) error {
	w := the(ctx)
	value, err := w.breakingValue(what)
	if err != nil {
		return err
	}
	ctx, cancel := within(ctx)
	defer cancel()
	// Follow the dead-letter topic before the record can get there.
	if w.deadLetters[topic], err = w.kafka.Tail(ctx, events.DLQ(topic)); err != nil {
		return err
	}
	w.injected, err = w.kafka.Produce(ctx, topic, "breaks-contract-"+w.token, value)
	return err
}

func setAside(ctx context.Context, topic, group string) error {
	w := the(ctx)
	tail := w.deadLetters[topic]
	if tail == nil || w.injected.Topic != topic {
		return fmt.Errorf("no record was sent to %s in this scenario", topic)
	}
	ctx, cancel := within(ctx)
	defer cancel()
	byGroup := func(recs []harness.Record) map[string]harness.Record {
		out := map[string]harness.Record{}
		for _, r := range recordsFor(recs, w.injected.Key) {
			out[r.Headers[events.HeaderDLQConsumerGroup]] = r
		}
		return out
	}
	recs, err := tail.WaitFor(ctx, func(recs []harness.Record) bool { _, ok := byGroup(recs)[group]; return ok })
	if err != nil {
		return fmt.Errorf("%s did not set the record aside (set aside by %v): %w", group, byGroup(recs), err)
	}
	r := byGroup(recs)[group]
	h := r.Headers
	if string(r.Value) != string(w.injected.Value) || r.SchemaID != w.injected.SchemaID {
		return fmt.Errorf("%s set aside %q (schema id %d), want the original value %q (schema id %d)", group, r.Value, r.SchemaID, w.injected.Value, w.injected.SchemaID)
	}
	if h[events.HeaderDLQError] == "" ||
		h[events.HeaderDLQSourceTopic] != topic ||
		h[events.HeaderDLQSourcePartition] != strconv.Itoa(int(w.injected.Partition)) ||
		h[events.HeaderDLQSourceOffset] != strconv.FormatInt(w.injected.Offset, 10) {
		return fmt.Errorf("%s set the record aside with headers %v, want the error and origin %s/%d@%d",
			group, h, topic, w.injected.Partition, w.injected.Offset)
	}
	return nil
}
