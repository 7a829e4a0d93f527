package stream

import (
	"context"
	"errors"
	"sync"
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
func newKafkaGroup(brokers []string, dialer *kafka.Dialer, group string, topics []string) (*kafkaGroup, error) {
	g := &kafkaGroup{cfg: kafka.ConsumerGroupConfig{
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
	}}
	cg, err := kafka.NewConsumerGroup(g.cfg)
	if err != nil {
		return nil, err
	}
	g.cg = cg
	return g, nil
}

// kafkaGroup is a kafka.ConsumerGroup that starts over from the next
// bootstrap broker when joining fails. kafka-go asks the first bootstrap
// broker it can connect to which broker coordinates the group, and only that
// one, for the group's whole life: a broker that accepts connections and
// then answers nothing — a proxy in front of a broker that died, a broker
// shutting down — would keep the member out of its group for as long as it
// stays first in the list. A failed join has already left the group
// (kafka-go drops the member id), so starting over loses nothing.
type kafkaGroup struct {
	cfg kafka.ConsumerGroupConfig

	mu     sync.Mutex
	cg     *kafka.ConsumerGroup
	closed bool
}

func (g *kafkaGroup) current() *kafka.ConsumerGroup {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.cg
}

func (g *kafkaGroup) Next(ctx context.Context) (generation, error) {
	cg := g.current()
	gen, err := cg.Next(ctx)
	if err == nil {
		return kafkaGeneration{gen}, nil
	}
	if ctx.Err() == nil && !errors.Is(err, kafka.ErrGroupClosed) && !errors.Is(err, kafka.RebalanceInProgress) {
		g.rotate(cg)
	}
	return nil, err
}

// rotate replaces failed, if it is still the current group, by a group that
// bootstraps from the next broker in the list.
func (g *kafkaGroup) rotate(failed *kafka.ConsumerGroup) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed || g.cg != failed || len(g.cfg.Brokers) < 2 {
		return
	}
	cfg := g.cfg
	cfg.Brokers = append(append([]string{}, g.cfg.Brokers[1:]...), g.cfg.Brokers[0])
	next, err := kafka.NewConsumerGroup(cfg)
	if err != nil {
		return // the config was valid a moment ago; keep the one we have
	}
	_ = failed.Close()
	g.cfg, g.cg = cfg, next
}

func (g *kafkaGroup) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	return g.cg.Close()
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
