package main

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/kafkakit/kit/services/platform/httpx"
	"github.com/kafkakit/kit/services/platform/metrics"
	"github.com/kafkakit/kit/services/platform/svc"
	"github.com/kafkakit/kit/services/platform/tracing"
)

// NewServer returns the orders API: every route, and everything a request
// passes through on its way to one, are listed here.
// orders-api consumes no topic; its outbox relay produces orders.created.
func NewServer(log *slog.Logger, orders OrderStore, checks map[string]httpx.Check,
	edge *svc.Edge, m *metrics.Metrics, tr *tracing.Tracing) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /orders", handlePlaceOrder(log, orders, newInFlight(), time.Now))
	mux.Handle("GET /healthz", httpx.Health())
	mux.Handle("GET /readyz", httpx.Ready(checks))
	mux.Handle("GET /metrics", m.Handler())
	return httpx.Chain(httpx.API(mux), // CORS; the router's 404 and 405 as JSON
		edge.Draining, // /readyz 503 once a shutdown began
		edge.Guard,    // Host allow-list, admin policy
		tr.HTTP,       // a server span per request, named by its route
		m.HTTP,        // requests and latency by route
	)
}
