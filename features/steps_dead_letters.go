package features

import (
	"context"
	"fmt"
	"strconv"

	"github.com/cucumber/godog"

	"github.com/kafkakit/kit/harness"
	"github.com/kafkakit/kit/services/events"
)

// The groups that consume orders and must each set a bad record aside.
var orderGroups = []string{"orders-processor-cg", "stock-service-cg"}

func deadLetterSteps(sc *godog.ScenarioContext) {
	sc.When(`^a record that is not an order arrives with the orders$`, notAnOrder)
	sc.Then(`^the record is set aside on the dead-letter topic with the error and its origin$`, setAside)
}

func notAnOrder(ctx context.Context) error {
	w := the(ctx)
	ctx, cancel := within(ctx)
	defer cancel()
	var err error
	w.injected, err = w.kafka.Produce(ctx, events.TopicOrdersCreated, "not-an-order-"+w.token, []byte("this is not an order "+w.token))
	return err
}

func setAside(ctx context.Context) error {
	w := the(ctx)
	ctx, cancel := within(ctx)
	defer cancel()
	byGroup := func(recs []harness.Record) map[string]harness.Record {
		out := map[string]harness.Record{}
		for _, r := range recordsFor(recs, w.injected.Key) {
			out[r.Headers[events.HeaderDLQConsumerGroup]] = r
		}
		return out
	}
	recs, err := w.deadLetters.WaitFor(ctx, func(recs []harness.Record) bool { return len(byGroup(recs)) >= len(orderGroups) })
	if err != nil {
		return fmt.Errorf("the record was not set aside by every consumer of orders: %w", err)
	}
	got := byGroup(recs)
	for _, group := range orderGroups {
		r, ok := got[group]
		if !ok {
			return fmt.Errorf("%s did not set the record aside (set aside by %v)", group, got)
		}
		h := r.Headers
		if string(r.Value) != string(w.injected.Value) {
			return fmt.Errorf("%s set aside %q, want the original value %q", group, r.Value, w.injected.Value)
		}
		if h[events.HeaderDLQError] == "" ||
			h[events.HeaderDLQSourceTopic] != events.TopicOrdersCreated ||
			h[events.HeaderDLQSourcePartition] != strconv.Itoa(int(w.injected.Partition)) ||
			h[events.HeaderDLQSourceOffset] != strconv.FormatInt(w.injected.Offset, 10) {
			return fmt.Errorf("%s set the record aside with headers %v, want the error and origin %s/%d@%d",
				group, h, events.TopicOrdersCreated, w.injected.Partition, w.injected.Offset)
		}
	}
	return nil
}
