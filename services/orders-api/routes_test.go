package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/kafkakit/kit/services/platform/metrics"
	"github.com/kafkakit/kit/services/platform/svc"
	"github.com/kafkakit/kit/services/platform/tracing"
)

// NewServer's chain runs in the order it lists: a Host outside the
// allow-list is refused by the guard before tracing and metrics see it
// (no span, no series), while a request it lets through gets a span and a
// series named by its route, and a router 404 is JSON.
func TestNewServerChainsGuardTracingMetricsInOrder(t *testing.T) {
	edge, err := svc.NewEdge(svc.HTTP{Name: "orders-api"})
	if err != nil {
		t.Fatal(err)
	}
	spans := tracetest.NewSpanRecorder()
	tr := tracing.New(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)))
	m := metrics.New("orders-api")
	h := NewServer(slog.New(slog.DiscardHandler), openTestStore(t), nil, edge, m, tr)
	serve := func(host, method, path, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Host = host
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}

	if rec := serve("attacker.example", http.MethodPost, "/orders", validBody); rec.Code != http.StatusForbidden {
		t.Fatalf("a foreign Host: %d, want 403 from the guard", rec.Code)
	}
	if n := len(spans.Ended()); n != 0 {
		t.Errorf("a request the guard refused left %d spans, want none (tracing runs inside the guard)", n)
	}
	if rec := serve("localhost:8081", http.MethodPost, "/orders", validBody); rec.Code != http.StatusCreated {
		t.Fatalf("POST /orders: %d %s, want 201", rec.Code, rec.Body)
	}
	if rec := serve("localhost:8081", http.MethodGet, "/nowhere", ""); rec.Code != http.StatusNotFound || rec.Header().Get("Content-Type") != "application/json" {
		t.Errorf("unknown path: %d %q, want a JSON 404", rec.Code, rec.Header().Get("Content-Type"))
	}
	var names []string
	for _, s := range spans.Ended() {
		names = append(names, s.Name())
	}
	if len(names) != 2 || names[0] != "POST /orders" {
		t.Errorf("spans %q, want one named POST /orders and one for the 404", names)
	}

	scrape := serve("localhost:8081", http.MethodGet, "/metrics", "")
	body, _ := io.ReadAll(scrape.Body)
	for _, want := range []string{`kafkakit_http_requests_total{code="201",route="POST /orders"} 1`, `route="unmatched"`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(string(body), `code="403"`) {
		t.Error("/metrics counted the request the guard refused (metrics run inside the guard)")
	}
}
