package main

import (
	"net/http"

	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/httpx"
)

// NewServer returns the processor's HTTP surface: health only. Its work
// comes from its subscription below.
func NewServer(checks map[string]httpx.Check) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", httpx.Health())
	mux.Handle("GET /readyz", httpx.Ready(checks))
	return httpx.API(mux)
}

// subscription: orders-processor consumes stock.reservations as group
// events.GroupOrdersProcessor; every instance shares its partitions.
type subscription struct {
	topic, contract string
}

func subscriptions(cfg config) []subscription {
	return []subscription{{cfg.ReservationsTopic, events.TopicStockReservations}}
}
