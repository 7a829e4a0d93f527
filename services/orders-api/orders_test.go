package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kafkakit/kit/services/events"
)

type fakePublisher struct {
	mu   sync.Mutex
	msgs []kafka.Message
	err  error
}

func (f *fakePublisher) WriteMessages(_ context.Context, msgs ...kafka.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.msgs = append(f.msgs, msgs...)
	return nil
}

func newTestServer(pub Publisher) http.Handler {
	ready := func(context.Context) error { return nil }
	return NewServer(slog.New(slog.DiscardHandler), pub, ready, time.Second)
}

func post(t *testing.T, h http.Handler, contentType, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/orders", strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

const validBody = `{"userId":"u-1","items":[{"sku":"BOOK-1","qty":2}],"total":31.5,"currency":"EUR"}`

func TestPlaceOrderAccepted(t *testing.T) {
	pub := &fakePublisher{}
	rec := post(t, newTestServer(pub), "application/json; charset=utf-8", validBody)
	if rec.Code != http.StatusCreated {
		t.Fatalf("status = %d, want 201; body %s", rec.Code, rec.Body)
	}
	var resp placeOrderResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || resp.OrderID == "" {
		t.Fatalf("body %s: want {\"orderId\": ...}, err %v", rec.Body, err)
	}
	if len(pub.msgs) != 1 {
		t.Fatalf("published %d records, want 1", len(pub.msgs))
	}
	m := pub.msgs[0]
	if string(m.Key) != resp.OrderID {
		t.Errorf("key = %q, want the orderId %q", m.Key, resp.OrderID)
	}
	var got events.OrderCreated
	if err := json.Unmarshal(m.Value, &got); err != nil {
		t.Fatal(err)
	}
	if got.OrderID != resp.OrderID || got.UserID != "u-1" || got.Total != 31.5 || got.Currency != "EUR" ||
		len(got.Items) != 1 || got.Items[0] != (events.Item{SKU: "BOOK-1", Qty: 2}) {
		t.Errorf("record = %+v, want the posted order with id %s", got, resp.OrderID)
	}
	if got.CreatedAt.Location() != time.UTC || got.CreatedAt.IsZero() {
		t.Errorf("createdAt = %v, want a UTC time", got.CreatedAt)
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
		{"fractional qty", "application/json", `{"userId":"u","items":[{"sku":"A","qty":1},{"sku":"B","qty":1.5}],"total":1,"currency":"EUR"}`, 422, "items[1].qty"},
		{"qty as string", "application/json", `{"userId":"u","items":[{"sku":"A","qty":"2"}],"total":1,"currency":"EUR"}`, 422, "items[0].qty"},
		{"negative total", "application/json", `{"userId":"u","items":[{"sku":"A","qty":1}],"total":-0.01,"currency":"EUR"}`, 422, "total"},
		{"total missing", "application/json", `{"userId":"u","items":[{"sku":"A","qty":1}],"currency":"EUR"}`, 422, "total"},
		{"lower-case currency", "application/json", `{"userId":"u","items":[{"sku":"A","qty":1}],"total":1,"currency":"eur"}`, 422, "currency"},
		{"unknown currency", "application/json", `{"userId":"u","items":[{"sku":"A","qty":1}],"total":1,"currency":"ABC"}`, 422, "currency"},
		{"userId a number", "application/json", `{"userId":7,"items":[{"sku":"A","qty":1}],"total":1,"currency":"EUR"}`, 422, "userId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub := &fakePublisher{}
			rec := post(t, newTestServer(pub), tt.contentType, tt.body)
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
			if len(pub.msgs) != 0 {
				t.Errorf("published %d records for a rejected order, want none", len(pub.msgs))
			}
		})
	}
}

func TestPlaceOrderBrokerDown(t *testing.T) {
	rec := post(t, newTestServer(&fakePublisher{err: errors.New("dial tcp: connection refused")}), "application/json", validBody)
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status = %d, want 503", rec.Code)
	}
	if rec.Header().Get("Retry-After") == "" {
		t.Error("no Retry-After on 503")
	}
}

func TestCORSPreflightFromLocalOrigin(t *testing.T) {
	req := httptest.NewRequest(http.MethodOptions, "/orders", nil)
	req.Header.Set("Origin", "http://localhost:5173")
	rec := httptest.NewRecorder()
	newTestServer(&fakePublisher{}).ServeHTTP(rec, req)
	if got := rec.Header().Get("Access-Control-Allow-Origin"); got != "http://localhost:5173" {
		t.Errorf("Allow-Origin = %q, want the local origin", got)
	}
	req = httptest.NewRequest(http.MethodOptions, "/orders", nil)
	req.Header.Set("Origin", "https://evil.example")
	rec = httptest.NewRecorder()
	newTestServer(&fakePublisher{}).ServeHTTP(rec, req)
	if got := rec.Header().Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("Allow-Origin = %q for a remote origin, want none", got)
	}
}

func TestLoadConfig(t *testing.T) {
	cfg, err := loadConfig(func(string) string { return "" })
	if err != nil || cfg.HTTPAddr != ":8081" || cfg.Brokers[0] != "localhost:9093" || cfg.OrdersTopic != "orders.created" {
		t.Errorf("defaults = %+v, %v", cfg, err)
	}
	env := map[string]string{"PRODUCE_TIMEOUT": "soon"}
	if _, err := loadConfig(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "PRODUCE_TIMEOUT") {
		t.Errorf("bad PRODUCE_TIMEOUT: err = %v, want one naming it", err)
	}
}
