package floor

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/kafkakit/kit/loadtest/internal/pace"
	"github.com/kafkakit/kit/services/events"
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

func TestTopicsFollowTheOrderPath(t *testing.T) {
	got := Topics("lt")
	want := []string{"lt.orders.created", "lt.stock.reservations", "lt.orders.status"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Topics: got %q, want %q", got, want)
	}
}

func TestParseProducer(t *testing.T) {
	for _, s := range []string{"client", "writer-batch1", "writer-linger", "stream"} {
		if p, err := ParseProducer(s); err != nil || string(p) != s {
			t.Errorf("ParseProducer(%q): got %q, %v", s, p, err)
		}
	}
	if _, err := ParseProducer("hash"); err == nil {
		t.Errorf("ParseProducer(hash): got no error")
	}
}

func newCluster(t *testing.T) []string {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	return cluster.ListenAddrs()
}

// TestRelayOnEmbeddedBroker runs each producer's relay twice on one
// in-process broker: every measured record sent crosses every hop, and the
// second run does not count the first run's records.
func TestRelayOnEmbeddedBroker(t *testing.T) {
	for _, producer := range Producers {
		t.Run(string(producer), func(t *testing.T) {
			brokers := newCluster(t)
			ctx := context.Background()
			for run := range 2 {
				r, err := Open(ctx, Config{Brokers: brokers, Producer: producer, Timeout: 20 * time.Second})
				if err != nil {
					t.Fatalf("run %d: Open: %v", run, err)
				}
				p := pace.New(pace.Options{LateAfter: time.Second})
				c := p.Run(ctx, pace.Phase{Rate: 200, Warmup: 100 * time.Millisecond, Duration: 300 * time.Millisecond}, r.Send)
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
		})
	}
}

// TestOpenAfterTheProcessCachedTheCluster opens each producer's relay on a
// broker that this process already asked for its metadata before the relay's
// topics existed, as the load runner does when it opens a second relay: the
// first measured record sent must cross every hop. kafka-go's process-wide
// DefaultTransport answers metadata requests from a cache refreshed every few
// seconds; a relay producing through it saw its new topics as unknown until
// then (TestRunMeasuresTheFloorInSlices lost the writer-linger relay's first
// slice to "Unknown Topic Or Partition").
func TestOpenAfterTheProcessCachedTheCluster(t *testing.T) {
	for _, producer := range Producers {
		t.Run(string(producer), func(t *testing.T) {
			brokers := newCluster(t)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			// Anything of the process that talks to the broker through the
			// default transport fills its cache, here without the topics.
			if _, err := (&kafka.Client{Addr: kafka.TCP(brokers...)}).Metadata(ctx, &kafka.MetadataRequest{}); err != nil {
				t.Fatalf("metadata: %v", err)
			}
			r, err := Open(ctx, Config{Brokers: brokers, Topics: Topics("cached." + string(producer)), Producer: producer, Timeout: 20 * time.Second})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			t.Cleanup(func() { r.Close() })
			r.Send(ctx, pace.Arrival{Intended: time.Now(), Measured: true})
			lost := r.Drain(ctx)
			if errs, examples := r.Errors(); len(errs) != 0 {
				t.Errorf("errors: got %v (%v), want none", errs, examples)
			}
			if lost != 0 || r.Received() != 1 {
				t.Errorf("got received %d, lost %d; want the one record sent received", r.Received(), lost)
			}
		})
	}
}

// TestEveryHopPartitionsLikeTheServices checks that each producer of the
// relay puts a key on the partition the services' writers (murmur2, as
// Java clients) put it on, on every hop.
func TestEveryHopPartitionsLikeTheServices(t *testing.T) {
	for _, producer := range Producers {
		t.Run(string(producer), func(t *testing.T) {
			brokers := newCluster(t)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			topics := Topics("partitions")
			r, err := Open(ctx, Config{Brokers: brokers, Topics: topics, Producer: producer, Timeout: 20 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			p := pace.New(pace.Options{LateAfter: time.Second})
			c := p.Run(ctx, pace.Phase{Rate: 200, Duration: 200 * time.Millisecond}, r.Send)
			if lost := r.Drain(ctx); lost != 0 {
				t.Fatalf("lost %d of %d", lost, c.Sent)
			}
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			for _, topic := range topics {
				for partition := range events.Partitions {
					for _, key := range keysOn(ctx, t, brokers, topic, partition) {
						want := events.Partition(key, events.Partitions)
						if partition != want {
							t.Errorf("%s: key %s on partition %d, the services' writer puts it on %d", topic, key, partition, want)
						}
					}
				}
			}
		})
	}
}

// keysOn reads every record of one partition and returns their keys.
func keysOn(ctx context.Context, t *testing.T, brokers []string, topic string, partition int) [][]byte {
	t.Helper()
	tr := newTransport(nil)
	defer tr.CloseIdleConnections()
	ends, err := lastOffsets(ctx, brokers, tr, topic)
	if err != nil {
		t.Fatal(err)
	}
	if ends[partition] == 0 {
		return nil
	}
	rd := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: partition, MaxWait: 100 * time.Millisecond})
	defer rd.Close()
	var keys [][]byte
	for int64(len(keys)) < ends[partition] {
		m, err := rd.ReadMessage(ctx)
		if err != nil {
			t.Fatal(fmt.Errorf("%s/%d: %w", topic, partition, err))
		}
		keys = append(keys, m.Key)
	}
	return keys
}
