package main

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/kafkakit/kit/services/platform/httpx"
)

// NewServer returns the orders API: the whole surface is listed here.
// orders-api consumes no topic; its outbox relay produces orders.created.
func NewServer(log *slog.Logger, orders OrderStore, checks map[string]httpx.Check, metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /orders", handlePlaceOrder(log, orders, newInFlight(), time.Now))
	mux.Handle("GET /healthz", httpx.Health())
	mux.Handle("GET /readyz", httpx.Ready(checks))
	mux.Handle("GET /metrics", metrics)
	return httpx.API(mux)
}
