package main

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"

	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/outbox"
	"github.com/kafkakit/kit/services/platform/perf"
	"github.com/kafkakit/kit/services/platform/tracing"
)

// BenchmarkReserve is stock-service's work per order: decoding an
// orders.created value against its contract (framing is the stream
// package's BenchmarkFraming) and reserving its two SKUs — the ledger
// lookup and entry, two stock updates and three outbox rows in one
// transaction on a SQLite file. One order per op, alone in its group.
//
//	go test -run '^$' -bench Reserve -benchmem ./services/stock-service
func BenchmarkReserve(b *testing.B) {
	// As a record arrives: with the trace context orders-api gave it,
	// which the change's outbox rows carry on.
	ctx := tracing.Extract(context.Background(), []kafka.Header{{Key: "traceparent", Value: []byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")}})
	s, err := openStoreAt(ctx, filepath.Join(b.TempDir(), "stock.db"), func([]outbox.Queued) {})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	if err := s.Seed(ctx, map[string]int{"BOOK-1": events.MaxQty, "PEN-7": events.MaxQty}); err != nil {
		b.Fatal(err)
	}
	reserve := reserveStock(s, slog.New(slog.DiscardHandler))
	const rest = `","userId":"user-42","items":[{"sku":"BOOK-1","qty":1},{"sku":"PEN-7","qty":1}],"total":31.5,"currency":"EUR","createdAt":"2026-11-25T09:30:00Z"}`
	b.ReportAllocs()
	report := perf.Goroutines(b)
	for b.Loop() {
		b.StopTimer()
		value := []byte(`{"orderId":"` + uuid.NewString() + rest) // as the record arrives: not the service's work
		b.StartTimer()
		o, err := events.DecodeOrderCreated(value)
		if err != nil {
			b.Fatal(err)
		}
		if err := reserve(ctx, o); err != nil {
			b.Fatal(err)
		}
	}
	report()
}
