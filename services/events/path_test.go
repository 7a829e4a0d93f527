package events_test

import (
	"testing"

	"github.com/kafkakit/kit/services/events"
)

// The partitions the Java client (kafka-clients 3.9.1,
// BuiltInPartitioner.partitionForKey) picks for these keys, printed by the
// client itself. A record produced by the kit and one produced by a Java
// program with the same key must land on the same partition.
func TestPartitionIsTheJavaClients(t *testing.T) {
	tests := []struct {
		key       string
		murmur2   int32 // Utils.murmur2
		of3, of1k int   // partitionForKey(key, 3), (key, 1000)
	}{
		{"", 275646681, 0, 681},
		{"a", -1563381124, 1, 524},
		{"21", -973932308, 0, 340},
		{"foobar", -790332482, 0, 166},
		{"kafka", -798503068, 1, 580},
		{"abc", 479470107, 0, 107},
		{"123456789", -1822237082, 0, 566},
		{"order-1", 1221710326, 1, 326},
		{"5f0c7e0a-8d1e-4b8e-9a52-3c1f2f6f7a10", 1946521892, 2, 892},
		{"SKU-42", 653029086, 0, 86},
		{"a-little-bit-longer-string", -1486304829, 2, 819},
	}
	for _, tt := range tests {
		if got := events.Partition([]byte(tt.key), 3); got != tt.of3 {
			t.Errorf("Partition(%q, 3) = %d, want %d (the Java client's)", tt.key, got, tt.of3)
		}
		if got := events.Partition([]byte(tt.key), 1000); got != tt.of1k {
			t.Errorf("Partition(%q, 1000) = %d, want %d (the Java client's)", tt.key, got, tt.of1k)
		}
		// The hash itself: with n a power of two the modulo would hide
		// wrong high bits, so check them where it shows.
		if got, want := events.Partition([]byte(tt.key), 1<<31-1), int(uint32(tt.murmur2)&0x7fffffff)%(1<<31-1); got != want {
			t.Errorf("Partition(%q, MaxInt32) = %d, want %d (from the Java client's murmur2 %d)", tt.key, got, want, tt.murmur2)
		}
	}
	if got := events.Partition(nil, 3); got != events.Partition([]byte{}, 3) {
		t.Errorf("Partition(nil, 3) = %d, want the empty key's %d", got, events.Partition([]byte{}, 3))
	}
}

func TestOrderPathIsTheKitsTopicsInOrder(t *testing.T) {
	want := []string{"orders.created", "stock.reservations", "orders.status"}
	if len(events.OrderPath) != len(want) {
		t.Fatalf("OrderPath = %v, want %v", events.OrderPath, want)
	}
	for i, topic := range events.OrderPath {
		if topic != want[i] || events.Topics[i] != topic {
			t.Errorf("OrderPath[%d] = %q, want %q, and Topics[%d] (%q) the same", i, topic, want[i], i, events.Topics[i])
		}
	}
}
