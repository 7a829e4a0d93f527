package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

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
	client, err := kgo.NewClient(append(ClientOpts(b), kgo.SeedBrokers(b.Addrs()...))...)
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
		err := everyBrokerLeads(ctx, client, topics)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topics on %s have no leaders yet: %w", b.Name(), errors.Join(err, ctx.Err()))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// everyBrokerLeads asks each broker of the cluster in turn, not just any
// one, whether it knows a leader for every partition of topics. The
// controller tells brokers about a new topic one by one; a client that
// bootstraps from one still in the dark sees the topic as unknown.
func everyBrokerLeads(ctx context.Context, client *kgo.Client, topics []Topic) error {
	names := make([]string, len(topics))
	for i, t := range topics {
		names[i] = t.Name
	}
	md, err := kadm.NewClient(client).Metadata(ctx, names...)
	if err != nil {
		return err
	}
	if len(md.Brokers) == 0 {
		return errors.New("no brokers in the metadata")
	}
	for _, b := range md.Brokers {
		req := kmsg.NewPtrMetadataRequest()
		for _, name := range names {
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(name)
			req.Topics = append(req.Topics, rt)
		}
		resp, err := client.Broker(int(b.NodeID)).Request(ctx, req)
		if err != nil {
			return fmt.Errorf("broker %d: %w", b.NodeID, err)
		}
		if !Led(resp.(*kmsg.MetadataResponse), topics, 1) {
			return fmt.Errorf("broker %d does not know a leader for every partition yet", b.NodeID)
		}
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
