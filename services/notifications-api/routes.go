package main

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/httpx"
	"github.com/kafkakit/kit/services/platform/metrics"
	"github.com/kafkakit/kit/services/platform/stream"
	"github.com/kafkakit/kit/services/platform/svc"
	"github.com/kafkakit/kit/services/platform/tail"
	"github.com/kafkakit/kit/services/platform/tracing"
)

// NewServer returns the notifications API: the whole surface, and
// everything a request passes through on its way to a route, are listed
// here. Unfiltered /flow is an admin view (every user's orders), as is
// /consumers (it names the consumers' hosts); /debug/vars is served on
// DEBUG_ADDR only.
func NewServer(log *slog.Logger, history *History, flow *Flow, consumers *Consumers, ready httpx.Check, cfg config,
	edge *svc.Edge, m *metrics.Metrics, tr *tracing.Tracing) http.Handler {
	streams := newStreamLimiter(cfg.Streams)
	sc := streamConfig{Heartbeat: cfg.Heartbeat, WriteTimeout: cfg.WriteTimeout, UnknownOrderWait: cfg.UnknownOrderWait,
		Sent: m.SSE(streams.Open), Tracing: tr}
	mux := http.NewServeMux()
	mux.Handle("GET /events", streams.Limit(handleOrderEvents(log, history, sc)))
	mux.Handle("GET /flow", streams.Limit(handleFlow(log, flow, sc)))
	mux.Handle("GET /consumers", httpx.AdminOnly(handleConsumers(consumers)))
	mux.Handle("GET /healthz", httpx.Health())
	mux.Handle("GET /readyz", httpx.Ready(map[string]httpx.Check{"statusHistory": ready}))
	mux.Handle("GET /metrics", m.Handler())
	return httpx.Chain(httpx.API(mux), // CORS; the router's 404 and 405 as JSON
		edge.Draining, // /readyz 503 once a shutdown began
		edge.Guard,    // Host allow-list, admin policy (/flow unfiltered, /consumers)
		tr.HTTP,       // a server span per request, named by its route
		m.HTTP,        // requests and latency by route
	)
}

// subscriptions lists what notifications-api reads. Every instance reads
// every partition, with no consumer group: a browser's stream may land on
// any instance, so each must see every order.
//   - orders.status, from its first record, always: recordStatus feeds the
//     status streams (GET /events) and the event flow.
//   - every other kit topic, and every topic's dead letters, from the
//     recent records on, while someone watches the flow (run hands these
//     tails to FlowTails.Run, whose Watch the flow calls): flow.Add feeds
//     the event flow (GET /flow).
//
// The Consumers panel (GET /consumers) reads no topic: Consumers describes
// the groups through the admin API.
func subscriptions(cfg config, log *slog.Logger, history *History, flow *Flow, tr *tracing.Tracing,
	decodeStatus func(context.Context, kafka.Message) (events.OrderStatus, error), consumed func(time.Duration)) (statuses *tail.Tail, flowTails []*tail.Tail) {
	fromFirst := func(first, end int64) int64 { return first }
	recent := func(first, end int64) int64 { return max(first, end-int64(cfg.FlowRecords)) }
	statuses = &tail.Tail{Brokers: cfg.Brokers, Dialer: cfg.Kafka.Dialer(), Topic: events.TopicOrdersStatus, Start: fromFirst, Log: log,
		Handle: recordStatus(log, history, flow, tr, decodeStatus, consumed)}
	for _, topic := range events.Topics {
		if topic != events.TopicOrdersStatus {
			flowTails = append(flowTails, &tail.Tail{Brokers: cfg.Brokers, Dialer: cfg.Kafka.Dialer(), Topic: topic, Start: recent, Log: log, Handle: flow.Add})
		}
		flowTails = append(flowTails, &tail.Tail{Brokers: cfg.Brokers, Dialer: cfg.Kafka.Dialer(), Topic: events.DLQ(topic), Start: recent, Log: log, Handle: flow.Add})
	}
	return statuses, flowTails
}

// recordStatus is the handler of orders.status: each record goes to the
// event flow, and each order status to the history the status streams
// follow. A record that is not an order status is skipped, not fatal: the
// streams carry on with the orders that are.
func recordStatus(log *slog.Logger, history *History, flow *Flow, tr *tracing.Tracing,
	decodeStatus func(context.Context, kafka.Message) (events.OrderStatus, error), consumed func(time.Duration)) func(kafka.Message) {
	return func(m kafka.Message) {
		began := time.Now()
		_, span := tr.StartConsume(context.Background(), m, "")
		defer func() { span.End(); consumed(time.Since(began)) }()
		flow.Add(m)
		s, err := readStatus(decodeStatus, m)
		if err != nil {
			log.Warn("skipping a record that is not an order status", "partition", m.Partition, "offset", m.Offset, "err", err)
			return
		}
		if history.AddTraced(s, span.SpanContext()) {
			log.Debug("status", "orderId", s.OrderID, "status", s.Status)
		}
	}
}

// readStatus decodes a framed status, waiting out a registry that does not
// answer (the status would otherwise never reach its subscribers) for up to
// half a minute, then giving up on it with the reason.
func readStatus(decode func(context.Context, kafka.Message) (events.OrderStatus, error), m kafka.Message) (events.OrderStatus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		s, err := decode(ctx, m)
		if err == nil || stream.IsPermanent(err) {
			return s, err
		}
		select {
		case <-ctx.Done():
			return s, err
		case <-time.After(wait):
		}
	}
}
