package tail

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestReadFollowsThroughALeaderElection: kit tail ended with "Leader Not
// Available" when it asked in the moment a partition had no leader (lesson
// 8 on three brokers, right after a frozen broker was let go on), where a
// console consumer waits for the election to end. Read keeps reading
// through an error the broker calls retriable, saying so, and hands on the
// record once the partition answers again.
func TestReadFollowsThroughALeaderElection(t *testing.T) {
	const topic = "tail.election"
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("after the election")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	// The first fetches find the partition without a leader.
	const leaderless = 5
	var fetches atomic.Int32
	c.ControlKey(int16(kmsg.Fetch), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if fetches.Add(1) > leaderless {
			return nil, nil, false
		}
		in := req.(*kmsg.FetchRequest)
		resp := in.ResponseKind().(*kmsg.FetchResponse)
		for _, rt := range in.Topics {
			st := kmsg.NewFetchResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewFetchResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, kerr.LeaderNotAvailable.Code
				sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})

	var retried []error
	var got []string
	err = Read(ctx, c.ListenAddrs(), nil, topic, 0, 0, 1, func(m kafka.Message) error {
		got = append(got, string(m.Value))
		return nil
	}, func(err error) { retried = append(retried, err) })
	if err != nil {
		t.Fatalf("Read = %v, want the record once the partition has a leader again", err)
	}
	if fmt.Sprint(got) != "[after the election]" {
		t.Errorf("handed on %q, want the one record", got)
	}
	if len(retried) == 0 {
		t.Error("Read said nothing of the leaderless partition, want each retriable error reported")
	}
}
