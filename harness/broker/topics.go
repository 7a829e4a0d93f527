package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkakit/kit/services/events"
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
// returns once every partition has a leader. Each topic is replicated as
// b's ReplicationFactor says when it has one (a cluster: 3), else once.
func CreateTopics(ctx context.Context, b Broker, topics []Topic) error {
	replicas := int16(1)
	if r, ok := b.(replicated); ok {
		replicas = r.ReplicationFactor()
	}
	client, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...))
	if err != nil {
		return err
	}
	defer client.Close()
	adm := kadm.NewClient(client)
	for _, t := range topics {
		resp, err := adm.CreateTopic(ctx, t.Partitions, replicas, nil, t.Name)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s on %s: %w", t.Name, b.Name(), err)
		}
	}
	names := make([]string, len(topics))
	for i, t := range topics {
		names[i] = t.Name
	}
	for {
		md, err := adm.Metadata(ctx, names...)
		if err == nil && AllLed(md, topics) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topics on %s have no leaders yet: %w", b.Name(), errors.Join(err, ctx.Err()))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// replicated is a broker that says how many replicas each topic should have.
type replicated interface {
	ReplicationFactor() int16
}

// AllLed reports whether md has every topic with at least its partitions,
// each with a leader.
func AllLed(md kadm.Metadata, topics []Topic) bool {
	for _, t := range topics {
		td, ok := md.Topics[t.Name]
		if !ok || td.Err != nil || int32(len(td.Partitions)) < t.Partitions {
			return false
		}
		for _, p := range td.Partitions {
			if p.Err != nil || p.Leader < 0 {
				return false
			}
		}
	}
	return true
}
