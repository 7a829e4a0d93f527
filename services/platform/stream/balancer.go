package stream

import (
	"math/rand/v2"

	"github.com/segmentio/kafka-go"

	"github.com/kafkakit/kit/services/events"
)

// Balancer is the kit's partitioner as a kafka-go Balancer: a keyed record
// goes to events.Partition (murmur2, the Java client's choice); a keyless
// one to a random partition, as kafka-go's Murmur2Balancer does. Every
// kafka-go writer in the kit that partitions by key uses it.
type Balancer struct{}

// Balance implements kafka.Balancer.
func (Balancer) Balance(m kafka.Message, partitions ...int) int {
	if m.Key == nil {
		return partitions[rand.IntN(len(partitions))]
	}
	return partitions[events.Partition(m.Key, len(partitions))]
}
