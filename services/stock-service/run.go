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
	HTTPAddr    string
	DSN         string
	MaxInFlight int
}

func loadConfig(getenv func(string) string) (config, error) {
	env := svc.NewEnv(getenv)
	cfg := config{
		Common:      env.Common(),
		HTTPAddr:    env.ListenAddr("HTTP_ADDR", ":8084"),
		DSN:         env.String("DB_DSN", "stock.db"),
		MaxInFlight: env.Int("MAX_IN_FLIGHT", 256, 1),
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
	log := svc.NewLogger(stderr, "stock-service", cfg.LogLevel)
	svc.Debug(log, cfg.DebugAddr)
	m := metrics.New("stock-service")
	tr, err := tracing.Setup(ctx, "stock-service", cfg.OTLPEndpoint)
	if err != nil {
		return err
	}
	defer tr.Close()

	ids, framer, err := cfg.Schemas(events.TopicStockReservations, events.TopicInventoryUpdated)
	if err != nil {
		return err
	}
	edge, err := svc.NewEdge(cfg.HTTP("stock-service"))
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
	store, err := OpenStore(ctx, db, ob, Topics{Reservations: events.TopicStockReservations, Inventory: events.TopicInventoryUpdated}, relay.Committed)
	if err != nil {
		return err
	}
	defer store.Close()

	routes := subscriptions(store, log)
	topics := make([]string, len(routes))
	for i, r := range routes {
		topics[i] = r.Topic
	}
	consumer, err := stream.NewConsumer(stream.ConsumerConfig{
		Brokers: cfg.Brokers, Dialer: cfg.Kafka.Dialer(), Principal: cfg.Kafka.Username, Group: events.GroupStockService, Schemas: ids,
		MaxInFlight: cfg.MaxInFlight, Log: log,
		Observe: m.Observe(events.GroupStockService), Middleware: []func(stream.Handler) stream.Handler{tr.Consumer(events.GroupStockService)},
	}, routes...)
	if err != nil {
		return err
	}
	defer consumer.Close()

	ln, err := svc.Listen(log, cfg.HTTPAddr)
	if err != nil {
		return err
	}
	checks := map[string]httpx.Check{
		"topics":     httpx.CachedCheck(ctx, log, time.Second, stream.Routable(cfg.Brokers, writer, append(topics, events.TopicStockReservations, events.TopicInventoryUpdated)...)),
		"consumer":   consumer.Joined,
		"partitions": consumer.Stuck,
		"database":   store.Ping,
		"outbox":     relay.Ready,
		"schemas":    httpx.CachedCheck(ctx, log, time.Second, framer.Ready),
	}
	// Shutdown order: HTTP stops and the consumer drains (both in Run);
	// the relay keeps producing until then, so what the drain committed is
	// sent too, for at most its own drain.
	stopRelay := relay.Start(ctx)
	defer stopRelay()
	h := NewServer(log, store, checks, edge, m, tr)
	return svc.Run(ctx,
		func(ctx context.Context) error { return svc.Serve(ctx, ln, h, edge) },
		consumer.Run, // a consumer that failed for good takes the service down
		func(ctx context.Context) error { m.WatchOutbox(ctx, ob.Backlog); return nil },
		func(ctx context.Context) error {
			m.WatchLag(ctx, cfg.Brokers, cfg.Kafka.Dialer(), events.GroupStockService, metrics.Assigned(consumer))
			return nil
		},
	)
}
