package harness_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkakit/kit/harness"
	"github.com/kafkakit/kit/services/platform/schemaid"
)

// KeyPartitioner took over from franz-go's StickyKeyPartitioner (the Java
// client's murmur2): every keyed record must land where it did before.
func TestKeyPartitionerIsFranzGosKeyPartitioner(t *testing.T) {
	ours := harness.KeyPartitioner{}.ForTopic("t")
	before := kgo.StickyKeyPartitioner(nil).ForTopic("t")
	for _, n := range []int{1, 3, 7} {
		for i := range 1000 {
			r := &kgo.Record{Key: []byte(fmt.Sprint("order-", i))}
			if got, want := ours.Partition(r, n), before.Partition(r, n); got != want {
				t.Fatalf("key %s of %d partitions: %d, franz-go's key partitioner %d", r.Key, n, got, want)
			}
		}
	}
	if !ours.RequiresConsistency(&kgo.Record{Key: []byte("k")}) {
		t.Error("RequiresConsistency = false: a key's partition would move while its leader is down")
	}
}

// TestTailSeesWhatWasWrittenAfterIt: a tail sees exactly the records
// written after it was made, on every partition, with a framed value split
// into its schema id and JSON, and UpToNow holds everything acknowledged
// before the call.
func TestTailSeesWhatWasWrittenAfterIt(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "harness.tail"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	k := harness.NewKafka(c.ListenAddrs())
	if _, err := k.ProduceRaw(ctx, "harness.tail", "before", []byte(`{"n":0}`)); err != nil {
		t.Fatal(err)
	}
	tail, err := k.Tail(ctx, "harness.tail")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tail.Close)
	want := map[string]bool{}
	for i := range 12 {
		key := fmt.Sprint("after-", i)
		want[key] = true
		if _, err := k.ProduceRaw(ctx, "harness.tail", key, schemaid.Frame(7, []byte(`{"n":1}`))); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := tail.UpToNow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	partitions := map[int32]bool{}
	for _, r := range recs {
		if !want[r.Key] {
			t.Errorf("record with key %q: not written after the tail started, or seen twice", r.Key)
		}
		delete(want, r.Key)
		partitions[r.Partition] = true
		if r.SchemaID != 7 || string(r.Value) != `{"n":1}` || r.Topic != "harness.tail" {
			t.Errorf("record %+v: want topic harness.tail, schema id 7 and the JSON after the framing", r)
		}
	}
	if len(want) != 0 || len(partitions) != 3 {
		t.Errorf("missing %v; partitions seen %v, want all 3", want, partitions)
	}
}
