package harness_test

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkakit/kit/harness"
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
