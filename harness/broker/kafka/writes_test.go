package kafka_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkakit/kit/harness/broker"
	"github.com/kafkakit/kit/harness/broker/kafka"
)

// TestBlockWritesOnRealKafka: a real broker refuses every write to a blocked
// topic while reads go on, and BlockWrites returns only once the leaders
// refuse (and unblock once they take writes again), so the first write
// after it sees the new state.
func TestBlockWritesOnRealKafka(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	b, err := kafka.Start(ctx, kafka.Options{Dir: filepath.Join(t.TempDir(), "kafka")})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(context.Background())
	if err := broker.CreateTopics(ctx, b, []broker.Topic{{Name: "held", Partitions: 2}}); err != nil {
		t.Fatal(err)
	}
	client, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...), kgo.RecordRetries(1), kgo.ConsumeTopics("held"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	produce := func(value string) error {
		return client.ProduceSync(ctx, &kgo.Record{Topic: "held", Value: []byte(value)}).FirstErr()
	}
	if err := produce("before"); err != nil {
		t.Fatal(err)
	}
	unblock, err := broker.BlockWrites(ctx, b, "held")
	if err != nil {
		t.Fatal(err)
	}
	if err := produce("during"); !errors.Is(err, kerr.MessageTooLarge) {
		t.Errorf("produce right after BlockWrites: %v, want MESSAGE_TOO_LARGE", err)
	}
	fetches := client.PollRecords(ctx, 10)
	if err := fetches.Err(); err != nil || fetches.NumRecords() != 1 || string(fetches.Records()[0].Value) != "before" {
		t.Errorf("read while blocked: %v, %d records; want only the record written before (the probes store nothing)", err, fetches.NumRecords())
	}
	if err := unblock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := produce("after"); err != nil {
		t.Errorf("produce right after unblocking: %v", err)
	}
}
