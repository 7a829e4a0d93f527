package kafka_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/kafkakit/kit/harness/broker/kafka"
	"github.com/kafkakit/kit/harness/internal/syncbuf"
	"github.com/kafkakit/kit/services/platform/stream/streamtest"
)

// TestConsumerCommitsStayInTheirGeneration runs package stream's rebalance
// check on real Apache Kafka: a second consumer joins the group mid-stream
// and no committed offset ever goes backwards. The unit tests run the same
// check on the embedded broker; this one proves it on the real coordinator.
func TestConsumerCommitsStayInTheirGeneration(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	b := startKafka(ctx, t, kafka.Options{})
	streamtest.Rebalance(t, b.Addrs())
}

// startKafka starts real Kafka with opts for the test, closes it when the
// test ends and shows its output when the test failed. Where the machine
// cannot run Kafka the test fails, or skips loudly under
// KAFKAKIT_SKIP_REAL_KAFKA=1.
func startKafka(ctx context.Context, t *testing.T, opts kafka.Options) *kafka.Broker {
	t.Helper()
	var logs syncbuf.Buffer
	t.Cleanup(func() {
		if t.Failed() && logs.String() != "" {
			t.Logf("broker output:\n%s", logs.String())
		}
	})
	opts.Log = &logs
	b, err := kafka.Start(ctx, opts)
	if errors.Is(err, kafka.ErrMissingTool) {
		if os.Getenv("KAFKAKIT_SKIP_REAL_KAFKA") == "1" {
			t.Skipf("!!! REAL KAFKA NOT TESTED (KAFKAKIT_SKIP_REAL_KAFKA=1): %v", err)
		}
		t.Fatalf("!!! REAL KAFKA CANNOT RUN: %v (set KAFKAKIT_SKIP_REAL_KAFKA=1 to skip)", err)
	}
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	return b
}
