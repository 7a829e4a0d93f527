package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/inspect"
	"github.com/kafkakit/kit/services/platform/metrics"
	"github.com/kafkakit/kit/services/platform/schemaid"
	"github.com/kafkakit/kit/services/platform/stream"
	"github.com/kafkakit/kit/services/platform/svc"
	"github.com/kafkakit/kit/services/platform/tracing"
)

type config struct {
	svc.Common
	HTTPAddr string
	// History bounds the statuses kept in memory, and the streams waiting
	// for orders without any.
	History HistoryLimits
	// FlowRecords is how many recent records the event flow keeps.
	FlowRecords int
	// FlowIdle is how long the flow's tails run after its last watcher
	// left.
	FlowIdle     time.Duration
	Heartbeat    time.Duration
	WriteTimeout time.Duration
	// UnknownOrderWait is how long a stream waits for an order's first
	// status before it ends with an "unknown" event.
	UnknownOrderWait time.Duration
	Streams          StreamCaps
}

func loadConfig(getenv func(string) string) (config, error) {
	env := svc.NewEnv(getenv)
	cfg := config{
		Common:   env.Common(),
		HTTPAddr: env.ListenAddr("HTTP_ADDR", ":8083"),
		History: HistoryLimits{
			Orders:         env.Int("HISTORY_ORDERS", 100_000, 1),
			MaxAge:         env.PositiveDuration("HISTORY_MAX_AGE", 24*time.Hour),
			UnknownStreams: env.Int("UNKNOWN_ORDER_STREAMS", 15_000, 1),
		},
		FlowRecords:      env.Int("FLOW_RECORDS", 500, 1),
		FlowIdle:         env.PositiveDuration("FLOW_IDLE", 2*time.Minute),
		Heartbeat:        env.PositiveDuration("SSE_HEARTBEAT", 15*time.Second),
		WriteTimeout:     env.PositiveDuration("SSE_WRITE_TIMEOUT", 10*time.Second),
		UnknownOrderWait: env.PositiveDuration("UNKNOWN_ORDER_WAIT", 2*time.Minute),
		Streams: StreamCaps{
			Total:          env.Int("SSE_MAX_STREAMS", 20_000, 1),
			PerClient:      env.Int("SSE_MAX_STREAMS_PER_CLIENT", 100, 1),
			TrustedProxies: env.Prefixes("TRUSTED_PROXIES"),
		},
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
	m := metrics.New("notifications-api")
	tr, err := tracing.Setup(ctx, "notifications-api", cfg.OTLPEndpoint)
	if err != nil {
		return err
	}
	defer tr.Close()
	ids, err := schemaid.New(cfg.RegistryURL)
	if err != nil {
		return fmt.Errorf("config: SCHEMA_REGISTRY_URL: %w", err)
	}
	decodeStatus, err := stream.ReadFramed[events.OrderStatus](ids, events.TopicOrdersStatus)
	if err != nil {
		return err
	}
	edge, err := svc.NewEdge(cfg.HTTP("notifications-api"))
	if err != nil {
		return err
	}
	history := NewHistory(cfg.History)
	flowWatch := NewFlowTails(cfg.FlowIdle)
	flow := NewFlow(cfg.FlowRecords, ids, flowWatch.Watch)
	statuses, flowTails := subscriptions(cfg, log, history, flow, tr, decodeStatus, m.Consumed(events.TopicOrdersStatus))

	groups := inspect.New(cfg.Brokers, cfg.Kafka.Dialer())
	defer groups.Close()
	consumers := NewConsumers(groups, time.Second, log)

	ln, err := svc.Listen(log, cfg.HTTPAddr)
	if err != nil {
		return err
	}
	h := NewServer(log, history, flow, consumers, statuses.Ready, cfg, edge, m, tr)
	return svc.Run(ctx,
		func(ctx context.Context) error { return svc.Serve(ctx, ln, h, edge) },
		statuses.Run,
		func(ctx context.Context) error { return flowWatch.Run(ctx, flowTails...) },
		consumers.Run,
		func(ctx context.Context) error {
			m.WatchLag(ctx, cfg.Brokers, cfg.Kafka.Dialer(), "", statuses.Positions)
			return nil
		},
		func(ctx context.Context) error { sweep(ctx, history, cfg.History.MaxAge); return nil },
	)
}

// sweep forgets orders past their age while no status arrives to do it.
func sweep(ctx context.Context, history *History, maxAge time.Duration) {
	t := time.NewTicker(min(maxAge, time.Minute))
	defer t.Stop()
	for {
		select {
		case <-t.C:
			history.Sweep()
		case <-ctx.Done():
			return
		}
	}
}
