package stream

import (
	"fmt"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/kafkakit/kit/services/events"
)

// Balancer must put every keyed record where kafka-go's Murmur2Balancer,
// which the producers used before, put it: a record's partition never
// moves when the kit's partitioner changes hands.
func TestBalancerAgreesWithMurmur2Balancer(t *testing.T) {
	for _, n := range []int{1, 2, 3, 7, 1000} {
		partitions := make([]int, n)
		for i := range partitions {
			partitions[i] = i
		}
		for i := range 2000 {
			key := []byte(fmt.Sprintf("key-%d", i))
			if i == 0 {
				key = []byte{}
			}
			got := Balancer{}.Balance(kafka.Message{Key: key}, partitions...)
			want := kafka.Murmur2Balancer{}.Balance(kafka.Message{Key: key}, partitions...)
			if got != want || got != events.Partition(key, n) {
				t.Fatalf("key %q of %d partitions: Balancer %d, Murmur2Balancer %d, events.Partition %d", key, n, got, want, events.Partition(key, n))
			}
		}
	}
	// The candidates are partition ids, not necessarily 0..n-1.
	if got := (Balancer{}).Balance(kafka.Message{Key: []byte("a")}, 10, 20, 30); got != 20 {
		t.Errorf("key a over partitions 10, 20, 30: %d, want 20 (events.Partition(a, 3) = 1)", got)
	}
	for range 100 {
		if got := (Balancer{}).Balance(kafka.Message{}, 4, 5); got != 4 && got != 5 {
			t.Fatalf("keyless record over 4, 5: %d", got)
		}
	}
}
