package broker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkakit/kit/harness/broker"
	"github.com/kafkakit/kit/harness/broker/embedded"
)

func TestBlockWritesRefusesProducesUntilUnblocked(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := embedded.Start(ctx, embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(ctx)
	topics := []broker.Topic{{Name: "held", Partitions: 1}, {Name: "free", Partitions: 1}}
	if err := broker.CreateTopics(ctx, b, topics); err != nil {
		t.Fatal(err)
	}
	client, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...), kgo.RecordRetries(1), kgo.ConsumeTopics("held"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	produce := func(topic, value string) error {
		return client.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(value)}).FirstErr()
	}
	if err := produce("held", "before"); err != nil {
		t.Fatal(err)
	}

	unblock, err := broker.BlockWrites(ctx, b, "held")
	if err != nil {
		t.Fatal(err)
	}
	if err := produce("held", "during"); !errors.Is(err, kerr.MessageTooLarge) {
		t.Errorf("produce to a blocked topic: %v, want MESSAGE_TOO_LARGE", err)
	}
	if err := produce("free", "during"); err != nil {
		t.Errorf("produce to another topic while one is blocked: %v", err)
	}
	fetches := client.PollRecords(ctx, 1) // reads go on
	if err := fetches.Err(); err != nil || fetches.NumRecords() != 1 || string(fetches.Records()[0].Value) != "before" {
		t.Errorf("read from a blocked topic: %v, %d records; want the record written before the block", err, fetches.NumRecords())
	}

	if err := unblock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := produce("held", "after"); err != nil {
		t.Errorf("produce after unblocking: %v", err)
	}
}
