// Package stream configures kafka-go for the kit's delivery rules: producers
// wait for every in-sync replica and partition by key; consumers fetch, apply
// the effect, then commit, with retries and dead-lettering wrapped around a
// handler that holds only domain logic.
package stream

import (
	"context"
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
			MetadataTTL: 10 * time.Second,
		},
	}
}

// CheckTopics returns an error naming every topic that brokers do not have.
// Services use it in /readyz: the kit never relies on auto-creation.
func CheckTopics(ctx context.Context, brokers []string, topics ...string) error {
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 3 * time.Second}
	resp, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return fmt.Errorf("metadata from %s: %w", strings.Join(brokers, ","), err)
	}
	var missing []string
	for _, t := range resp.Topics {
		if t.Error != nil || len(t.Partitions) == 0 {
			missing = append(missing, t.Name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("topics missing: %s", strings.Join(missing, ", "))
	}
	return nil
}
