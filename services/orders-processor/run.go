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
	"github.com/kafkakit/kit/services/platform/httpx"
	"github.com/kafkakit/kit/services/platform/metrics"
	"github.com/kafkakit/kit/services/platform/outbox"
	"github.com/kafkakit/kit/services/platform/sqldb"
	"github.com/kafkakit/kit/services/platform/stream"
	"github.com/kafkakit/kit/services/platform/svc"
	"github.com/kafkakit/kit/services/platform/tracing"
)

type config struct {
	svc.Common
	HTTPAddr string
	// DSN is the ledger's database (answered orders and the outbox).
	DSN     string
	Payment PaymentRule
	// PaymentDelay simulates the payment provider between PROCESSING and the
	// final status, so the demo is visible; 0 for benchmarks.
	PaymentDelay time.Duration
	MaxInFlight  int
}

func loadConfig(getenv func(string) string) (config, error) {
	env := svc.NewEnv(getenv)
	cfg := config{
		Common:       env.Common(),
		HTTPAddr:     env.ListenAddr("HTTP_ADDR", ":8082"),
		DSN:          env.String("DB_DSN", "orders-processor.db"),
		Payment:      PaymentRule{Limit: env.Float("PAYMENT_LIMIT", 1000)},
		PaymentDelay: env.Duration("PAYMENT_DELAY", 500*time.Millisecond),
		MaxInFlight:  env.Int("MAX_IN_FLIGHT", 512, 1),
	}
	if _, err := sqldb.Kind(cfg.DSN); err != nil {
		return cfg, fmt.Errorf("config: DB_DSN: %w", err)
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
	svc.DefaultGCPercent(getenv, 400)
	log := svc.NewLogger(stderr, "orders-processor", cfg.LogLevel)
	svc.Debug(log, cfg.DebugAddr)
	m := metrics.New("orders-processor")
	tr, err := tracing.Setup(ctx, "orders-processor", cfg.OTLPEndpoint)
	if err != nil {
		return err
	}
	defer tr.Close()

	ids, framer, err := cfg.Schemas(events.TopicOrdersStatus)
	if err != nil {
		return err
	}
	edge, err := svc.NewEdge(cfg.HTTP("orders-processor"))
	if err != nil {
		return err
	}
	writer := stream.NewProducer(cfg.Brokers, "", stream.ProducerConfig{Dialer: cfg.Kafka.Dialer(), Framer: framer})
	defer writer.Close()
	db, err := sqldb.Open(ctx, cfg.DSN)
	if err != nil {
		return err
	}
	ob := outbox.New(db)
	relay := outbox.NewRelay(ob, m.Producer(writer, ""), log)
	relay.Principal = cfg.Kafka.Username // named in /readyz when an ACL refuses a topic
	ledger, err := OpenLedger(ctx, db, ob, events.TopicOrdersStatus, relay.Committed)
	if err != nil {
		return err
	}
	defer ledger.Close()
	p := &Processor{Statuses: ledger, Rule: cfg.Payment, Delay: cfg.PaymentDelay, Log: log, Now: time.Now}
	consumer, err := stream.NewConsumer(stream.ConsumerConfig{
		Brokers: cfg.Brokers, Dialer: cfg.Kafka.Dialer(), Principal: cfg.Kafka.Username, Group: events.GroupOrdersProcessor, Schemas: ids,
		MaxInFlight: cfg.MaxInFlight, Log: log,
		Observe: m.Observe(events.GroupOrdersProcessor), Middleware: []func(stream.Handler) stream.Handler{tr.Consumer(events.GroupOrdersProcessor)},
	}, subscriptions(p)...)
	if err != nil {
		return err
	}
	defer consumer.Close()

	ln, err := svc.Listen(log, cfg.HTTPAddr)
	if err != nil {
		return err
	}
	checks := map[string]httpx.Check{
		"topics":     httpx.CachedCheck(ctx, log, time.Second, stream.Routable(cfg.Brokers, writer, events.TopicStockReservations, events.TopicOrdersStatus)),
		"consumer":   consumer.Joined,
		"partitions": consumer.Stuck,
		"database":   ledger.Ping,
		"outbox":     relay.Ready,
		"schemas":    httpx.CachedCheck(ctx, log, time.Second, framer.Ready),
	}
	// Shutdown order: HTTP stops and the consumer drains (both in Run);
	// the relay keeps producing until then, so what the drain committed is
	// sent too, for at most its own drain.
	stopRelay := relay.Start(ctx)
	defer stopRelay()
	h := NewServer(checks, edge, m, tr)
	return svc.Run(ctx,
		func(ctx context.Context) error { return svc.Serve(ctx, ln, h, edge) },
		consumer.Run,
		func(ctx context.Context) error { m.WatchOutbox(ctx, ob.Backlog); return nil },
		func(ctx context.Context) error {
			m.WatchLag(ctx, cfg.Brokers, cfg.Kafka.Dialer(), events.GroupOrdersProcessor, metrics.Assigned(consumer))
			return nil
		},
	)
}
