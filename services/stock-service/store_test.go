package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"log/slog"

	"github.com/kafkakit/kit/services/events"
)

func openTestStore(t *testing.T) *Store {
	t.Helper()
	s, err := OpenStore(context.Background(), filepath.Join(t.TempDir(), "stock.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func order(id string, items ...events.Item) events.OrderCreated {
	return events.OrderCreated{OrderID: id, UserID: "u", Items: items, Currency: "EUR"}
}

func TestApply(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		order      events.OrderCreated
		wantResult string
		wantStock  map[string]int
		wantEvents int
	}{
		{"takes every item", order("o1", events.Item{SKU: "A", Qty: 2}, events.Item{SKU: "B", Qty: 1}), Applied, map[string]int{"A": 8, "B": 4}, 2},
		{"sums a SKU listed twice", order("o2", events.Item{SKU: "A", Qty: 6}, events.Item{SKU: "A", Qty: 4}), Applied, map[string]int{"A": 0, "B": 5}, 1},
		{"all or nothing when one item is short", order("o3", events.Item{SKU: "A", Qty: 1}, events.Item{SKU: "B", Qty: 6}), Rejected, map[string]int{"A": 10, "B": 5}, 0},
		{"rejects an unknown SKU", order("o4", events.Item{SKU: "A", Qty: 1}, events.Item{SKU: "Z", Qty: 1}), Rejected, map[string]int{"A": 10, "B": 5}, 0},
		{"never below zero", order("o5", events.Item{SKU: "A", Qty: 11}), Rejected, map[string]int{"A": 10, "B": 5}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTestStore(t)
			if err := s.Seed(ctx, map[string]int{"A": 10, "B": 5}); err != nil {
				t.Fatal(err)
			}
			out, dup, err := s.Apply(ctx, tt.order, now)
			if err != nil || dup {
				t.Fatalf("Apply: dup %v err %v", dup, err)
			}
			if out.Result != tt.wantResult || (out.Result == Rejected) != (out.Reason != "") {
				t.Errorf("outcome = %+v, want %s (with a reason when rejected)", out, tt.wantResult)
			}
			got, _ := s.Stock(ctx)
			if len(got) != len(tt.wantStock) || got["A"] != tt.wantStock["A"] || got["B"] != tt.wantStock["B"] {
				t.Errorf("stock = %v, want %v", got, tt.wantStock)
			}
			pending, _ := s.PendingEvents(ctx, 100)
			if len(pending) != tt.wantEvents {
				t.Errorf("queued %d inventory events, want %d", len(pending), tt.wantEvents)
			}
			for _, e := range pending {
				var ev events.InventoryUpdated
				if err := json.Unmarshal(e.Value, &ev); err != nil || ev.SKU != e.SKU || ev.OrderID != tt.order.OrderID || ev.NewQuantity != tt.wantStock[e.SKU] || ev.Delta >= 0 {
					t.Errorf("event %s = %+v (%v), want a decrement to %d for %s", e.SKU, ev, err, tt.wantStock[e.SKU], tt.order.OrderID)
				}
			}
			if recorded, err := s.Outcome(ctx, tt.order.OrderID); err != nil || recorded.Result != out.Result {
				t.Errorf("ledger = %+v, %v; want %s", recorded, err, out.Result)
			}
		})
	}
}

func TestApplyTwiceTakesStockOnce(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	if err := s.Seed(ctx, map[string]int{"A": 10}); err != nil {
		t.Fatal(err)
	}
	o := order("o1", events.Item{SKU: "A", Qty: 3})
	if _, dup, err := s.Apply(ctx, o, time.Now()); err != nil || dup {
		t.Fatalf("first Apply: dup %v err %v", dup, err)
	}
	out, dup, err := s.Apply(ctx, o, time.Now())
	if err != nil || !dup || out.Result != Applied {
		t.Fatalf("second Apply: out %+v dup %v err %v; want the first outcome, marked duplicate", out, dup, err)
	}
	if got, _ := s.Stock(ctx); got["A"] != 7 {
		t.Errorf("stock after a redelivered order = %d, want 7", got["A"])
	}
	if pending, _ := s.PendingEvents(ctx, 100); len(pending) != 1 {
		t.Errorf("queued %d events, want 1", len(pending))
	}
}

func TestSeedValidation(t *testing.T) {
	s := openTestStore(t)
	h := NewServer(slog.New(slog.DiscardHandler), s, nil)
	tests := []struct {
		body       string
		wantStatus int
	}{
		{`{"A": 5, "B": 0}`, 200},
		{`{}`, 422},
		{`{"A": -1}`, 422},
		{`{"A": 1.5}`, 422},
		{`{"A": "5"}`, 422},
		{`{"": 5}`, 422},
		{`{"A": 5, "B": -2}`, 422},
		{`[1]`, 422},
		{`{"A":`, 400},
	}
	for _, tt := range tests {
		req := httptest.NewRequest(http.MethodPost, "/seed", strings.NewReader(tt.body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tt.wantStatus {
			t.Errorf("POST /seed %s = %d, want %d (%s)", tt.body, rec.Code, tt.wantStatus, rec.Body)
		}
	}
	got, _ := s.Stock(context.Background())
	if len(got) != 2 || got["A"] != 5 || got["B"] != 0 {
		t.Errorf("stock = %v, want only the valid seed applied: A=5 B=0", got)
	}
}

func TestConcurrentOrdersNeverOversell(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	if err := s.Seed(ctx, map[string]int{"A": 50}); err != nil {
		t.Fatal(err)
	}
	results := make(chan Outcome, 200)
	var wg sync.WaitGroup
	for i := range 100 {
		// every order twice, as a redelivery would: the copies may land in one group
		for range 2 {
			wg.Go(func() {
				out, _, err := s.Apply(ctx, order(fmt.Sprintf("o%d", i), events.Item{SKU: "A", Qty: 1}), time.Now())
				if err != nil {
					t.Error(err)
				}
				results <- out
			})
		}
	}
	wg.Wait()
	close(results)
	applied := map[string]bool{}
	for out := range results {
		if out.Result == Applied {
			applied[out.OrderID] = true
		}
	}
	if len(applied) != 50 {
		t.Errorf("%d orders applied, want 50 (the stock)", len(applied))
	}
	if got, _ := s.Stock(ctx); got["A"] != 0 {
		t.Errorf("stock = %d, want 0", got["A"])
	}
	if pending, _ := s.PendingEvents(ctx, 1000); len(pending) != 50 {
		t.Errorf("%d inventory events queued, want 50", len(pending))
	}
}
