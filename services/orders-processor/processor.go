package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kafkakit/kit/services/events"
)

// PaymentRule is the kit's deterministic stand-in for a payment provider:
// an order is declined when its total is over Limit (in its own currency),
// and paid otherwise. The same order always gets the same outcome, so a
// redelivered order cannot flip from PAID to FAILED.
type PaymentRule struct {
	Limit float64
}

// Decide returns PAID, or FAILED with the reason.
func (r PaymentRule) Decide(o events.OrderCreated) (events.Status, string) {
	if o.Total > r.Limit {
		return events.StatusFailed, fmt.Sprintf("payment declined: total %.2f %s is over the %.2f limit", o.Total, o.Currency, r.Limit)
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

// Handle records CREATED and PROCESSING, waits for the simulated payment,
// then records PAID or FAILED. It returns only after the broker acknowledged
// every status, so the consumer commits the order after its statuses exist.
// A redelivered order writes its statuses again; the outcome is the same and
// readers (notifications-api) drop a status they have already seen.
func (p *Processor) Handle(ctx context.Context, o events.OrderCreated) error {
	now := p.Now().UTC()
	pending := []events.OrderStatus{
		{OrderID: o.OrderID, Status: events.StatusCreated, UpdatedAt: now},
		{OrderID: o.OrderID, Status: events.StatusProcessing, UpdatedAt: now},
	}
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
	status, reason := p.Rule.Decide(o)
	final := events.OrderStatus{OrderID: o.OrderID, Status: status, Reason: reason, UpdatedAt: now}
	if err := p.record(ctx, append(pending, final)...); err != nil {
		return err
	}
	p.Log.Info("order processed", "orderId", o.OrderID, "status", status, "reason", reason)
	return nil
}

// record writes statuses in order, keyed by their order id so that they land
// on one partition in this order.
func (p *Processor) record(ctx context.Context, statuses ...events.OrderStatus) error {
	msgs := make([]kafka.Message, len(statuses))
	for i, st := range statuses {
		value, err := json.Marshal(st)
		if err != nil {
			return fmt.Errorf("encode status: %w", err)
		}
		msgs[i] = kafka.Message{Key: []byte(st.OrderID), Value: value}
	}
	if err := p.Statuses.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("record %s for order %s: %w", statuses[0].Status, statuses[0].OrderID, err)
	}
	return nil
}
