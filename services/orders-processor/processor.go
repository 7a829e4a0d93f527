package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/kafkakit/kit/services/events"
)

// PaymentRule is the kit's deterministic stand-in for a payment provider:
// an order is declined when its total is over Limit (in its own currency),
// and paid otherwise. The same order always gets the same outcome, so a
// redelivered order cannot flip from PAID to FAILED.
type PaymentRule struct {
	Limit float64
}

// Decide returns PAID, or FAILED with its kind (PAYMENT_DECLINED) and the
// reason, for an order of total in currency.
func (r PaymentRule) Decide(total float64, currency string) (events.Status, events.FailureKind, string) {
	if total > r.Limit {
		return events.StatusFailed, events.FailurePaymentDeclined,
			fmt.Sprintf("payment declined: total %.2f %s is over the %.2f limit", total, currency, r.Limit)
	}
	return events.StatusPaid, "", ""
}

// rejectionKind is the failure kind of an order stock-service rejected:
// OUT_OF_STOCK when it had too little, none when it rejected an order it
// cannot apply at all ("invalid order: …"), which is neither kind. Its
// reason is the only place stock.reservations says which (see
// events.OutOfStockPrefix); from here on the kind travels as a field.
func rejectionKind(reason string) events.FailureKind {
	if strings.HasPrefix(reason, events.OutOfStockPrefix) {
		return events.FailureOutOfStock
	}
	return ""
}

// Statuses is where the processor records an order's statuses: its
// ledger, which writes each status of an order once and queues it in the
// outbox in the same transaction (*Ledger is one).
type Statuses interface {
	Advance(ctx context.Context, statuses ...events.OrderStatus) (reached Reached, wrote bool, err error)
}

// Processor moves an order through its lifecycle.
type Processor struct {
	Statuses Statuses
	Rule     PaymentRule
	Delay    time.Duration
	Log      *slog.Logger
	Now      func() time.Time
}

// The seq of each status (events.OrderStatus.Seq): its place in the order's
// lifecycle.
const (
	seqCreated    = 1
	seqProcessing = 2
	seqPaid       = 3 // or FAILED for payment
	seqRejected   = 2 // FAILED for stock, right after CREATED
)

// Handle turns stock-service's answer to an order into the order's
// statuses. Stock reserved: CREATED and PROCESSING, then, after the
// simulated payment, PAID or FAILED PAYMENT_DECLINED by the rule (a FAILED
// order's stock is given back by stock-service, which reads the statuses
// too). Stock rejected: CREATED, then FAILED with the stock reason, and
// OUT_OF_STOCK when that was the reason; nobody pays for what is not there.
//
// Each status is written once, whatever the redeliveries: the ledger
// writes only the statuses an order has not reached, so a redelivered
// reservation of a final order writes nothing, and one redelivered after a
// crash during the payment writes only the final status. It returns once
// the ledger committed (the relay produces the statuses from the outbox),
// so the consumer commits the reservation after its statuses are recorded.
func (p *Processor) Handle(ctx context.Context, r events.StockReservation) error {
	now := p.Now().UTC()
	created := events.OrderStatus{OrderID: r.OrderID, Status: events.StatusCreated, Seq: seqCreated, UpdatedAt: now}
	if r.Result == events.Rejected {
		failed := events.OrderStatus{OrderID: r.OrderID, Status: events.StatusFailed, Reason: r.Reason,
			FailureKind: rejectionKind(r.Reason), Seq: seqRejected, UpdatedAt: now}
		_, wrote, err := p.Statuses.Advance(ctx, created, failed)
		if err != nil {
			return err
		}
		if !wrote {
			p.answeredBefore(r.OrderID)
			return nil
		}
		p.Log.Info("order failed for stock", "orderId", r.OrderID, "failureKind", failed.FailureKind, "reason", r.Reason)
		return nil
	}
	pending := []events.OrderStatus{created, {OrderID: r.OrderID, Status: events.StatusProcessing, Seq: seqProcessing, UpdatedAt: now}}
	if p.Delay > 0 {
		reached, _, err := p.Statuses.Advance(ctx, pending...)
		if err != nil {
			return err
		}
		if reached.Status.Final() {
			p.answeredBefore(r.OrderID) // nothing to pay again
			return nil
		}
		pending = nil
		select {
		case <-time.After(p.Delay):
		case <-ctx.Done():
			return ctx.Err()
		}
		now = p.Now().UTC()
	}
	// Without a simulated payment to wait for, one transaction records the
	// whole lifecycle, saving a commit per order; the records are still
	// three, in order, on the order's partition.
	status, kind, reason := p.Rule.Decide(r.Total, r.Currency)
	final := events.OrderStatus{OrderID: r.OrderID, Status: status, Reason: reason, FailureKind: kind, Seq: seqPaid, UpdatedAt: now}
	_, wrote, err := p.Statuses.Advance(ctx, append(pending, final)...)
	if err != nil {
		return err
	}
	if !wrote {
		p.answeredBefore(r.OrderID)
		return nil
	}
	p.Log.Info("order processed", "orderId", r.OrderID, "status", status, "failureKind", kind, "reason", reason)
	return nil
}

// answeredBefore logs a reservation whose order was final already (a
// redelivery): nothing was written.
func (p *Processor) answeredBefore(orderID string) {
	p.Log.Info("order already answered; nothing written", "orderId", orderID)
}
