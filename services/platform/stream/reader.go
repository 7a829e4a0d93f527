package stream

import (
	"context"
	"time"

	"github.com/segmentio/kafka-go"
)

// kafka-go gives a fetch a client-side deadline equal to MaxWait, the same
// time the broker may hold an empty fetch, so on an idle partition the
// client often gives up first, drops the connection and waits ReadBackoffMin
// before reconnecting: a record produced in that window waits too (100 ms
// with kafka-go's default). A long MaxWait makes those episodes rare and a
// 1 ms backoff makes them short.
const (
	MaxWait        = time.Second
	ReadBackoffMin = time.Millisecond
)

// Group membership timing. A crashed member is noticed after SessionTimeout
// (the broker's minimum); a live one heartbeats every HeartbeatInterval.
// kafka-go stops heartbeating as soon as a generation ends, so the drain of
// a revoked assignment plus its final commit must fit in what is left of
// the session, or the coordinator drops the member and rejects the commit.
const (
	SessionTimeout    = 6 * time.Second
	HeartbeatInterval = time.Second
	rebalanceTimeout  = 10 * time.Second
	revokeDrain       = 3 * time.Second
)

// memberGroup is the part of *kafka.ConsumerGroup the Consumer uses.
type memberGroup interface {
	// Next blocks until the member is in a new generation. There is never
	// more than one: the next comes only after every function the previous
	// one started has returned.
	Next(ctx context.Context) (generation, error)
	Close() error
}

// generation is one consumer group generation: an assignment of
// partitions and the only way to commit offsets for them.
type generation interface {
	GenerationID() int32
	Member() string
	PartitionAssignments() map[string][]kafka.PartitionAssignment
	// Start runs fn; its ctx ends when the generation does. The member
	// rejoins only once fn has returned.
	Start(fn func(ctx context.Context))
	// CommitOffsets stores, per topic and partition, the next offset to
	// read. The coordinator rejects it once the generation is over.
	CommitOffsets(offsets map[string]map[int]int64) error
}

// partitionFetcher reads one partition forward from an offset.
type partitionFetcher interface {
	FetchMessage(ctx context.Context) (kafka.Message, error)
	Close() error
}

// newKafkaGroup joins group on topics. A new group starts at the earliest
// offset, so orders placed before the first start are not skipped.
func newKafkaGroup(brokers []string, dialer *kafka.Dialer, group string, topics []string) (memberGroup, error) {
	g, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                group,
		Brokers:           brokers,
		Dialer:            dialer,
		Topics:            topics,
		StartOffset:       kafka.FirstOffset,
		HeartbeatInterval: HeartbeatInterval,
		SessionTimeout:    SessionTimeout,
		RebalanceTimeout:  rebalanceTimeout,
		JoinGroupBackoff:  500 * time.Millisecond,
		Timeout:           5 * time.Second,
	})
	if err != nil {
		return nil, err
	}
	return kafkaGroup{g}, nil
}

type kafkaGroup struct{ *kafka.ConsumerGroup }

func (g kafkaGroup) Next(ctx context.Context) (generation, error) {
	gen, err := g.ConsumerGroup.Next(ctx)
	if err != nil {
		return nil, err
	}
	return kafkaGeneration{gen}, nil
}

type kafkaGeneration struct{ *kafka.Generation }

func (g kafkaGeneration) GenerationID() int32 { return g.ID }
func (g kafkaGeneration) Member() string      { return g.MemberID }
func (g kafkaGeneration) PartitionAssignments() map[string][]kafka.PartitionAssignment {
	return g.Assignments
}

// openPartitionReader returns a reader of one partition starting at offset
// (an absolute offset, or kafka.FirstOffset for a partition the group has
// never committed). It retries connection and leader errors by itself and
// reports them from FetchMessage after a few attempts.
func openPartitionReader(brokers []string, dialer *kafka.Dialer) func(topic string, partition int, offset int64) partitionFetcher {
	return func(topic string, partition int, offset int64) partitionFetcher {
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers:          brokers,
			Dialer:           dialer,
			Topic:            topic,
			Partition:        partition,
			MinBytes:         1,
			MaxBytes:         10 << 20,
			MaxWait:          MaxWait,
			ReadBatchTimeout: 2 * time.Second,
			QueueCapacity:    256,
			ReadBackoffMin:   ReadBackoffMin,
			ReadBackoffMax:   time.Second,
			MaxAttempts:      5,
		})
		// SetOffset fails only on a closed reader; this one is new.
		_ = r.SetOffset(offset)
		return r
	}
}
