package stream

import (
	"context"
	"log/slog"
	"time"
)

// ConsumerConfig says what a typed consumer reads and how.
type ConsumerConfig struct {
	Brokers []string
	Group   string
	Topic   string
	// Contract names the schema in services/events that every record must
	// match (a default topic name such as events.TopicOrdersCreated), so a
	// renamed topic keeps its contract.
	Contract     string
	BatchTimeout time.Duration // of the dead-letter producer
	MaxInFlight  int
	Log          *slog.Logger
}

// NewConsumer joins cfg.Group on cfg.Topic and returns a Consumer that
// checks every record against its contract, decodes it into T, hands it to
// handle and dead-letters what fails the first two. Close it after Run.
func NewConsumer[T any](cfg ConsumerConfig, handle func(context.Context, T) error) (*Consumer, error) {
	schema, err := Schema(cfg.Contract)
	if err != nil {
		return nil, err
	}
	reader := NewGroupReader(cfg.Brokers, cfg.Group, cfg.Topic)
	dlq := NewWriter(cfg.Brokers, "", WriterConfig{BatchTimeout: cfg.BatchTimeout})
	return &Consumer{
		Fetcher:     reader,
		Handler:     JSON(Conforms(schema), handle),
		DLQ:         dlq,
		Group:       cfg.Group,
		Log:         cfg.Log,
		MaxInFlight: cfg.MaxInFlight,
		reader:      reader,
		closers:     []func() error{reader.Close, dlq.Close},
	}, nil
}

// Joined is a readiness check: nil once the consumer's group reader has
// been assigned partitions.
func (c *Consumer) Joined(ctx context.Context) error { return c.reader.Joined(ctx) }

// Close releases what NewConsumer opened.
func (c *Consumer) Close() error {
	var first error
	for _, close := range c.closers {
		if err := close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
