package main

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"

	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/outbox"
	"github.com/kafkakit/kit/services/platform/perf"
	"github.com/kafkakit/kit/services/platform/sqldb"
	"github.com/kafkakit/kit/services/platform/tracing"
)

// BenchmarkHandleReservation is orders-processor's work per order:
// decoding a stock.reservations value against its contract (framing is
// the stream package's BenchmarkFraming) and handling it without a
// simulated payment — the ledger row and three statuses in the outbox, in
// one transaction on a SQLite file. One order per op, alone in its group.
//
//	go test -run '^$' -bench HandleReservation -benchmem ./services/orders-processor
func BenchmarkHandleReservation(b *testing.B) {
	// As a record arrives: with the trace context orders-api gave it,
	// which the change's outbox rows carry on.
	ctx := tracing.Extract(context.Background(), []kafka.Header{{Key: "traceparent", Value: []byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")}})
	db, err := sqldb.Open(ctx, filepath.Join(b.TempDir(), "orders-processor.db"))
	if err != nil {
		b.Fatal(err)
	}
	l, err := OpenLedger(ctx, db, outbox.New(db), events.TopicOrdersStatus, func([]outbox.Queued) {})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	p := &Processor{Statuses: l, Rule: PaymentRule{Limit: 1000}, Log: slog.New(slog.DiscardHandler), Now: time.Now}
	const rest = `","result":"RESERVED","items":[{"sku":"BOOK-1","qty":1},{"sku":"PEN-7","qty":1}],"total":31.5,"currency":"EUR","updatedAt":"2026-11-25T09:30:00Z"}`
	b.ReportAllocs()
	report := perf.Goroutines(b)
	for b.Loop() {
		b.StopTimer()
		value := []byte(`{"orderId":"` + uuid.NewString() + rest) // as the record arrives: not the service's work
		b.StartTimer()
		r, err := events.DecodeStockReservation(value)
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Handle(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
	report()
}
