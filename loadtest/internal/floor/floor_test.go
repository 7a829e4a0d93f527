package floor

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/kafkakit/kit/loadtest/internal/pace"
)

func TestEncodeDecode(t *testing.T) {
	tests := []struct {
		intended time.Time
		seq      uint64
	}{
		{time.Unix(0, 1), 0},
		{time.Date(2025, 6, 1, 12, 0, 0, 123456789, time.UTC), 1<<63 + 5},
	}
	for _, tt := range tests {
		gotNs, gotSeq, ok := decode(encode(tt.intended, tt.seq))
		if !ok || gotNs != tt.intended.UnixNano() || gotSeq != tt.seq {
			t.Errorf("decode(encode(%v, %d)): got %d, %d, %v", tt.intended, tt.seq, gotNs, gotSeq, ok)
		}
	}
	if _, _, ok := decode([]byte("short")); ok {
		t.Errorf("decode of a foreign value: got ok, want not ok")
	}
}

// TestRelayOnEmbeddedBroker runs the relay twice on one in-process broker:
// every measured record sent arrives, and the second run does not count the
// first run's records.
func TestRelayOnEmbeddedBroker(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	ctx := context.Background()
	for run := range 2 {
		r, err := Open(ctx, Config{Brokers: cluster.ListenAddrs(), Timeout: 20 * time.Second})
		if err != nil {
			t.Fatalf("run %d: Open: %v", run, err)
		}
		p := pace.New(pace.Options{LateAfter: time.Second})
		c := p.Run(ctx, pace.Phase{Rate: 200, Warmup: 100 * time.Millisecond, Duration: 400 * time.Millisecond}, r.Send)
		lost := r.Drain(ctx)
		errs, examples := r.Errors()
		if len(errs) != 0 {
			t.Errorf("run %d: errors: got %v (%v), want none", run, errs, examples)
		}
		if lost != 0 || r.Received() != int64(c.Sent) || r.Latency.Count() != int64(c.Sent) {
			t.Errorf("run %d: got sent %d, received %d, recorded %d, lost %d; want all sent received", run, c.Sent, r.Received(), r.Latency.Count(), lost)
		}
		if err := r.Close(); err != nil {
			t.Errorf("run %d: Close: %v", run, err)
		}
	}
}
