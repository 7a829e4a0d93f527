package features

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
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
	sc.When(`^once it is paid, its stock reservation reaches payment again$`, reservationRedelivered)
	sc.Then(`^no new status is recorded for the order$`, noNewStatus)
	sc.Then(`^someone following the order now sees it end (\w+)$`, followerSeesItEnd)
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
	if final.Status != events.StatusFailed || final.FailureKind != events.FailurePaymentDeclined {
		return fmt.Errorf("order ended %s %q, want FAILED %s", final.Status, final.FailureKind, events.FailurePaymentDeclined)
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
	if final.Status != events.StatusFailed || final.FailureKind != events.FailurePaymentDeclined ||
		!strings.Contains(final.Reason, "over the") || !strings.Contains(final.Reason, "limit") {
		return fmt.Errorf("final status %+v, want FAILED %s with a reason saying the total is over the limit", final, events.FailurePaymentDeclined)
	}
	return nil
}

// reservationRedelivered waits for the order to be paid, then copies its
// stock.reservations record back onto the topic with its key, as a
// redelivery would (the processor crashed or lost its partition before
// committing), and waits until the processor has committed past the copy:
// it commits only once what the copy caused exists.
func reservationRedelivered(ctx context.Context) error {
	w := the(ctx)
	final, err := w.finalStatus(ctx)
	if err != nil {
		return err
	}
	if final.Status != events.StatusPaid {
		return fmt.Errorf("order %s ended %s (%s), want PAID", w.orderID, final.Status, final.Reason)
	}
	ctx, cancel := within(ctx)
	defer cancel()
	statuses, err := w.statuses.UpToNow(ctx)
	if err != nil {
		return err
	}
	w.statusesBefore = recordsFor(statuses, w.orderID)
	answers, err := w.reservations.WaitFor(ctx, func(recs []harness.Record) bool { return len(recordsFor(recs, w.orderID)) > 0 })
	if err != nil {
		return fmt.Errorf("order %s has no stock reservation: %w", w.orderID, err)
	}
	answer := recordsFor(answers, w.orderID)[0]
	again, err := w.kafka.Produce(ctx, events.TopicStockReservations, answer.Key, answer.Value)
	if err != nil {
		return err
	}
	return eventually(ctx, "the payment service never read the reservation delivered again", func() (bool, error) {
		next, err := w.kafka.Committed(ctx, events.GroupOrdersProcessor, events.TopicStockReservations, again.Partition)
		return next > again.Offset, err
	})
}

// noNewStatus: the order's status records are the ones it had before the
// redelivery, none added.
func noNewStatus(ctx context.Context) error {
	w := the(ctx)
	if len(w.statusesBefore) == 0 {
		return fmt.Errorf("no statuses of order %s were noted before the redelivery", w.orderID)
	}
	ctx, cancel := within(ctx)
	defer cancel()
	recs, err := w.statuses.UpToNow(ctx)
	if err != nil {
		return err
	}
	mine := recordsFor(recs, w.orderID)
	if len(mine) > len(w.statusesBefore) {
		return fmt.Errorf("order %s had statuses %s; then %s were recorded for it", w.orderID, statusList(mine[:len(w.statusesBefore)]), statusList(mine[len(w.statusesBefore):]))
	}
	return nil
}

// statusList is records' statuses as "CREATED PROCESSING PAID", each with
// its seq when it has one.
func statusList(recs []harness.Record) string {
	var out []string
	for _, r := range recs {
		var s events.OrderStatus
		if err := json.Unmarshal(r.Value, &s); err != nil {
			out = append(out, fmt.Sprintf("(offset %d: %v)", r.Offset, err))
			continue
		}
		if s.Seq > 0 {
			out = append(out, fmt.Sprintf("%s(seq %d)", s.Status, s.Seq))
		} else {
			out = append(out, string(s.Status))
		}
	}
	return "[" + strings.Join(out, " ") + "]"
}

// followerSeesItEnd follows the order from the start, as a new browser
// would, and reads until a final status: the ids count up from 1, the
// statuses only move forward, and the final one is want.
func followerSeesItEnd(ctx context.Context, want string) error {
	w := the(ctx)
	if err := w.follow(ctx, ""); err != nil {
		return err
	}
	ctx, cancel := within(ctx)
	defer cancel()
	var got []events.Status
	for {
		e, err := w.stream.Next(ctx)
		if err != nil {
			return fmt.Errorf("the follower saw %v and then: %w", got, err)
		}
		s, err := e.Status()
		if err != nil || e.Event != "status" || s.OrderID != w.orderID {
			return fmt.Errorf("event %q %q %s is not a status of order %s (%v)", e.ID, e.Event, e.Data, w.orderID, err)
		}
		if e.ID != strconv.Itoa(len(got)+1) {
			return fmt.Errorf("event id %q for %s after %v, want %d", e.ID, s.Status, got, len(got)+1)
		}
		if len(got) > 0 && stage(s.Status) <= stage(got[len(got)-1]) {
			return fmt.Errorf("the follower saw %v and then %s: the order went back", got, s.Status)
		}
		got = append(got, s.Status)
		if s.Status.Final() {
			break
		}
	}
	if got[len(got)-1] != events.Status(want) {
		return fmt.Errorf("the follower saw %v, ending %s, want it to end %s", got, got[len(got)-1], want)
	}
	return nil
}
