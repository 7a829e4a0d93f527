package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/stream"
)

// TestOrdersNoRetryCanApplyAreAnsweredRejected: an order stock-service
// cannot apply for a reason no retry changes still ends — answered
// REJECTED with why (so orders-processor writes CREATED, FAILED), recorded
// in the ledger, stock untouched — instead of being dead-lettered and never
// getting a status. A redelivery of it changes nothing.
func TestOrdersNoRetryCanApplyAreAnsweredRejected(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		// refuse makes the stock database refuse something for good, as
		// PostgreSQL refuses a NUL in text (SQLSTATE 22021)
		refuse     string
		items      []events.Item
		wantReason string
	}{
		{"a NUL in a SKU, which PostgreSQL cannot store", "",
			[]events.Item{{SKU: "A", Qty: 1}, {SKU: "B\x00", Qty: 1}},
			`invalid order: SKU "B\x00" has a control character`},
		{"another control character in a SKU", "",
			[]events.Item{{SKU: "A\nB", Qty: 1}},
			`invalid order: SKU "A\nB" has a control character`},
		{"a database rule the order breaks",
			`CREATE TRIGGER refuse_broken BEFORE UPDATE ON inventory WHEN NEW.sku = 'BROKEN'
			 BEGIN SELECT RAISE(ABORT, 'internal: BROKEN may not change'); END`,
			[]events.Item{{SKU: "A", Qty: 1}, {SKU: "BROKEN", Qty: 1}},
			"invalid order: the stock database refuses to record it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTestStore(t)
			if err := s.Seed(ctx, map[string]int{"A": 10, "BROKEN": 10}); err != nil {
				t.Fatal(err)
			}
			if tt.refuse != "" {
				if _, err := s.db.ExecContext(ctx, tt.refuse); err != nil {
					t.Fatal(err)
				}
			}
			o := order("no retry applies: "+tt.name, tt.items...)
			handle := reserveStock(s, slog.New(slog.DiscardHandler))
			if err := handle(ctx, o); err != nil {
				t.Fatalf("handler: %v; want the order answered, not dead-lettered (permanent %v)", err, stream.IsPermanent(err))
			}
			recs := queued(t, s)
			if len(recs) != 1 || recs[0].topic != events.TopicStockReservations || recs[0].key != o.OrderID {
				t.Fatalf("queued %+v, want one answer keyed by the order and no inventory update", recs)
			}
			answer := recs[0].reservation
			if answer.Result != events.Rejected || !strings.HasPrefix(answer.Reason, tt.wantReason) ||
				len(answer.Items) != len(o.Items) || answer.Total != o.Total || answer.Currency != o.Currency {
				t.Errorf("answer = %+v, want REJECTED %q… with the order's items, total and currency", answer, tt.wantReason)
			}
			if strings.Contains(answer.Reason, "internal") || strings.Contains(answer.Reason, "SQL") {
				t.Errorf("reason %q gives the database's own words away", answer.Reason)
			}
			out, err := s.Outcome(ctx, o.OrderID)
			if err != nil || out.Result != events.Rejected || out.Reason != answer.Reason {
				t.Errorf("ledger = %+v, %v; want rejected with the answer's reason", out, err)
			}
			if got := stock(t, s); got["A"] != 10 || got["BROKEN"] != 10 {
				t.Errorf("stock = %v, want A=10 BROKEN=10 untouched", got)
			}
			if err := handle(ctx, o); err != nil {
				t.Fatalf("redelivery: %v", err)
			}
			if n := len(queued(t, s)); n != 1 {
				t.Errorf("queued %d records after a redelivery, want still 1", n)
			}
		})
	}
}

// TestOrderWhoseRejectionCannotBeRecordedIsDeadLettered: when not even the
// rejection can be recorded (the order id itself is refused), the record
// is dead-lettered as before, and nothing changes.
func TestOrderWhoseRejectionCannotBeRecordedIsDeadLettered(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	if err := s.Seed(ctx, map[string]int{"A": 10}); err != nil {
		t.Fatal(err)
	}
	o := order("unrecordable", events.Item{SKU: "A", Qty: 1})
	if _, err := s.db.ExecContext(ctx, fmt.Sprintf(`CREATE TRIGGER refuse_order BEFORE INSERT ON reservations WHEN NEW.order_id = '%s'
		BEGIN SELECT RAISE(ABORT, 'this order id is unusable'); END`, o.OrderID)); err != nil {
		t.Fatal(err)
	}
	err := reserveStock(s, slog.New(slog.DiscardHandler))(ctx, o)
	if !stream.IsPermanent(err) {
		t.Fatalf("handler: %v; want a permanent error (dead letter)", err)
	}
	if recs := queued(t, s); len(recs) != 0 {
		t.Errorf("queued %+v, want nothing", recs)
	}
	if got := stock(t, s); got["A"] != 10 {
		t.Errorf("stock = %v, want A=10 untouched", got)
	}
}

// TestAnswerIsNeverMuchLargerThanItsOrder: a ~600 KB orders.created from
// another producer, of SKUs none of which is in stock, made a REJECTED
// answer twice its size (a reason naming every SKU; encoding/json's six
// bytes for each <, & and U+2028), over max.message.bytes: the outbox could
// never send it. The answer names the first short SKUs and counts the rest,
// and is at most the order's size plus a bounded reason. (The reserved case
// is smaller: it writes a row and a record per SKU, and the bound is the
// same whatever the size.)
func TestAnswerIsNeverMuchLargerThanItsOrder(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name          string
		skus, inStock int
		want          events.ReservationResult
	}{
		{"rejected, every SKU of a 600 KB order short", 2500, 0, events.Rejected},
		{"reserved", 40, 5, events.Reserved},
	} {
		t.Run(tt.name, func(t *testing.T) {
			raw := largeOrder(id("a large order: "+tt.name), tt.skus)
			if tt.skus > 1000 && len(raw) < 500_000 {
				t.Fatalf("the order is %d bytes, want a large one", len(raw))
			}
			o, err := events.DecodeOrderCreated(raw)
			if err != nil {
				t.Fatal(err)
			}
			s := openTestStore(t)
			if tt.inStock > 0 {
				seed := map[string]int{}
				for _, it := range o.Items {
					seed[it.SKU] = tt.inStock
				}
				if err := s.Seed(ctx, seed); err != nil {
					t.Fatal(err)
				}
			}
			if _, _, err := s.Reserve(ctx, o, time.Now()); err != nil {
				t.Fatal(err)
			}
			var value []byte
			if err := s.db.QueryRowContext(ctx, `SELECT value FROM outbox WHERE topic = ? ORDER BY seq LIMIT 1`, events.TopicStockReservations).Scan(&value); err != nil {
				t.Fatal(err)
			}
			answer, err := events.DecodeStockReservation(value)
			if err != nil {
				t.Fatal(err)
			}
			if answer.Result != tt.want || len(answer.Items) != tt.skus {
				t.Fatalf("answer is %s with %d items, want %s with the order's %d", answer.Result, len(answer.Items), tt.want, tt.skus)
			}
			// the answer's own fields beside the order's: "result":"REJECTED","reason":"",
			if limit := len(raw) + len(`"result":"REJECTED","reason":"",`) + len(answer.Reason); len(value) > limit || len(answer.Reason) > events.MaxReasonBytes {
				t.Errorf("answer is %d bytes with a reason of %d for an order of %d, want at most %d with a reason of at most %d",
					len(value), len(answer.Reason), len(raw), limit, events.MaxReasonBytes)
			}
			if tt.want != events.Rejected {
				return
			}
			named := strings.Count(answer.Reason, " has 0 left")
			if named != maxNamedSKUs || !strings.HasPrefix(answer.Reason, "out of stock: SKU-0000 ") ||
				!strings.HasSuffix(answer.Reason, fmt.Sprintf("; and %d more", tt.skus-maxNamedSKUs)) {
				t.Errorf("reason names %d SKUs: %.300q…; want the first %d named and the other %d counted",
					named, answer.Reason, maxNamedSKUs, tt.skus-maxNamedSKUs)
			}
		})
	}
}

// largeOrder is an orders.created value as another producer may write it:
// every character of its SKUs as it is, no escape JSON does not require.
func largeOrder(orderID string, skus int) []byte {
	var raw strings.Builder
	fmt.Fprintf(&raw, `{"orderId":%q,"userId":"another producer","items":[`, orderID)
	for i := range skus {
		if i > 0 {
			raw.WriteString(",")
		}
		fmt.Fprintf(&raw, `{"sku":"SKU-%04d %s","qty":2}`, i, strings.Repeat("<&\u2028", 40))
	}
	raw.WriteString(`],"total":12.5,"currency":"EUR","createdAt":"2026-12-07T01:00:00.123456789Z"}`)
	return []byte(raw.String())
}

func TestOutOfStockReasonIsBounded(t *testing.T) {
	entry := func(i int) string { return fmt.Sprintf("SKU-%d has 0 left, the order asks for 1", i) }
	long := strings.Repeat("x", maxQuotedSKU) + "… has 9223372036854775807 left, the order asks for 99999999999"
	tests := []struct {
		name      string
		named     []string
		short     int
		wantNamed int
		wantMore  string
	}{
		{"one", []string{entry(1)}, 1, 1, ""},
		{"all ten", []string{entry(1), entry(2), entry(3), entry(4), entry(5), entry(6), entry(7), entry(8), entry(9), entry(10)}, 10, 10, ""},
		{"ten and a count", []string{entry(1), entry(2), entry(3), entry(4), entry(5), entry(6), entry(7), entry(8), entry(9), entry(10)}, 50_000, 10, "; and 49990 more"},
		{"ten of the longest entries still fit", []string{long, long, long, long, long, long, long, long, long, long}, 11, 10, "; and 1 more"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := outOfStock(tt.named, tt.short)
			if len(got) > events.MaxReasonBytes {
				t.Errorf("reason is %d bytes, want at most %d", len(got), events.MaxReasonBytes)
			}
			if n := strings.Count(got, " left, "); n != tt.wantNamed || !strings.HasSuffix(got, tt.wantMore) || !strings.HasPrefix(got, "out of stock: ") {
				t.Errorf("reason %q names %d, want %d and to end %q", got, n, tt.wantNamed, tt.wantMore)
			}
		})
	}
}
