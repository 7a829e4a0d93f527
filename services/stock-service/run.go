package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/httpx"
	"github.com/kafkakit/kit/services/platform/stream"
	"github.com/kafkakit/kit/services/platform/svc"
)

// Group is the consumer group of every stock-service instance.
const Group = "stock-service-cg"

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
		HTTPAddr:    env.String("HTTP_ADDR", ":8084"),
		DSN:         env.String("DB_DSN", "stock.db"),
		MaxInFlight: env.Int("MAX_IN_FLIGHT", 256, 1),
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

	store, err := OpenStore(ctx, cfg.DSN)
	if err != nil {
		return err
	}
	defer store.Close()
	inventory := stream.NewWriter(cfg.Brokers, cfg.InventoryTopic, stream.WriterConfig{BatchTimeout: cfg.BatchTimeout})
	defer inventory.Close()
	relay := NewRelay(store, inventory, log)
	consumer, err := stream.NewConsumer(stream.ConsumerConfig{
		Brokers: cfg.Brokers, Group: Group, Topic: cfg.OrdersTopic, Contract: events.TopicOrdersCreated,
		BatchTimeout: cfg.BatchTimeout, MaxInFlight: cfg.MaxInFlight, Log: log,
	}, takeStock(store, relay, log))
	if err != nil {
		return err
	}
	defer consumer.Close()

	ln, err := svc.Listen(log, cfg.HTTPAddr)
	if err != nil {
		return err
	}
	checks := map[string]httpx.Check{
		"topics":   stream.Routable(cfg.Brokers, inventory, cfg.OrdersTopic, cfg.InventoryTopic),
		"consumer": consumer.Joined,
	}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return svc.Serve(ctx, ln, NewServer(log, store, checks)) })
	g.Go(func() error { return consumer.Run(ctx) })
	g.Go(func() error { return relay.Run(ctx) })
	return g.Wait()
}

// takeStock is the handler for orders.created.
func takeStock(store *Store, relay *Relay, log *slog.Logger) func(context.Context, events.OrderCreated) error {
	return func(ctx context.Context, o events.OrderCreated) error {
		out, duplicate, err := store.Apply(ctx, o, time.Now())
		if err != nil {
			return err
		}
		log := log.With("orderId", o.OrderID)
		switch {
		case duplicate:
			log.Info("order already processed; nothing changed", "result", out.Result)
		case out.Result == Rejected:
			log.Warn("order cannot be filled; stock unchanged", "reason", out.Reason)
		default:
			log.Info("stock taken", "items", len(o.Items))
			relay.Kick()
		}
		return nil
	}
}
