package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
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
	// DSN is the orders database: a SQLite file (default) or postgres://.
	DSN string
	// ProduceTimeout bounds one produce request of the outbox relay.
	ProduceTimeout time.Duration
	// IdempotencyTTL is how long an Idempotency-Key is remembered.
	IdempotencyTTL time.Duration
}

// minIdempotencyTTL is the shortest IDEMPOTENCY_TTL: keys are pruned every
// quarter of it, and a TTL of nanoseconds would make that a DELETE loop
// without a pause.
const minIdempotencyTTL = time.Second

func loadConfig(getenv func(string) string) (config, error) {
	env := svc.NewEnv(getenv)
	cfg := config{
		Common:         env.Common(),
		HTTPAddr:       env.ListenAddr("HTTP_ADDR", ":8081"),
		DSN:            env.String("DB_DSN", "orders.db"),
		ProduceTimeout: env.PositiveDuration("PRODUCE_TIMEOUT", 5*time.Second),
		IdempotencyTTL: env.DurationAtLeast("IDEMPOTENCY_TTL", 24*time.Hour, minIdempotencyTTL),
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
	log := svc.NewLogger(stderr, "orders-api", cfg.LogLevel)
	svc.Debug(log, cfg.DebugAddr)
	m := metrics.New("orders-api")
	tr, err := tracing.Setup(ctx, "orders-api", cfg.OTLPEndpoint)
	if err != nil {
		return err
	}
	defer tr.Close()

	_, framer, err := cfg.Schemas(events.TopicOrdersCreated)
	if err != nil {
		return err
	}
	edge, err := svc.NewEdge(cfg.HTTP("orders-api"))
	if err != nil {
		return err
	}
	writer := stream.NewProducer(cfg.Brokers, "", stream.ProducerConfig{WriteTimeout: cfg.ProduceTimeout, Dialer: cfg.Kafka.Dialer(), Framer: framer})
	defer writer.Close()
	db, err := sqldb.Open(ctx, cfg.DSN)
	if err != nil {
		return err
	}
	ob := outbox.New(db)
	relay := outbox.NewRelay(ob, m.Producer(writer, ""), log)
	relay.Principal = cfg.Kafka.Username // named in /readyz when an ACL refuses a topic
	store, err := OpenStore(ctx, db, ob, events.TopicOrdersCreated, relay.Committed)
	if err != nil {
		return err
	}
	defer store.Close()

	ln, err := svc.Listen(log, cfg.HTTPAddr)
	if err != nil {
		return err
	}
	checks := map[string]httpx.Check{
		"kafka":    httpx.CachedCheck(ctx, log, time.Second, stream.Routable(cfg.Brokers, writer, events.TopicOrdersCreated)),
		"database": store.Ping,
		"outbox":   relay.Ready,
		"schemas":  httpx.CachedCheck(ctx, log, time.Second, framer.Ready),
	}
	// The relay outlives the HTTP server: what was accepted until the last
	// request is produced (for at most the relay's drain), the rest on the
	// next start.
	stopRelay := relay.Start(ctx)
	defer stopRelay()
	h := NewServer(log, store, checks, edge, m, tr)
	return svc.Run(ctx,
		func(ctx context.Context) error { return svc.Serve(ctx, ln, h, edge) },
		func(ctx context.Context) error { pruneKeys(ctx, log, store, cfg.IdempotencyTTL); return nil },
		func(ctx context.Context) error { m.WatchOutbox(ctx, ob.Backlog); return nil },
	)
}

// pruneKeys forgets idempotency keys older than ttl, checking every few
// minutes, so the table stays as small as the retention promises.
func pruneKeys(ctx context.Context, log *slog.Logger, store *Store, ttl time.Duration) {
	every := min(ttl/4, 10*time.Minute)
	for {
		if n, err := store.PruneKeys(ctx, time.Now().Add(-ttl)); err != nil && ctx.Err() == nil {
			log.Warn("idempotency keys not pruned; trying again later", "err", err)
		} else if n > 0 {
			log.Info("idempotency keys pruned", "count", n, "olderThan", ttl)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}
