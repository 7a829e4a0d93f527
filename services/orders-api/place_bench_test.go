package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/outbox"
	"github.com/kafkakit/kit/services/platform/perf"
	"github.com/kafkakit/kit/services/platform/sqldb"
)

const benchBody = `{"userId":"user-42","items":[{"sku":"BOOK-1","qty":2},{"sku":"PEN-7","qty":1}],"total":31.5,"currency":"EUR"}`

// BenchmarkPlaceOrder is orders-api's work per order: the whole server
// (edge, tracing, metrics, decode, validate, encode) down to the group
// writer's transaction with its outbox row, on a SQLite file, with and
// without an Idempotency-Key; and the store's part alone. One order per
// op, each alone in its group (the benchmark waits for each answer), so
// allocs/op is per order.
//
//	go test -run '^$' -bench PlaceOrder -benchmem ./services/orders-api
func BenchmarkPlaceOrder(b *testing.B) {
	ctx := context.Background()
	db, err := sqldb.Open(ctx, filepath.Join(b.TempDir(), "orders.db"))
	if err != nil {
		b.Fatal(err)
	}
	s, err := OpenStore(ctx, db, outbox.New(db), events.TopicOrdersCreated, func([]outbox.Queued) {})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	h := newTestServer(s)

	for _, bench := range []struct {
		name string
		key  bool
	}{{"server", false}, {"server+key", true}} {
		b.Run(bench.name, func(b *testing.B) {
			b.ReportAllocs()
			report := perf.Goroutines(b)
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/orders", strings.NewReader(benchBody))
				req.Header.Set("Content-Type", "application/json")
				if bench.key {
					// A new key each time, also across -count runs: a
					// repeated one is a replay, which records nothing.
					req.Header.Set("Idempotency-Key", uuid.NewString())
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusCreated {
					b.Fatalf("got %d %s, want 201", rec.Code, rec.Body)
				}
			}
			report()
		})
	}
	b.Run("store", func(b *testing.B) {
		value := []byte(`{"orderId":"5f0c7e0a-8d1e-4b8e-9a52-3c1f2f6f7a10","userId":"user-42","items":[{"sku":"BOOK-1","qty":2},{"sku":"PEN-7","qty":1}],"total":31.5,"currency":"EUR","createdAt":"2026-11-25T09:30:00Z"}`)
		b.ReportAllocs()
		report := perf.Goroutines(b)
		for b.Loop() {
			p := placement{orderID: uuid.NewString(), userID: "user-42", value: value}
			if _, _, err := s.Place(ctx, p); err != nil {
				b.Fatal(err)
			}
		}
		report()
	})
	// Orders arriving together share a transaction (group commit), as
	// they do under load: what a group pays once is shared by its orders.
	b.Run("store-grouped", func(b *testing.B) {
		value := []byte(`{"orderId":"5f0c7e0a-8d1e-4b8e-9a52-3c1f2f6f7a10","userId":"user-42","items":[{"sku":"BOOK-1","qty":2},{"sku":"PEN-7","qty":1}],"total":31.5,"currency":"EUR","createdAt":"2026-11-25T09:30:00Z"}`)
		b.ReportAllocs()
		report := perf.Goroutines(b)
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				p := placement{orderID: uuid.NewString(), userID: "user-42", value: value}
				if _, _, err := s.Place(ctx, p); err != nil {
					b.Error(err)
					return
				}
			}
		})
		report()
	})
}
