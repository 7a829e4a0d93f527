package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/outbox"
	"github.com/kafkakit/kit/services/platform/sqldb/sqldbtest"
	"github.com/kafkakit/kit/services/platform/stream"
)

// TestOrdersNoRetryCanApplyOnPostgres: on PostgreSQL, which refuses a NUL
// in text (SQLSTATE 22021) and raises what a rule refuses, an order with a
// NUL in a SKU, or one breaking a rule, is answered REJECTED, stock
// untouched; one whose id itself PostgreSQL refuses is dead-lettered. The
// database is the test's own (sqldbtest: `make unit` starts the server).
func TestOrdersNoRetryCanApplyOnPostgres(t *testing.T) {
	dsn := sqldbtest.Postgres(t)
	ctx := context.Background()
	s, err := openStoreAt(ctx, dsn, func([]outbox.Queued) {})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	broken := "BROKEN-" + uuid.NewString()
	if err := s.Seed(ctx, map[string]int{"A": 10, broken: 10}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ExecContext(ctx, `
CREATE OR REPLACE FUNCTION stock_test_refuse() RETURNS trigger AS $$
BEGIN RAISE EXCEPTION 'internal: % may not change', NEW.sku USING ERRCODE = '23514'; END $$ LANGUAGE plpgsql;
CREATE OR REPLACE TRIGGER stock_test_refuse BEFORE UPDATE ON inventory
FOR EACH ROW WHEN (NEW.sku LIKE 'BROKEN-%') EXECUTE FUNCTION stock_test_refuse();`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.db.ExecContext(context.Background(), `DROP TRIGGER IF EXISTS stock_test_refuse ON inventory`)
	})
	handle := reserveStock(s, slog.New(slog.DiscardHandler))
	answers := func(orderID string) []events.StockReservation {
		t.Helper()
		rows, err := s.db.QueryContext(ctx, `SELECT value FROM outbox WHERE key = $1 ORDER BY seq`, []byte(orderID))
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []events.StockReservation
		for rows.Next() {
			var value []byte
			if err := rows.Scan(&value); err != nil {
				t.Fatal(err)
			}
			a, err := events.DecodeStockReservation(value)
			if err != nil {
				t.Errorf("answer %s breaks its contract: %v", value, err)
			}
			out = append(out, a)
		}
		return out
	}

	for _, tt := range []struct {
		name       string
		items      []events.Item
		wantReason string
	}{
		{"a NUL in a SKU", []events.Item{{SKU: "A", Qty: 1}, {SKU: "B\x00", Qty: 1}}, `invalid order: SKU "B\x00" has a control character`},
		{"a rule the order breaks", []events.Item{{SKU: "A", Qty: 1}, {SKU: broken, Qty: 1}}, "invalid order: the stock database refuses to record it"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := events.OrderCreated{OrderID: uuid.NewString(), UserID: "u", Items: tt.items, Total: 12.5, Currency: "EUR"}
			if err := handle(ctx, o); err != nil {
				t.Fatalf("handler: %v; want the order answered, not dead-lettered (permanent %v)", err, stream.IsPermanent(err))
			}
			got := answers(o.OrderID)
			if len(got) != 1 || got[0].Result != events.Rejected || !strings.HasPrefix(got[0].Reason, tt.wantReason) || strings.Contains(got[0].Reason, "internal") {
				t.Errorf("answers %+v, want one REJECTED %q…", got, tt.wantReason)
			}
			if out, err := s.Outcome(ctx, o.OrderID); err != nil || out.Result != events.Rejected {
				t.Errorf("ledger = %+v, %v; want rejected", out, err)
			}
			if st := stock(t, s); st["A"] != 10 || st[broken] != 10 {
				t.Errorf("stock A=%d %s=%d, want 10 and 10 untouched", st["A"], broken, st[broken])
			}
		})
	}

	t.Run("an order id PostgreSQL refuses is dead-lettered", func(t *testing.T) {
		o := events.OrderCreated{OrderID: "order\x00" + uuid.NewString(), UserID: "u", Items: []events.Item{{SKU: "A", Qty: 1}}, Total: 1, Currency: "EUR"}
		if err := handle(ctx, o); !stream.IsPermanent(err) {
			t.Fatalf("handler: %v; want a permanent error (dead letter)", err)
		}
		if st := stock(t, s); st["A"] != 10 {
			t.Errorf("stock A=%d, want 10 untouched", st["A"])
		}
	})
}
