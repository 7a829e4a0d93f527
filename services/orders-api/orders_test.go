package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/metrics"
	"github.com/kafkakit/kit/services/platform/outbox"
	"github.com/kafkakit/kit/services/platform/sqldb"
	"github.com/kafkakit/kit/services/platform/svc"
	"github.com/kafkakit/kit/services/platform/tracing"
)

func openTestStore(t *testing.T) *Store {
	t.Helper()
	return openTestStoreHanding(t, func([]outbox.Queued) {})
}

// openTestStoreHanding is an orders store on a fresh SQLite file that
// hands what each commit queued to onCommit.
func openTestStoreHanding(t *testing.T, onCommit func([]outbox.Queued)) *Store {
	t.Helper()
	ctx := context.Background()
	db, err := sqldb.Open(ctx, filepath.Join(t.TempDir(), "orders.db"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := OpenStore(ctx, db, outbox.New(db), events.TopicOrdersCreated, onCommit)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newTestServer is the orders API answering any Host (httptest's requests
// name example.com), with metrics and tracing that record nowhere.
func newTestServer(orders OrderStore) http.Handler {
	edge, err := svc.NewEdge(svc.HTTP{Name: "orders-api", AllowedHosts: []string{"*"}})
	if err != nil {
		panic(err) // a constant allow-list
	}
	tr, err := tracing.Setup(context.Background(), "orders-api", "")
	if err != nil {
		panic(err) // no endpoint: nothing can fail
	}
	return NewServer(slog.New(slog.DiscardHandler), orders, nil, edge, metrics.New("orders-api"), tr)
}

func post(t *testing.T, h http.Handler, contentType, body string, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/orders", strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// queued returns the orders.created records waiting in the outbox.
func queued(t *testing.T, s *Store) []events.OrderCreated {
	t.Helper()
	rows, err := s.db.Query(`SELECT topic, key, value FROM outbox ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []events.OrderCreated
	for rows.Next() {
		var topic, key string
		var value []byte
		if err := rows.Scan(&topic, &key, &value); err != nil {
			t.Fatal(err)
		}
		var o events.OrderCreated
		if err := json.Unmarshal(value, &o); err != nil {
			t.Fatal(err)
		}
		if topic != events.TopicOrdersCreated || key != o.OrderID {
			t.Errorf("outbox record on %s keyed %q, want orders.created keyed by its orderId %s", topic, key, o.OrderID)
		}
		out = append(out, o)
	}
	return out
}

func orderID(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var resp placeOrderResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || resp.OrderID == "" {
		t.Fatalf("body %s: want {\"orderId\": ...}, err %v", rec.Body, err)
	}
	return resp.OrderID
}

const validBody = `{"userId":"u-1","items":[{"sku":"BOOK-1","qty":2}],"total":31.5,"currency":"EUR"}`

func TestPlaceOrderRecordsTheOrderAndItsRecordBeforeAnswering(t *testing.T) {
	kicked := 0
	s := openTestStoreHanding(t, func(q []outbox.Queued) { kicked += len(q) })
	rec := post(t, newTestServer(s), "application/json; charset=utf-8", validBody)
	if rec.Code != http.StatusCreated {
		t.Fatalf("status = %d, want 201; body %s", rec.Code, rec.Body)
	}
	id := orderID(t, rec)
	got := queued(t, s)
	if len(got) != 1 {
		t.Fatalf("queued %d records, want 1", len(got))
	}
	o := got[0]
	if o.OrderID != id || o.UserID != "u-1" || o.Total != 31.5 || o.Currency != "EUR" ||
		len(o.Items) != 1 || o.Items[0] != (events.Item{SKU: "BOOK-1", Qty: 2}) {
		t.Errorf("record = %+v, want the posted order with id %s", o, id)
	}
	if o.CreatedAt.Location() != time.UTC || o.CreatedAt.IsZero() {
		t.Errorf("createdAt = %v, want a UTC time", o.CreatedAt)
	}
	var n int
	if err := s.db.QueryRow(`SELECT COUNT(*) FROM orders WHERE order_id = ?`, id).Scan(&n); err != nil || n != 1 {
		t.Errorf("orders table has %d rows for %s (%v), want 1", n, id, err)
	}
	if kicked != 1 {
		t.Errorf("%d records handed to the relay, want the order's one", kicked)
	}
	if rec.Header().Get("Idempotent-Replayed") != "" {
		t.Error("Idempotent-Replayed set on a first request")
	}
}

func TestPlaceOrderRejected(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		body        string
		wantStatus  int
		wantField   string // for 422
	}{
		{"not JSON content type", "text/plain", validBody, 415, ""},
		{"no content type", "", validBody, 415, ""},
		{"malformed JSON", "application/json", `{"userId":`, 400, ""},
		{"trailing data", "application/json", validBody + `{}`, 400, ""},
		{"unknown field", "application/json", `{"userId":"u","items":[{"sku":"A","qty":1}],"total":1,"currency":"EUR","orderId":"x"}`, 400, ""},
		{"too large", "application/json", `{"userId":"` + strings.Repeat("x", 1<<20) + `"}`, 413, ""},
		{"missing user", "application/json", `{"items":[{"sku":"A","qty":1}],"total":1,"currency":"EUR"}`, 422, "userId"},
		{"blank user", "application/json", `{"userId":"  ","items":[{"sku":"A","qty":1}],"total":1,"currency":"EUR"}`, 422, "userId"},
		{"no items", "application/json", `{"userId":"u","items":[],"total":1,"currency":"EUR"}`, 422, "items"},
		{"items missing", "application/json", `{"userId":"u","total":1,"currency":"EUR"}`, 422, "items"},
		{"empty sku", "application/json", `{"userId":"u","items":[{"sku":"","qty":1}],"total":1,"currency":"EUR"}`, 422, "items[0].sku"},
		{"zero qty", "application/json", `{"userId":"u","items":[{"sku":"A","qty":0}],"total":1,"currency":"EUR"}`, 422, "items[0].qty"},
		{"qty over the largest", "application/json", `{"userId":"u","items":[{"sku":"A","qty":1000001}],"total":1,"currency":"EUR"}`, 422, "items[0].qty"},
		{"qty that overflows", "application/json", `{"userId":"u","items":[{"sku":"A","qty":9223372036854775807},{"sku":"A","qty":9223372036854775807}],"total":1,"currency":"EUR"}`, 422, "items[0].qty"},
		{"fractional qty", "application/json", `{"userId":"u","items":[{"sku":"A","qty":1},{"sku":"B","qty":1.5}],"total":1,"currency":"EUR"}`, 422, "items[1].qty"},
		{"qty as string", "application/json", `{"userId":"u","items":[{"sku":"A","qty":"2"}],"total":1,"currency":"EUR"}`, 422, "items[0].qty"},
		{"negative total", "application/json", `{"userId":"u","items":[{"sku":"A","qty":1}],"total":-0.01,"currency":"EUR"}`, 422, "total"},
		{"total missing", "application/json", `{"userId":"u","items":[{"sku":"A","qty":1}],"currency":"EUR"}`, 422, "total"},
		{"lower-case currency", "application/json", `{"userId":"u","items":[{"sku":"A","qty":1}],"total":1,"currency":"eur"}`, 422, "currency"},
		{"unknown currency", "application/json", `{"userId":"u","items":[{"sku":"A","qty":1}],"total":1,"currency":"ABC"}`, 422, "currency"},
		{"NUL in sku", "application/json", `{"userId":"u","items":[{"sku":"A\u0000B","qty":1}],"total":1,"currency":"EUR"}`, 422, "items[0].sku"},
		{"NUL in userId", "application/json", `{"userId":"u\u0000","items":[{"sku":"A","qty":1}],"total":1,"currency":"EUR"}`, 422, "userId"},
		{"bell in sku", "application/json", `{"userId":"u","items":[{"sku":"A","qty":1},{"sku":"B\u0007","qty":1}],"total":1,"currency":"EUR"}`, 422, "items[1].sku"},
		{"C1 control in userId", "application/json", `{"userId":"u\u0085v","items":[{"sku":"A","qty":1}],"total":1,"currency":"EUR"}`, 422, "userId"},
		{"tab inside sku", "application/json", `{"userId":"u","items":[{"sku":"A\tB","qty":1}],"total":1,"currency":"EUR"}`, 422, "items[0].sku"},
		{"101 items", "application/json", `{"userId":"u","items":[` + strings.Repeat(`{"sku":"A","qty":1},`, 100) + `{"sku":"A","qty":1}],"total":1,"currency":"EUR"}`, 422, "items"},
		{"userId a number", "application/json", `{"userId":7,"items":[{"sku":"A","qty":1}],"total":1,"currency":"EUR"}`, 422, "userId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTestStore(t)
			rec := post(t, newTestServer(s), tt.contentType, tt.body)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tt.wantStatus, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			var body struct {
				Error  string `json:"error"`
				Fields []struct{ Field, Message string }
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error == "" {
				t.Errorf("body %s: want a JSON error naming the problem (%v)", rec.Body, err)
			}
			if tt.wantField != "" {
				found := false
				for _, f := range body.Fields {
					found = found || f.Field == tt.wantField
				}
				if !found {
					t.Errorf("fields = %+v, want one naming %q", body.Fields, tt.wantField)
				}
			}
			if got := queued(t, s); len(got) != 0 {
				t.Errorf("queued %d records for a rejected order, want none", len(got))
			}
		})
	}
}

// failingStore cannot commit, as a database that is full or gone.
type failingStore struct{}

func (failingStore) Place(context.Context, placement) (string, bool, error) {
	return "", false, errors.New("disk I/O error")
}

func TestPlaceOrderDatabaseDown(t *testing.T) {
	rec := post(t, newTestServer(failingStore{}), "application/json", validBody)
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status = %d, want 503", rec.Code)
	}
	if rec.Header().Get("Retry-After") == "" {
		t.Error("no Retry-After on 503")
	}
	if strings.Contains(rec.Body.String(), "disk") {
		t.Errorf("body %s names the internal cause", rec.Body)
	}
}

func TestIdempotencyKey(t *testing.T) {
	const other = `{"userId":"u-1","items":[{"sku":"BOOK-1","qty":3}],"total":31.5,"currency":"EUR"}`
	const sameButFormattedOtherwise = `{ "currency":"EUR", "total":31.50, "items":[{"qty":2, "sku":"BOOK-1"}], "userId":"u-1" }`
	const otherUser = `{"userId":"u-2","items":[{"sku":"BOOK-1","qty":2}],"total":31.5,"currency":"EUR"}`
	s := openTestStore(t)
	h := newTestServer(s)

	first := post(t, h, "application/json", validBody, "Idempotency-Key", "k-1")
	if first.Code != http.StatusCreated {
		t.Fatalf("first: %d %s", first.Code, first.Body)
	}
	id := orderID(t, first)

	for _, tt := range []struct{ name, body, key string }{
		{"the same request again", validBody, "k-1"},
		{"the same order formatted otherwise", sameButFormattedOtherwise, "k-1"},
		{"the key as a structured-field string", validBody, `"k-1"`},
	} {
		rec := post(t, h, "application/json", tt.body, "Idempotency-Key", tt.key)
		if rec.Code != http.StatusCreated || orderID(t, rec) != id || rec.Header().Get("Idempotent-Replayed") != "true" {
			t.Errorf("%s: %d %s replayed=%q, want 201 with the first order %s and Idempotent-Replayed: true",
				tt.name, rec.Code, rec.Body, rec.Header().Get("Idempotent-Replayed"), id)
		}
	}

	reused := post(t, h, "application/json", other, "Idempotency-Key", "k-1")
	if reused.Code != http.StatusUnprocessableEntity || !strings.Contains(reused.Body.String(), "Idempotency-Key") {
		t.Errorf("same key, other body: %d %s, want 422 naming the Idempotency-Key", reused.Code, reused.Body)
	}

	byOtherUser := post(t, h, "application/json", otherUser, "Idempotency-Key", "k-1")
	if byOtherUser.Code != http.StatusCreated || orderID(t, byOtherUser) == id {
		t.Errorf("same key, another user: %d %s, want a new order (keys belong to a user)", byOtherUser.Code, byOtherUser.Body)
	}
	noKey := post(t, h, "application/json", validBody)
	if noKey.Code != http.StatusCreated || orderID(t, noKey) == id {
		t.Errorf("no key: %d %s, want a new order", noKey.Code, noKey.Body)
	}
	if got := queued(t, s); len(got) != 3 {
		t.Errorf("queued %d records, want 3 (first, other user's, keyless)", len(got))
	}
}

func TestIdempotencyKeyMalformed(t *testing.T) {
	for _, key := range []string{`""`, strings.Repeat("k", 256), "caf\u00e9", "tab\tkey", `"unterminated`} {
		s := openTestStore(t)
		rec := post(t, newTestServer(s), "application/json", validBody, "Idempotency-Key", key)
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "Idempotency-Key") {
			t.Errorf("key %q: %d %s, want 400 naming Idempotency-Key", key, rec.Code, rec.Body)
		}
		if got := queued(t, s); len(got) != 0 {
			t.Errorf("key %q: queued %d records, want none", key, len(got))
		}
	}
	s := openTestStore(t)
	rec := post(t, newTestServer(s), "application/json", validBody, "Idempotency-Key", "a", "Idempotency-Key", "b")
	if rec.Code != http.StatusBadRequest {
		t.Errorf("two keys: %d, want 400", rec.Code)
	}
}

// blockingStore holds Place until released, as a slow commit would.
type blockingStore struct {
	entered chan struct{}
	release chan struct{}
}

func (b blockingStore) Place(ctx context.Context, p placement) (string, bool, error) {
	b.entered <- struct{}{}
	<-b.release
	return p.orderID, false, nil
}

func TestIdempotencyKeyInFlight(t *testing.T) {
	b := blockingStore{entered: make(chan struct{}), release: make(chan struct{})}
	h := newTestServer(b)
	var wg sync.WaitGroup
	var first *httptest.ResponseRecorder
	wg.Go(func() { first = post(t, h, "application/json", validBody, "Idempotency-Key", "slow") })
	<-b.entered
	second := post(t, h, "application/json", validBody, "Idempotency-Key", "slow")
	if second.Code != http.StatusConflict || second.Header().Get("Retry-After") == "" {
		t.Errorf("repeat while the first is in flight: %d %s, want 409 with Retry-After", second.Code, second.Body)
	}
	close(b.release)
	wg.Wait()
	if first.Code != http.StatusCreated {
		t.Errorf("first: %d, want 201", first.Code)
	}
	go func() { <-b.entered }()
	if third := post(t, h, "application/json", validBody, "Idempotency-Key", "slow"); third.Code != http.StatusCreated {
		t.Errorf("after the first finished: %d, want 201 (the key is free again)", third.Code)
	}
}

func TestPruneKeysForgetsOnlyOldKeys(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	now := time.Now()
	for i, age := range []time.Duration{48 * time.Hour, time.Hour} {
		_, _, err := s.Place(ctx, placement{orderID: fmt.Sprint("o", i), userID: "u", createdAt: now.Add(-age), value: []byte("{}"), key: fmt.Sprint("k", i), hash: "h"})
		if err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.PruneKeys(ctx, now.Add(-24*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("PruneKeys = %d, %v; want 1 (the 48 h old key)", n, err)
	}
	if _, replayed, _ := s.Place(ctx, placement{orderID: "o9", userID: "u", createdAt: now, value: []byte("{}"), key: "k1", hash: "h"}); !replayed {
		t.Error("the 1 h old key was forgotten")
	}
}

func TestCORSPreflightFromLocalOrigin(t *testing.T) {
	req := httptest.NewRequest(http.MethodOptions, "/orders", nil)
	req.Header.Set("Origin", "http://localhost:5173")
	rec := httptest.NewRecorder()
	newTestServer(failingStore{}).ServeHTTP(rec, req)
	if got := rec.Header().Get("Access-Control-Allow-Origin"); got != "http://localhost:5173" {
		t.Errorf("Allow-Origin = %q, want the local origin", got)
	}
	req = httptest.NewRequest(http.MethodOptions, "/orders", nil)
	req.Header.Set("Origin", "https://evil.example")
	rec = httptest.NewRecorder()
	newTestServer(failingStore{}).ServeHTTP(rec, req)
	if got := rec.Header().Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("Allow-Origin = %q for a remote origin, want none", got)
	}
}

func TestLoadConfig(t *testing.T) {
	cfg, err := loadConfig(func(string) string { return "" })
	if err != nil || cfg.HTTPAddr != ":8081" || cfg.Brokers[0] != "localhost:9093" || cfg.DSN != "orders.db" {
		t.Errorf("defaults = %+v, %v", cfg, err)
	}
	for key, value := range map[string]string{"PRODUCE_TIMEOUT": "soon", "IDEMPOTENCY_TTL": "0s", "DB_DSN": "mysql://x"} {
		if _, err := loadConfig(func(k string) string {
			if k == key {
				return value
			}
			return ""
		}); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s=%s: err = %v, want one naming it", key, value, err)
		}
	}
}
