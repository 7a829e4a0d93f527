package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// WriteBlocker is a Broker that can itself refuse writes to topics while it
// keeps serving reads (the embedded broker injects the error).
type WriteBlocker interface {
	Broker
	// BlockWrites makes produce requests to topics fail with
	// MESSAGE_TOO_LARGE until unblock is called.
	BlockWrites(topics ...string) (unblock func(), err error)
}

// BlockWrites makes b refuse every write to topics while reads go on:
// producers get MESSAGE_TOO_LARGE, and a relay that keeps its records until
// they are acknowledged keeps them; consumers go on consuming. It is how a
// scenario holds records in a service's outbox (the service commits, its
// relay cannot produce) without stopping the broker. On a real Kafka it
// shrinks the topics' max.message.bytes to one byte and waits until every
// partition leader applies it; unblock restores the previous setting.
// (Raising min.insync.replicas above the replica count would be the natural
// way, but Kafka caps the effective minimum at the replica count.) The
// external broker refuses: it is somebody else's.
func BlockWrites(ctx context.Context, b Broker, topics ...string) (unblock func(context.Context) error, err error) {
	if wb, ok := b.(WriteBlocker); ok {
		undo, err := wb.BlockWrites(topics...)
		if err != nil {
			return nil, err
		}
		return func(context.Context) error { undo(); return nil }, nil
	}
	if b.Name() == "external" {
		return nil, errors.New("the harness does not block writes on an external cluster it did not start")
	}
	client, err := kgo.NewClient(append(ClientOpts(b), kgo.SeedBrokers(b.Addrs()...))...)
	if err != nil {
		return nil, err
	}
	adm := kadm.NewClient(client)
	closeAll := func() { client.Close() }

	md, err := adm.Metadata(ctx, topics...)
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("block writes: metadata: %w", err)
	}
	before, err := topicConfig(ctx, adm, topics)
	if err != nil {
		closeAll()
		return nil, err
	}
	blocked := map[string]string{}
	for _, t := range topics {
		if td, ok := md.Topics[t]; !ok || td.Err != nil || len(td.Partitions) == 0 {
			closeAll()
			return nil, fmt.Errorf("block writes: topic %s is unknown", t)
		}
		blocked[t] = "1"
	}
	if err := setTopicConfig(ctx, adm, blocked); err != nil {
		closeAll()
		return nil, err
	}
	if err := waitRefusing(ctx, client, md, topics, true); err != nil {
		closeAll()
		return nil, err
	}
	return func(ctx context.Context) error {
		defer closeAll()
		if err := setTopicConfig(ctx, adm, before); err != nil {
			return err
		}
		return waitRefusing(ctx, client, md, topics, false)
	}, nil
}

// waitRefusing waits until every partition leader of topics refuses writes
// (refusing) or no longer does. A broker takes a topic config change from
// ZooKeeper a moment after it is stored, and describing the config reads
// ZooKeeper, not the broker; so each leader is asked with a produce it can
// never store: a batch with a wrong checksum. A leader checks a batch's size
// before its checksum, so it answers MESSAGE_TOO_LARGE while writes are
// refused and CORRUPT_MESSAGE once they are not, and writes nothing either
// way.
func waitRefusing(ctx context.Context, client *kgo.Client, md kadm.Metadata, topics []string, refusing bool) error {
	want := kerr.CorruptMessage
	if refusing {
		want = kerr.MessageTooLarge
	}
	batch := corruptBatch()
	for _, t := range topics {
		for _, p := range md.Topics[t].Partitions {
			for {
				got, err := probe(ctx, client, t, p.Partition, p.Leader, batch)
				if err == nil && got == want {
					break
				}
				select {
				case <-ctx.Done():
					return fmt.Errorf("%s/%d answers %v to a probe, want %v: %w", t, p.Partition, got, want, errors.Join(err, ctx.Err()))
				case <-time.After(20 * time.Millisecond):
				}
			}
		}
	}
	return nil
}

// probe sends batch to the leader of topic/partition with acks=all and
// returns the partition's error (nil for none).
func probe(ctx context.Context, client *kgo.Client, topic string, partition, leader int32, batch []byte) (error, error) {
	req := kmsg.NewPtrProduceRequest()
	req.Acks = -1
	req.TimeoutMillis = 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = partition
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, client.Broker(int(leader)))
	if err != nil {
		return nil, err
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			return kerr.ErrorForCode(p.ErrorCode), nil
		}
	}
	return nil, errors.New("empty produce response")
}

// corruptBatch is a batch of one record whose checksum is wrong.
func corruptBatch() []byte {
	rec := kmsg.Record{Key: []byte("probe"), Value: []byte("never stored")}
	rec.Length = int32(len(rec.AppendTo(nil)) - 1) // the length varint of 0 is one byte
	records := rec.AppendTo(nil)
	now := time.Now().UnixMilli()
	b := kmsg.RecordBatch{Magic: 2, CRC: 1, FirstTimestamp: now, MaxTimestamp: now,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: 1, Records: records}
	b.Length = int32(len(b.AppendTo(nil)) - 12) // what follows FirstOffset and Length
	return b.AppendTo(nil)
}

// blockingConfig is the topic config BlockWrites changes.
const blockingConfig = "max.message.bytes"

// topicConfig returns the topics' own blockingConfig; "" means the broker
// default.
func topicConfig(ctx context.Context, adm *kadm.Client, topics []string) (map[string]string, error) {
	rcs, err := adm.DescribeTopicConfigs(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("describe topic configs: %w", err)
	}
	out := map[string]string{}
	for _, rc := range rcs {
		if rc.Err != nil {
			return nil, fmt.Errorf("describe %s configs: %w", rc.Name, rc.Err)
		}
		out[rc.Name] = ""
		for _, c := range rc.Configs {
			if c.Key == blockingConfig && c.Source == kmsg.ConfigSourceDynamicTopicConfig && c.Value != nil {
				out[rc.Name] = *c.Value
			}
		}
	}
	return out, nil
}

// setTopicConfig sets (or, for "", removes) each topic's blockingConfig
// and waits until it is stored.
func setTopicConfig(ctx context.Context, adm *kadm.Client, want map[string]string) error {
	for topic, v := range want {
		op := kadm.AlterConfig{Name: blockingConfig, Op: kadm.SetConfig, Value: &v}
		if v == "" {
			op = kadm.AlterConfig{Name: blockingConfig, Op: kadm.DeleteConfig}
		}
		resps, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{op}, topic)
		if err == nil {
			err = errors.Join(func() []error {
				var errs []error
				for _, r := range resps {
					errs = append(errs, r.Err)
				}
				return errs
			}()...)
		}
		if err != nil {
			return fmt.Errorf("set %s of %s to %q: %w", blockingConfig, topic, v, err)
		}
	}
	topics := make([]string, 0, len(want))
	for t := range want {
		topics = append(topics, t)
	}
	for {
		got, err := topicConfig(ctx, adm, topics)
		if err == nil && equal(got, want) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not stored (have %v, want %v): %w", blockingConfig, got, want, errors.Join(err, ctx.Err()))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
