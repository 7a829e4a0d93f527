package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/tracing"
)

type fakeStatuses struct {
	mu   sync.Mutex
	got  []events.OrderStatus
	keys []string
	msgs []kafka.Message
	err  error
}

func (f *fakeStatuses) WriteMessages(_ context.Context, msgs ...kafka.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	for _, m := range msgs {
		var s events.OrderStatus
		if err := json.Unmarshal(m.Value, &s); err != nil {
			return err
		}
		f.got = append(f.got, s)
		f.keys = append(f.keys, string(m.Key))
		f.msgs = append(f.msgs, m)
	}
	return nil
}

func TestPaymentRule(t *testing.T) {
	rule := PaymentRule{Limit: 1000}
	tests := []struct {
		total      float64
		wantStatus events.Status
	}{
		{0, events.StatusPaid},
		{999.99, events.StatusPaid},
		{1000, events.StatusPaid},
		{1000.01, events.StatusFailed},
		{5000, events.StatusFailed},
	}
	for _, tt := range tests {
		status, reason := rule.Decide(tt.total, "EUR")
		if status != tt.wantStatus {
			t.Errorf("Decide(total %v) = %s, want %s", tt.total, status, tt.wantStatus)
		}
		if (status == events.StatusFailed) != (reason != "") {
			t.Errorf("Decide(total %v): reason %q, want one exactly when FAILED", tt.total, reason)
		}
	}
}

func reservation(result events.ReservationResult, total float64) events.StockReservation {
	r := events.StockReservation{OrderID: "o-1", Result: result, Items: []events.Item{{SKU: "A", Qty: 1}}, Total: total, Currency: "EUR"}
	if result == events.Rejected {
		r.Reason = "out of stock: A has 0 left, the order asks for 1"
	}
	return r
}

func TestHandleRecordsTheLifecycleInOrder(t *testing.T) {
	at := time.Date(2026, 11, 25, 9, 0, 0, 0, time.FixedZone("CET", 3600))
	tests := []struct {
		name       string
		in         events.StockReservation
		want       []events.Status
		wantReason string
	}{
		{"reserved and within the limit", reservation(events.Reserved, 10), []events.Status{events.StatusCreated, events.StatusProcessing, events.StatusPaid}, ""},
		{"reserved but over the limit", reservation(events.Reserved, 1500), []events.Status{events.StatusCreated, events.StatusProcessing, events.StatusFailed}, "payment declined: total 1500.00 EUR is over the 1000.00 limit"},
		{"rejected for stock: nobody pays", reservation(events.Rejected, 10), []events.Status{events.StatusCreated, events.StatusFailed}, "out of stock: A has 0 left, the order asks for 1"},
	}
	for _, tt := range tests {
		for _, delay := range []time.Duration{0, time.Nanosecond} { // one produce, or two around the payment
			w := &fakeStatuses{}
			p := &Processor{Statuses: w, Rule: PaymentRule{Limit: 1000}, Delay: delay, Log: slog.New(slog.DiscardHandler), Now: func() time.Time { return at }}
			if err := p.Handle(context.Background(), tt.in); err != nil {
				t.Fatal(err)
			}
			if len(w.got) != len(tt.want) {
				t.Fatalf("%s: got %d statuses, want %d", tt.name, len(w.got), len(tt.want))
			}
			for i, s := range w.got {
				if s.Status != tt.want[i] || s.OrderID != "o-1" || w.keys[i] != "o-1" {
					t.Errorf("%s: status %d = %+v key %q, want %s for o-1 keyed by o-1", tt.name, i, s, w.keys[i], tt.want[i])
				}
				if s.UpdatedAt.Location() != time.UTC {
					t.Errorf("%s: updatedAt %v is not UTC", tt.name, s.UpdatedAt)
				}
			}
			if last := w.got[len(w.got)-1]; last.Reason != tt.wantReason {
				t.Errorf("%s: reason %q, want %q", tt.name, last.Reason, tt.wantReason)
			}
		}
	}
}

func TestHandleFailsWhenTheBrokerDoesNot(t *testing.T) {
	for _, r := range []events.StockReservation{reservation(events.Reserved, 1), reservation(events.Rejected, 1)} {
		p := &Processor{Statuses: &fakeStatuses{err: errors.New("broker down")}, Rule: PaymentRule{Limit: 1}, Log: slog.New(slog.DiscardHandler), Now: time.Now}
		if err := p.Handle(context.Background(), r); err == nil {
			t.Fatalf("%s: Handle returned nil although no status was acknowledged; the reservation would be committed and the order lost", r.Result)
		}
	}
}

func TestHandleStopsWaitingWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p := &Processor{Statuses: &fakeStatuses{}, Rule: PaymentRule{Limit: 1}, Delay: time.Hour, Log: slog.New(slog.DiscardHandler), Now: time.Now}
	if err := p.Handle(ctx, reservation(events.Reserved, 1)); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// Each status carries the trace of the reservation it answers and the time
// it was sent, so one order is one trace and its hops can be timed.
func TestStatusesCarryTheTraceAndTheirTime(t *testing.T) {
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
	tr, err := tracing.Setup(context.Background(), "orders-processor", "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, span := tr.StartConsume(context.Background(), kafka.Message{Topic: events.TopicStockReservations,
		Headers: []kafka.Header{{Key: "traceparent", Value: []byte(parent)}}}, events.GroupOrdersProcessor)
	defer span.End()
	at := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	w := &fakeStatuses{}
	p := &Processor{Statuses: w, Rule: PaymentRule{Limit: 1000}, Log: slog.New(slog.DiscardHandler), Now: func() time.Time { return at }}
	if err := p.Handle(ctx, reservation(events.Reserved, 10)); err != nil {
		t.Fatal(err)
	}
	for i, m := range w.msgs {
		if got := tracing.TraceID(m.Headers); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
			t.Errorf("status %d: trace id %q (headers %v), want the reservation's", i, got, m.Headers)
		}
		if !m.Time.Equal(at) {
			t.Errorf("status %d: time %v, want %v", i, m.Time, at)
		}
	}
}
