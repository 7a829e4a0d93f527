package main

import (
	"context"
	"io"
	"net/http"
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

// Group is the consumer group of every processor instance: they share the
// partitions of orders.created between them.
const Group = "orders-processor-cg"

type config struct {
	svc.Common
	HTTPAddr string
	Payment  PaymentRule
	// PaymentDelay simulates the payment provider between PROCESSING and the
	// final status, so the demo is visible; 0 for benchmarks.
	PaymentDelay time.Duration
	MaxInFlight  int
}

func loadConfig(getenv func(string) string) (config, error) {
	env := svc.NewEnv(getenv)
	cfg := config{
		Common:       env.Common(),
		HTTPAddr:     env.String("HTTP_ADDR", ":8082"),
		Payment:      PaymentRule{Limit: env.Float("PAYMENT_LIMIT", 1000)},
		PaymentDelay: env.Duration("PAYMENT_DELAY", 500*time.Millisecond),
		MaxInFlight:  env.Int("MAX_IN_FLIGHT", 512, 1),
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

	statuses := stream.NewWriter(cfg.Brokers, cfg.StatusTopic, stream.WriterConfig{BatchTimeout: cfg.BatchTimeout})
	defer statuses.Close()
	p := &Processor{Statuses: statuses, Rule: cfg.Payment, Delay: cfg.PaymentDelay, Log: log, Now: time.Now}
	consumer, err := stream.NewConsumer(stream.ConsumerConfig{
		Brokers: cfg.Brokers, Group: Group, Topic: cfg.OrdersTopic, Contract: events.TopicOrdersCreated,
		BatchTimeout: cfg.BatchTimeout, MaxInFlight: cfg.MaxInFlight, Log: log,
	}, p.Handle)
	if err != nil {
		return err
	}
	defer consumer.Close()

	ln, err := svc.Listen(log, cfg.HTTPAddr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", httpx.Health())
	mux.Handle("GET /readyz", httpx.Ready(map[string]httpx.Check{
		"topics":   stream.Routable(cfg.Brokers, statuses, cfg.OrdersTopic, cfg.StatusTopic),
		"consumer": consumer.Joined,
	}))

	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return svc.Serve(ctx, ln, httpx.CORS(mux)) })
	g.Go(func() error { return consumer.Run(ctx) })
	return g.Wait()
}
