package main

import (
	"net/http"

	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/httpx"
	"github.com/kafkakit/kit/services/platform/stream"
)

// NewServer returns the processor's HTTP surface: health and metrics only. Its work
// comes from its subscription below.
func NewServer(checks map[string]httpx.Check, metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", httpx.Health())
	mux.Handle("GET /readyz", httpx.Ready(checks))
	mux.Handle("GET /metrics", metrics)
	return httpx.API(mux)
}

// subscriptions lists what orders-processor consumes, as group
// events.GroupOrdersProcessor (every instance shares the partitions):
// stock-service's answers, each turned into the order's statuses.
func subscriptions(p *Processor) []stream.Route {
	return []stream.Route{
		stream.On(events.TopicStockReservations, p.Handle),
	}
}
