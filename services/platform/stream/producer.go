// Package stream configures kafka-go for the kit's delivery rules: producers
// wait for every in-sync replica and partition by key; consumers fetch, apply
// the effect, then commit, with retries and dead-lettering wrapped around a
// handler that holds only domain logic.
package stream

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
)

// WriterConfig tunes a producer. The zero value is the kit's default.
type WriterConfig struct {
	// BatchTimeout bounds how long a record waits for a batch to fill.
	// kafka-go's default of 1 s would add a second to every synchronous
	// write; a millisecond keeps latency low while concurrent writes still
	// share batches.
	BatchTimeout time.Duration
	// BatchSize caps the records in one produce request per partition.
	BatchSize int
	// WriteTimeout bounds one produce request.
	WriteTimeout time.Duration
	// MaxAttempts is how often kafka-go tries a batch before giving up.
	MaxAttempts int
}

// NewWriter returns a producer for brokers that acknowledges a write only
// once every in-sync replica has it, and sends records with one key to one
// partition (murmur2, as Java clients and Kafka UI do) so per-key order holds.
// topic may be empty when every message names its own topic (the DLQ writer).
func NewWriter(brokers []string, topic string, cfg WriterConfig) *kafka.Writer {
	if cfg.BatchTimeout == 0 {
		cfg.BatchTimeout = time.Millisecond
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = 1000
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = 5 * time.Second
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = 5
	}
	return &kafka.Writer{
		Addr:                   kafka.TCP(brokers...),
		Topic:                  topic,
		Balancer:               &kafka.Murmur2Balancer{},
		RequiredAcks:           kafka.RequireAll,
		BatchTimeout:           cfg.BatchTimeout,
		BatchSize:              cfg.BatchSize,
		WriteTimeout:           cfg.WriteTimeout,
		ReadTimeout:            cfg.WriteTimeout,
		MaxAttempts:            cfg.MaxAttempts,
		WriteBackoffMin:        50 * time.Millisecond,
		WriteBackoffMax:        time.Second,
		AllowAutoTopicCreation: false,
		Transport: &kafka.Transport{
			DialTimeout: 3 * time.Second,
			IdleTimeout: 5 * time.Minute,
			// kafka-go refreshes metadata only on this timer (at a random
			// point within it), never because a write failed, so this
			// bounds how long a writer keeps routing by a stale view
			// after a broker restart or a leader change. One small
			// request a second is nothing to a broker.
			MetadataTTL: 2 * time.Second,
		},
	}
}

// Routable is a readiness check: nil while one of brokers answers and w can
// route a record to every partition of each topic, as w itself sees the
// cluster.
//
// kafka-go's writer routes from its transport's cached metadata and does not
// refresh it when a write fails, so after a broker restart it can hold
// "unknown topic" (a restarted broker answers metadata before it knows its
// topics) until the next refresh; a write then fails at once. Asking that
// cache, rather than a fresh connection, makes /readyz say so instead of
// answering ready while every order would be refused. The cache also
// outlives a broker that went away, hence the live dial first.
func Routable(brokers []string, w *kafka.Writer, topics ...string) func(context.Context) error {
	client := &kafka.Client{Addr: w.Addr, Transport: w.Transport, Timeout: 3 * time.Second}
	return func(ctx context.Context) error {
		if err := reachable(ctx, brokers); err != nil {
			return err
		}
		resp, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
		if err != nil {
			return fmt.Errorf("broker metadata: %w", err)
		}
		return unroutable(resp.Topics)
	}
}

// reachable reports whether one of brokers accepts a connection and answers
// an ApiVersions request.
func reachable(ctx context.Context, brokers []string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var errs []error
	for _, addr := range brokers {
		conn, err := (&kafka.Dialer{}).DialContext(ctx, "tcp", addr)
		if err == nil {
			_, err = conn.ApiVersions()
			conn.Close()
		}
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return fmt.Errorf("broker unreachable: %w", errors.Join(errs...))
}

// unroutable names each topic that is missing or has a partition without a
// leader in a metadata answer.
func unroutable(topics []kafka.Topic) error {
	var problems []string
	for _, t := range topics {
		switch {
		case t.Error != nil:
			problems = append(problems, fmt.Sprintf("%s: %v", t.Name, t.Error))
		case len(t.Partitions) == 0:
			problems = append(problems, t.Name+": no partitions")
		default:
			for _, p := range t.Partitions {
				if p.Error != nil || p.Leader.ID < 0 {
					problems = append(problems, fmt.Sprintf("%s/%d: no leader (%v)", t.Name, p.ID, p.Error))
				}
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("cannot route to %s", strings.Join(problems, "; "))
	}
	return nil
}
