package main

import (
	"net/http"

	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/httpx"
	"github.com/kafkakit/kit/services/platform/metrics"
	"github.com/kafkakit/kit/services/platform/stream"
	"github.com/kafkakit/kit/services/platform/svc"
	"github.com/kafkakit/kit/services/platform/tracing"
)

// NewServer returns the processor's HTTP surface: health and metrics only,
// behind the middleware every service's requests pass. Its work comes from
// its subscription below.
func NewServer(checks map[string]httpx.Check, edge *svc.Edge, m *metrics.Metrics, tr *tracing.Tracing) http.Handler {
	mux := http.NewServeMux()
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

// subscriptions lists what orders-processor consumes, as group
// events.GroupOrdersProcessor (every instance shares the partitions):
// stock-service's answers, each turned into the order's statuses.
func subscriptions(p *Processor) []stream.Route {
	return []stream.Route{
		stream.On(events.TopicStockReservations, p.Handle),
	}
}
