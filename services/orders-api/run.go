package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/kafkakit/kit/services/platform/stream"
	"github.com/kafkakit/kit/services/platform/svc"
)

type config struct {
	svc.Common
	HTTPAddr string
	// ProduceTimeout bounds how long a request waits for the broker's
	// acknowledgement before answering 503.
	ProduceTimeout time.Duration
}

func loadConfig(getenv func(string) string) (config, error) {
	env := svc.NewEnv(getenv)
	cfg := config{
		Common:         env.Common(),
		HTTPAddr:       env.String("HTTP_ADDR", ":8081"),
		ProduceTimeout: env.Duration("PRODUCE_TIMEOUT", 5*time.Second),
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
	log := svc.NewLogger(stderr, "orders-api", cfg.LogLevel)
	svc.Debug(log, cfg.DebugAddr)

	writer := stream.NewWriter(cfg.Brokers, cfg.OrdersTopic, stream.WriterConfig{
		BatchTimeout: cfg.BatchTimeout, WriteTimeout: cfg.ProduceTimeout,
	})
	defer writer.Close()

	ln, err := svc.Listen(log, cfg.HTTPAddr)
	if err != nil {
		return err
	}
	ready := stream.Routable(cfg.Brokers, writer, cfg.OrdersTopic)
	return svc.Serve(ctx, ln, NewServer(log, writer, ready, cfg.ProduceTimeout))
}
