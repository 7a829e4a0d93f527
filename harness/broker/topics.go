package broker

import (
	"context"
	"fmt"
	"slices"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/topics"
)

// Topic is one topic the kit needs.
type Topic struct {
	Name       string
	Partitions int32
}

// KitTopics are the kit's topics and their dead-letter topics
// (events.Partitions each): created explicitly, because kafka-go's first
// writes fail while a topic is being auto-created.
func KitTopics() []Topic {
	var out []Topic
	for _, name := range events.Topics {
		out = append(out, Topic{name, events.Partitions}, Topic{events.DLQ(name), events.Partitions})
	}
	return out
}

// CreateTopics creates topics on b (those that exist are left alone) and
// returns once every broker of b knows a leader for every partition. Each
// topic is replicated as b's ReplicationFactor says when it has one (a
// cluster: 3), else once. platform's topics.Create does the work, as the
// kit's one topic creator.
func CreateTopics(ctx context.Context, b Broker, want []Topic) error {
	replicas := 1
	if r, ok := b.(replicated); ok {
		replicas = int(r.ReplicationFactor())
	}
	var dialer *kafka.Dialer
	if s, ok := b.(Secured); ok && s.Security() != nil {
		dialer = s.Security().KitDialer()
	}
	specs := make([]topics.Topic, len(want))
	for i, t := range want {
		specs[i] = topics.Topic{Name: t.Name, Partitions: int(t.Partitions)}
	}
	if err := topics.Create(ctx, b.Addrs(), dialer, replicas, specs...); err != nil {
		return fmt.Errorf("%s: %w", b.Name(), err)
	}
	return nil
}

// replicated is a broker that says how many replicas each topic should have.
type replicated interface {
	ReplicationFactor() int16
}

// Led reports whether metadata m has every topic with at least its
// partitions, each with a leader and at least inSync replicas in sync.
func Led(m *kmsg.MetadataResponse, topics []Topic, inSync int) bool {
	for _, want := range topics {
		i := slices.IndexFunc(m.Topics, func(t kmsg.MetadataResponseTopic) bool { return t.Topic != nil && *t.Topic == want.Name })
		if i < 0 || m.Topics[i].ErrorCode != 0 || int32(len(m.Topics[i].Partitions)) < want.Partitions {
			return false
		}
		for _, p := range m.Topics[i].Partitions {
			if p.ErrorCode != 0 || p.Leader < 0 || len(p.ISR) < inSync {
				return false
			}
		}
	}
	return true
}
