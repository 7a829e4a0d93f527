package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/tracing"
)

// PaymentRule is the kit's deterministic stand-in for a payment provider:
// an order is declined when its total is over Limit (in its own currency),
// and paid otherwise. The same order always gets the same outcome, so a
// redelivered order cannot flip from PAID to FAILED.
type PaymentRule struct {
	Limit float64
}

// Decide returns PAID, or FAILED with the reason, for an order of total in
// currency.
func (r PaymentRule) Decide(total float64, currency string) (events.Status, string) {
	if total > r.Limit {
		return events.StatusFailed, fmt.Sprintf("payment declined: total %.2f %s is over the %.2f limit", total, currency, r.Limit)
	}
	return events.StatusPaid, ""
}

// StatusWriter records statuses on orders.status; *kafka.Writer is one.
type StatusWriter interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Processor moves an order through its lifecycle.
type Processor struct {
	Statuses StatusWriter
	Rule     PaymentRule
	Delay    time.Duration
	Log      *slog.Logger
	Now      func() time.Time
}

// Handle turns stock-service's answer to an order into the order's
// statuses. Stock reserved: CREATED and PROCESSING, then, after the
// simulated payment, PAID or FAILED by the rule (a FAILED order's stock is
// given back by stock-service, which reads the statuses too). Stock
// rejected: CREATED, then FAILED with the stock reason; nobody pays for what
// is not there.
//
// It returns only after the broker acknowledged every status, so the
// consumer commits the reservation after its statuses exist. A redelivered
// reservation writes the same statuses again, in the same order; readers
// (notifications-api) drop a status they have already seen.
func (p *Processor) Handle(ctx context.Context, r events.StockReservation) error {
	now := p.Now().UTC()
	created := events.OrderStatus{OrderID: r.OrderID, Status: events.StatusCreated, UpdatedAt: now}
	if r.Result == events.Rejected {
		failed := events.OrderStatus{OrderID: r.OrderID, Status: events.StatusFailed, Reason: r.Reason, UpdatedAt: now}
		if err := p.record(ctx, created, failed); err != nil {
			return err
		}
		p.Log.Info("order failed for stock", "orderId", r.OrderID, "reason", r.Reason)
		return nil
	}
	pending := []events.OrderStatus{created, {OrderID: r.OrderID, Status: events.StatusProcessing, UpdatedAt: now}}
	if p.Delay > 0 {
		if err := p.record(ctx, pending...); err != nil {
			return err
		}
		pending = nil
		select {
		case <-time.After(p.Delay):
		case <-ctx.Done():
			return ctx.Err()
		}
		now = p.Now().UTC()
	}
	// Without a simulated payment to wait for, one produce request carries
	// the whole lifecycle, saving a round trip per order; the records are
	// still three, in order, on the order's partition.
	status, reason := p.Rule.Decide(r.Total, r.Currency)
	final := events.OrderStatus{OrderID: r.OrderID, Status: status, Reason: reason, UpdatedAt: now}
	if err := p.record(ctx, append(pending, final)...); err != nil {
		return err
	}
	p.Log.Info("order processed", "orderId", r.OrderID, "status", status, "reason", reason)
	return nil
}

// record writes statuses in order, keyed by their order id so that they land
// on one partition in this order.
func (p *Processor) record(ctx context.Context, statuses ...events.OrderStatus) error {
	msgs := make([]kafka.Message, len(statuses))
	// The statuses belong to the reservation's trace, and carry the time
	// they were sent, from which a reader can tell each hop's latency.
	headers, now := tracing.Headers(ctx), p.Now()
	for i, st := range statuses {
		value, err := json.Marshal(st)
		if err != nil {
			return fmt.Errorf("encode status: %w", err)
		}
		msgs[i] = kafka.Message{Key: []byte(st.OrderID), Value: value, Headers: headers, Time: now}
	}
	if err := p.Statuses.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("record %s for order %s: %w", statuses[0].Status, statuses[0].OrderID, err)
	}
	return nil
}
