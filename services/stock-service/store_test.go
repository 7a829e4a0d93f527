package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/outbox"
	"github.com/kafkakit/kit/services/platform/sqldb"
	"github.com/kafkakit/kit/services/platform/stream"
	"github.com/kafkakit/kit/services/platform/svc"
)

var testTopics = Topics{Reservations: events.TopicStockReservations, Inventory: events.TopicInventoryUpdated}

func openTestStore(t *testing.T) *Store {
	t.Helper()
	return openTestStoreHanding(t, func([]outbox.Queued) {})
}

// openTestStoreHanding is a stock store on a fresh SQLite file that hands
// what each commit queued to onCommit.
func openTestStoreHanding(t *testing.T, onCommit func([]outbox.Queued)) *Store {
	t.Helper()
	s, err := openStoreAt(context.Background(), filepath.Join(t.TempDir(), "stock.db"), onCommit)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// openStoreAt opens the stock store at dsn, as run does.
func openStoreAt(ctx context.Context, dsn string, onCommit func([]outbox.Queued)) (*Store, error) {
	db, err := sqldb.Open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	return OpenStore(ctx, db, outbox.New(db), testTopics, onCommit)
}

// id is the order id (a UUID, as the contract wants) a test calls name.
func id(name string) string { return uuid.NewSHA1(uuid.NameSpaceOID, []byte(name)).String() }

func order(name string, items ...events.Item) events.OrderCreated {
	return events.OrderCreated{OrderID: id(name), UserID: "u", Items: items, Total: 12.5, Currency: "EUR"}
}

// record is an outbox record, decoded.
type record struct {
	topic, key  string
	reservation events.StockReservation
	inventory   events.InventoryUpdated
}

// queued returns what the store queued for its relay, oldest first, and
// checks each record against its contract.
func queued(t *testing.T, s *Store) []record {
	t.Helper()
	rows, err := s.db.Query(`SELECT topic, key, value FROM outbox ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []record
	for rows.Next() {
		var r record
		var value []byte
		if err := rows.Scan(&r.topic, &r.key, &value); err != nil {
			t.Fatal(err)
		}
		schema, err := stream.Schema(r.topic)
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.Conforms(schema)(value); err != nil {
			t.Errorf("%s record %s breaks its contract: %v", r.topic, value, err)
		}
		switch r.topic {
		case events.TopicStockReservations:
			err = json.Unmarshal(value, &r.reservation)
		case events.TopicInventoryUpdated:
			err = json.Unmarshal(value, &r.inventory)
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func stock(t *testing.T, s *Store) map[string]int64 {
	t.Helper()
	got, err := s.Stock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestReserve(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		order      events.OrderCreated
		wantResult events.ReservationResult
		wantReason []string
		wantStock  map[string]int64
		wantDeltas map[string]int // inventory.updated per SKU
	}{
		{"takes every item", order("o1", events.Item{SKU: "A", Qty: 2}, events.Item{SKU: "B", Qty: 1}),
			events.Reserved, nil, map[string]int64{"A": 8, "B": 4}, map[string]int{"A": -2, "B": -1}},
		{"sums a SKU listed twice", order("o2", events.Item{SKU: "A", Qty: 6}, events.Item{SKU: "A", Qty: 4}),
			events.Reserved, nil, map[string]int64{"A": 0, "B": 5}, map[string]int{"A": -10}},
		{"all or nothing when one item is short", order("o3", events.Item{SKU: "A", Qty: 1}, events.Item{SKU: "B", Qty: 6}),
			events.Rejected, []string{"out of stock: ", "B has 5 left, the order asks for 6"}, map[string]int64{"A": 10, "B": 5}, nil},
		{"an unknown SKU has none", order("o4", events.Item{SKU: "A", Qty: 1}, events.Item{SKU: "Z", Qty: 1}),
			events.Rejected, []string{"Z has 0 left, the order asks for 1"}, map[string]int64{"A": 10, "B": 5}, nil},
		{"never below zero", order("o5", events.Item{SKU: "A", Qty: 11}),
			events.Rejected, []string{"A has 10 left, the order asks for 11"}, map[string]int64{"A": 10, "B": 5}, nil},
		{"every short SKU is named", order("o6", events.Item{SKU: "A", Qty: 11}, events.Item{SKU: "B", Qty: 6}),
			events.Rejected, []string{"A has 10 left", "; B has 5 left"}, map[string]int64{"A": 10, "B": 5}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTestStore(t)
			if err := s.Seed(ctx, map[string]int{"A": 10, "B": 5}); err != nil {
				t.Fatal(err)
			}
			out, dup, err := s.Reserve(ctx, tt.order, now)
			if err != nil || dup {
				t.Fatalf("Reserve: dup %v err %v", dup, err)
			}
			if out.Result != tt.wantResult || (out.Result == events.Rejected) != (out.Reason != "") {
				t.Errorf("outcome = %+v, want %s with a reason exactly when rejected", out, tt.wantResult)
			}
			for _, w := range tt.wantReason {
				if !strings.Contains(out.Reason, w) {
					t.Errorf("reason %q, want it to say %q", out.Reason, w)
				}
			}
			if got := stock(t, s); fmt.Sprint(got) != fmt.Sprint(tt.wantStock) {
				t.Errorf("stock = %v, want %v", got, tt.wantStock)
			}
			recs := queued(t, s)
			if len(recs) == 0 || recs[0].topic != events.TopicStockReservations || recs[0].key != tt.order.OrderID {
				t.Fatalf("queued %+v, want the reservation answer first, keyed by the order id", recs)
			}
			answer := recs[0].reservation
			// The ledger and the answer use the same words.
			wantAnswer := tt.wantResult
			if answer.Result != wantAnswer || answer.Reason != out.Reason || answer.Total != 12.5 || answer.Currency != "EUR" ||
				len(answer.Items) != len(tt.order.Items) {
				t.Errorf("answer = %+v, want %s with the reason, the order's items, total and currency", answer, wantAnswer)
			}
			deltas := map[string]int{}
			for _, r := range recs[1:] {
				if r.topic != events.TopicInventoryUpdated || r.key != r.inventory.SKU || r.inventory.OrderID != tt.order.OrderID {
					t.Errorf("queued %+v, want inventory updates keyed by SKU for the order", r)
				}
				deltas[r.inventory.SKU] += r.inventory.Delta
				if r.inventory.NewQuantity != int(tt.wantStock[r.inventory.SKU]) {
					t.Errorf("update for %s says %d left, stock has %d", r.inventory.SKU, r.inventory.NewQuantity, tt.wantStock[r.inventory.SKU])
				}
			}
			if fmt.Sprint(deltas) != fmt.Sprint(tt.wantDeltas) && !(len(deltas) == 0 && tt.wantDeltas == nil) {
				t.Errorf("inventory deltas = %v, want %v", deltas, tt.wantDeltas)
			}
		})
	}
}

func TestReserveTwiceTakesStockOnce(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	if err := s.Seed(ctx, map[string]int{"A": 10}); err != nil {
		t.Fatal(err)
	}
	o := order("o1", events.Item{SKU: "A", Qty: 3})
	if _, dup, err := s.Reserve(ctx, o, time.Now()); err != nil || dup {
		t.Fatalf("first Reserve: dup %v err %v", dup, err)
	}
	out, dup, err := s.Reserve(ctx, o, time.Now())
	if err != nil || !dup || out.Result != events.Reserved {
		t.Fatalf("second Reserve: out %+v dup %v err %v; want the first outcome, marked duplicate", out, dup, err)
	}
	if got := stock(t, s); got["A"] != 7 {
		t.Errorf("stock after a redelivered order = %d, want 7", got["A"])
	}
	if recs := queued(t, s); len(recs) != 2 {
		t.Errorf("queued %d records, want 2 (one answer, one inventory update)", len(recs))
	}
}

// A ledger written while its results were lower-case ("reserved") is read
// in the contract's words after an upgrade: an order reserved before it is
// still given back when it fails, and reported RESERVED meanwhile.
func TestLedgerFromBeforeTheContractsWordsStillReleases(t *testing.T) {
	ctx := context.Background()
	dsn := filepath.Join(t.TempDir(), "stock.db")
	s, err := openStoreAt(ctx, dsn, func([]outbox.Queued) {})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Seed(ctx, map[string]int{"A": 10}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Reserve(ctx, order("reserved-before-the-upgrade", events.Item{SKU: "A", Qty: 3}), time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE reservations SET result = LOWER(result)`); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, err = openStoreAt(ctx, dsn, func([]outbox.Queued) {})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if got, err := s.Outcome(ctx, id("reserved-before-the-upgrade")); err != nil || got.Result != events.Reserved {
		t.Errorf("Outcome = %q, %v; want %s", got.Result, err, events.Reserved)
	}
	out, released, err := s.Release(ctx, id("reserved-before-the-upgrade"), time.Now())
	if err != nil || !released || out.Result != Released {
		t.Fatalf("Release = %+v, %v, %v; want released", out, released, err)
	}
	if got := stock(t, s); got["A"] != 10 {
		t.Errorf("stock after the release = %v, want A=10 again", got)
	}
}

func TestReleaseGivesBackOnce(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	if err := s.Seed(ctx, map[string]int{"A": 10, "B": 5}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Reserve(ctx, order("paid-then-failed", events.Item{SKU: "A", Qty: 3}, events.Item{SKU: "B", Qty: 1}, events.Item{SKU: "A", Qty: 1}), time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Reserve(ctx, order("short", events.Item{SKU: "B", Qty: 99}), time.Now()); err != nil {
		t.Fatal(err)
	}
	before := len(queued(t, s))

	out, released, err := s.Release(ctx, id("paid-then-failed"), time.Now())
	if err != nil || !released || out.Result != Released || out.ReleasedAt == nil {
		t.Fatalf("Release = %+v, %v, %v; want released", out, released, err)
	}
	if got := stock(t, s); got["A"] != 10 || got["B"] != 5 {
		t.Errorf("stock after the release = %v, want A=10 B=5 again", got)
	}
	recs := queued(t, s)[before:]
	deltas := map[string]int{}
	for _, r := range recs {
		if r.topic != events.TopicInventoryUpdated || r.inventory.Delta <= 0 {
			t.Errorf("release queued %+v, want inventory updates with a positive delta", r)
		}
		deltas[r.inventory.SKU] += r.inventory.Delta
	}
	if fmt.Sprint(deltas) != "map[A:4 B:1]" {
		t.Errorf("release deltas = %v, want one update per SKU: A +4, B +1", deltas)
	}
	if got, _ := s.Outcome(ctx, id("paid-then-failed")); got.Result != Released {
		t.Errorf("ledger says %q, want released", got.Result)
	}

	for _, tt := range []struct {
		name, orderID string
		wantErr       error
	}{
		{"a second FAILED (a redelivery)", id("paid-then-failed"), nil},
		{"an order rejected for stock", id("short"), nil},
		{"an order never seen", id("nobody"), errUnknownOrder},
	} {
		_, released, err := s.Release(ctx, tt.orderID, time.Now())
		if released || !errors.Is(err, tt.wantErr) {
			t.Errorf("%s: released %v err %v; want nothing released, err %v", tt.name, released, err, tt.wantErr)
		}
	}
	if got := stock(t, s); got["A"] != 10 || got["B"] != 5 {
		t.Errorf("stock = %v after releases that should change nothing, want A=10 B=5", got)
	}
	if n := len(queued(t, s)); n != before+2 {
		t.Errorf("queued %d records in all, want %d (only the one release)", n, before+2)
	}
}

func TestAbsurdQuantitiesAreRefusedAndChangeNothing(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	if err := s.Seed(ctx, map[string]int{"A": 10}); err != nil {
		t.Fatal(err)
	}
	for _, items := range [][]events.Item{
		{{SKU: "A", Qty: math.MaxInt64}, {SKU: "A", Qty: math.MaxInt64}}, // sums to -2 without care
		{{SKU: "A", Qty: events.MaxQty + 1}},
		{{SKU: "A", Qty: 0}},
		{{SKU: "A", Qty: -5}},
	} {
		err := reserveStock(s, slog.New(slog.DiscardHandler))(ctx, order(fmt.Sprint(items), items...))
		if !stream.IsPermanent(err) || !errors.Is(err, errInvalidOrder) {
			t.Errorf("items %v: err = %v, want a permanent invalid-order error (dead letter)", items, err)
		}
	}
	if got := stock(t, s); got["A"] != 10 {
		t.Errorf("stock = %d, want 10 untouched", got["A"])
	}
	if recs := queued(t, s); len(recs) != 0 {
		t.Errorf("queued %d records for refused orders, want none", len(recs))
	}
}

func TestSeedValidation(t *testing.T) {
	s := openTestStore(t)
	h := asAdmin(newTestServer(t, s, svc.HTTP{Name: "stock-service"}))
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
		{`{"A": 2147483648}`, 422},
		{`[1]`, 422},
		{`{"A":`, 400},
		{`{"B\u0000": 5}`, 422}, // PostgreSQL cannot store a NUL; no order could reserve it
		{`{"B\nC": 5}`, 422},
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
	if got := stock(t, s); len(got) != 2 || got["A"] != 5 || got["B"] != 0 {
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
				out, _, err := s.Reserve(ctx, order(fmt.Sprintf("o%d", i), events.Item{SKU: "A", Qty: 1}), time.Now())
				if err != nil {
					t.Error(err)
				}
				results <- out
			})
		}
	}
	wg.Wait()
	close(results)
	reserved := map[string]bool{}
	for out := range results {
		if out.Result == events.Reserved {
			reserved[out.OrderID] = true
		}
	}
	if len(reserved) != 50 {
		t.Errorf("%d orders reserved, want 50 (the stock)", len(reserved))
	}
	if got := stock(t, s); got["A"] != 0 {
		t.Errorf("stock = %d, want 0", got["A"])
	}
	answers := 0
	for _, r := range queued(t, s) {
		if r.topic == events.TopicStockReservations {
			answers++
		}
	}
	if answers != 100 {
		t.Errorf("%d answers queued, want 100 (one per order, whatever the redeliveries)", answers)
	}
}

func TestCommittedRecordsAreHandedToTheRelay(t *testing.T) {
	ctx := context.Background()
	var handed []outbox.Queued
	var mu sync.Mutex
	s := openTestStoreHanding(t, func(q []outbox.Queued) { mu.Lock(); handed = append(handed, q...); mu.Unlock() })
	if err := s.Seed(ctx, map[string]int{"A": 10}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Reserve(ctx, order("taken", events.Item{SKU: "A", Qty: 1}), time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Reserve(ctx, order("absurd", events.Item{SKU: "A", Qty: 0}), time.Now()); err == nil {
		t.Fatal("an order for 0 was taken")
	}
	if _, dup, _ := s.Reserve(ctx, order("taken", events.Item{SKU: "A", Qty: 1}), time.Now()); !dup {
		t.Fatal("a redelivery was not recognised")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(handed) != 2 || len(queued(t, s)) != 2 {
		t.Errorf("handed %d records to the relay (the table holds %d), want 2: the answer and one inventory update, nothing for the refused order or the redelivery", len(handed), len(queued(t, s)))
	}
}
