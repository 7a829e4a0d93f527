package main

import (
	"context"
	"encoding/json"
	"expvar"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"

	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/httpx"
	"github.com/kafkakit/kit/services/platform/svc"
)

type config struct {
	svc.Common
	HTTPAddr string
	// HistoryOrders bounds how many orders' statuses are kept in memory.
	HistoryOrders int
	// FlowRecords is how many recent records the event flow keeps.
	FlowRecords  int
	Heartbeat    time.Duration
	WriteTimeout time.Duration
}

func loadConfig(getenv func(string) string) (config, error) {
	env := svc.NewEnv(getenv)
	cfg := config{
		Common:        env.Common(),
		HTTPAddr:      env.String("HTTP_ADDR", ":8083"),
		HistoryOrders: env.Int("HISTORY_ORDERS", 100_000, 1),
		FlowRecords:   env.Int("FLOW_RECORDS", 500, 1),
		Heartbeat:     env.Duration("SSE_HEARTBEAT", 15*time.Second),
		WriteTimeout:  env.Duration("SSE_WRITE_TIMEOUT", 10*time.Second),
	}
	return cfg, env.Err()
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	log := svc.NewLogger(stderr, "notifications-api", cfg.LogLevel)
	svc.Debug(log, cfg.DebugAddr)

	history := NewHistory(cfg.HistoryOrders)
	flow := NewFlow(cfg.FlowRecords)
	fromFirst := func(first, end int64) int64 { return first }
	recent := func(first, end int64) int64 { return max(first, end-int64(cfg.FlowRecords)) }
	statuses := &Tail{Brokers: cfg.Brokers, Topic: cfg.StatusTopic, Start: fromFirst, Log: log,
		Handle: func(m kafka.Message) {
			flow.Add(m)
			var s events.OrderStatus
			if err := json.Unmarshal(m.Value, &s); err != nil || s.OrderID == "" {
				log.Warn("skipping a record that is not an order status", "partition", m.Partition, "offset", m.Offset, "err", err)
				return
			}
			if history.Add(s) {
				log.Debug("status", "orderId", s.OrderID, "status", s.Status)
			}
		}}
	tails := []*Tail{
		statuses,
		{Brokers: cfg.Brokers, Topic: cfg.OrdersTopic, Start: recent, Log: log, Handle: flow.Add},
		{Brokers: cfg.Brokers, Topic: cfg.InventoryTopic, Start: recent, Log: log, Handle: flow.Add},
	}

	ln, err := svc.Listen(log, cfg.HTTPAddr)
	if err != nil {
		return err
	}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return svc.Serve(ctx, ln, NewServer(log, history, flow, statuses.Ready, cfg)) })
	for _, t := range tails {
		g.Go(func() error { return t.Run(ctx) })
	}
	return g.Wait()
}

// NewServer returns the notifications API: the whole surface is listed here.
func NewServer(log *slog.Logger, history *History, flow *Flow, ready httpx.Check, cfg config) http.Handler {
	sc := streamConfig{Heartbeat: cfg.Heartbeat, WriteTimeout: cfg.WriteTimeout}
	mux := http.NewServeMux()
	mux.Handle("GET /events", handleOrderEvents(log, history, sc))
	mux.Handle("GET /flow", handleFlow(log, flow, sc))
	mux.Handle("GET /healthz", httpx.Health())
	mux.Handle("GET /readyz", httpx.Ready(map[string]httpx.Check{"statusHistory": ready}))
	mux.Handle("GET /debug/vars", expvar.Handler())
	return httpx.CORS(mux)
}
