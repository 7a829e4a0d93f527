package features

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/cucumber/godog"

	"github.com/kafkakit/kit/harness"
	"github.com/kafkakit/kit/services/events"
)

func paymentSteps(sc *godog.ScenarioContext) {
	sc.Then(`^the order goes through (\w+), (\w+) and (\w+), in that order$`, func(ctx context.Context, a, b, c string) error {
		return the(ctx).goesThrough(ctx, events.Status(a), events.Status(b), events.Status(c))
	})
	sc.Then(`^the order goes through (\w+) and (\w+), in that order$`, func(ctx context.Context, a, b string) error {
		return the(ctx).goesThrough(ctx, events.Status(a), events.Status(b))
	})
	sc.Then(`^every status recorded for the order matches the status contract$`, statusesConform)
	sc.Then(`^the failure reason says the total is over the limit$`, failureReason)
	sc.Then(`^the order is paid once$`, paidOnce)
	sc.Given(`^the shopper has an order for (\d+) "([^"]*)" whose payment was declined$`, declinedOrder)
	sc.When(`^the failure is delivered again$`, failureRedelivered)
}

// finalStatus waits for the order's final status.
func (w *world) finalStatus(ctx context.Context) (events.OrderStatus, error) {
	recs, err := w.recordedStatuses(ctx)
	if err != nil {
		return events.OrderStatus{}, err
	}
	var final events.OrderStatus
	for _, r := range recs {
		var s events.OrderStatus
		if json.Unmarshal(r.Value, &s) == nil && s.Status.Final() {
			final = s
		}
	}
	return final, nil
}

// paidOnce: the order was recorded once, and the status topic says PAID
// once and nothing else final.
func paidOnce(ctx context.Context) error {
	w := the(ctx)
	if _, err := w.recordedOnce(ctx, w.orderID); err != nil {
		return err
	}
	if _, err := w.recordedStatuses(ctx); err != nil {
		return err
	}
	ctx, cancel := within(ctx)
	defer cancel()
	recs, err := w.statuses.UpToNow(ctx)
	if err != nil {
		return err
	}
	var finals []events.Status
	for _, r := range recordsFor(recs, w.orderID) {
		var s events.OrderStatus
		if json.Unmarshal(r.Value, &s) == nil && s.Status.Final() {
			finals = append(finals, s.Status)
		}
	}
	if !slices.Equal(finals, []events.Status{events.StatusPaid}) {
		return fmt.Errorf("order %s has final statuses %v, want PAID once", w.orderID, finals)
	}
	return nil
}

func declinedOrder(ctx context.Context, qty int, sku string) error {
	w := the(ctx)
	if err := w.placeOrder(ctx, "1500.00", "EUR", qty, sku); err != nil {
		return err
	}
	final, err := w.finalStatus(ctx)
	if err != nil {
		return err
	}
	if final.Status != events.StatusFailed {
		return fmt.Errorf("order ended %s, want FAILED (declined)", final.Status)
	}
	return w.givenBack(ctx, qty, sku)
}

// failureRedelivered writes the order's FAILED status to the status topic
// once more, as a processor retry would, and waits until the stock service
// has read past it.
func failureRedelivered(ctx context.Context) error {
	w := the(ctx)
	recs, err := w.recordedStatuses(ctx)
	if err != nil {
		return err
	}
	failed := recs[len(recs)-1]
	ctx, cancel := within(ctx)
	defer cancel()
	again, err := w.kafka.Produce(ctx, events.TopicOrdersStatus, failed.Key, failed.Value)
	if err != nil {
		return err
	}
	return eventually(ctx, "the stock service never read the redelivered failure", func() (bool, error) {
		next, err := w.kafka.Committed(ctx, events.GroupStockService, events.TopicOrdersStatus, again.Partition)
		return next > again.Offset, err
	})
}

// recordedStatuses waits until the order's final status is on the status
// topic and returns its records, in the order they were recorded.
func (w *world) recordedStatuses(ctx context.Context) ([]harness.Record, error) {
	if err := w.accepted(); err != nil {
		return nil, err
	}
	ctx, cancel := within(ctx)
	defer cancel()
	recs, err := w.statuses.WaitFor(ctx, func(recs []harness.Record) bool {
		for _, r := range recordsFor(recs, w.orderID) {
			var s events.OrderStatus
			if json.Unmarshal(r.Value, &s) == nil && s.Status.Final() {
				return true
			}
		}
		return false
	})
	if err != nil {
		return nil, fmt.Errorf("order %s never reached a final status: %w", w.orderID, err)
	}
	return recordsFor(recs, w.orderID), nil
}

func (w *world) goesThrough(ctx context.Context, want ...events.Status) error {
	recs, err := w.recordedStatuses(ctx)
	if err != nil {
		return err
	}
	var got []events.Status
	for _, r := range recs {
		var s events.OrderStatus
		if err := json.Unmarshal(r.Value, &s); err != nil {
			return err
		}
		if r.Partition != recs[0].Partition {
			return fmt.Errorf("statuses of order %s are on partitions %d and %d; one key must stay on one partition", w.orderID, recs[0].Partition, r.Partition)
		}
		got = append(got, s.Status)
	}
	if !slices.Equal(got, want) {
		return fmt.Errorf("order %s went through %v, want %v", w.orderID, got, want)
	}
	return nil
}

func statusesConform(ctx context.Context) error {
	w := the(ctx)
	recs, err := w.recordedStatuses(ctx)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if err := conforms(r); err != nil {
			return err
		}
	}
	return nil
}

func failureReason(ctx context.Context) error {
	w := the(ctx)
	recs, err := w.recordedStatuses(ctx)
	if err != nil {
		return err
	}
	var final events.OrderStatus
	if err := json.Unmarshal(recs[len(recs)-1].Value, &final); err != nil {
		return err
	}
	if final.Status != events.StatusFailed || !strings.Contains(final.Reason, "over the") || !strings.Contains(final.Reason, "limit") {
		return fmt.Errorf("final status %+v, want FAILED with a reason saying the total is over the limit", final)
	}
	return nil
}
