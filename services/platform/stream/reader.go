package stream

import (
	"context"
	"errors"
	"sync/atomic"
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

// GroupReader is a kafka-go consumer-group reader with the kit's settings
// and a readiness check that reports whether it has joined its group.
type GroupReader struct {
	*kafka.Reader
	joins atomic.Int64
}

// NewGroupReader joins group on topic. A new group starts at the earliest
// offset, so orders placed before the first start are not skipped. Commits
// are synchronous (CommitInterval 0): CommitMessages returns once the
// coordinator stored the offset, which is what at-least-once needs.
func NewGroupReader(brokers []string, group string, topics ...string) *GroupReader {
	return &GroupReader{Reader: kafka.NewReader(kafka.ReaderConfig{
		Brokers:           brokers,
		GroupID:           group,
		GroupTopics:       topics,
		StartOffset:       kafka.FirstOffset,
		MinBytes:          1,
		MaxBytes:          10 << 20,
		MaxWait:           MaxWait,
		ReadBatchTimeout:  2 * time.Second,
		QueueCapacity:     1000,
		CommitInterval:    0,
		HeartbeatInterval: time.Second,
		SessionTimeout:    6 * time.Second, // the broker's minimum: a crashed member is replaced sooner
		RebalanceTimeout:  10 * time.Second,
		JoinGroupBackoff:  500 * time.Millisecond,
		ReadBackoffMin:    ReadBackoffMin,
		ReadBackoffMax:    time.Second,
		MaxAttempts:       5,
	})}
}

// Joined is a readiness check: nil once the reader has been assigned
// partitions by the group coordinator at least once.
func (r *GroupReader) Joined(context.Context) error {
	// Stats resets its counters on every call, so keep the running total.
	if r.joins.Add(r.Stats().Rebalances) > 0 {
		return nil
	}
	return errors.New("consumer has not joined its group yet")
}
