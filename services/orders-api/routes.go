package main

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/kafkakit/kit/services/platform/httpx"
)

// NewServer returns the orders API: the whole surface is listed here.
func NewServer(log *slog.Logger, orders Publisher, kafkaReady httpx.Check, produceTimeout time.Duration) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /orders", handlePlaceOrder(log, orders, time.Now, produceTimeout))
	mux.Handle("GET /healthz", httpx.Health())
	mux.Handle("GET /readyz", httpx.Ready(map[string]httpx.Check{"kafka": kafkaReady}))
	return httpx.CORS(mux)
}
