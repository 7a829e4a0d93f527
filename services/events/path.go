package events

// OrderPath is the topics an order crosses, in order, until its final status
// reaches notifications-api: orders-api's order, stock-service's answer, the
// processor's statuses. inventory.updated is a side branch, not a hop.
var OrderPath = []string{TopicOrdersCreated, TopicStockReservations, TopicOrdersStatus}

// Partition is the partition of n that a record keyed key goes to: murmur2
// of the key, made positive, modulo n — exactly what the Java client's
// default partitioner does for a keyed record (BuiltInPartitioner.
// partitionForKey), and what kafka-go's Murmur2Balancer does. Every kit
// record is keyed (order id, SKU), so one order's records share a partition
// on every topic of the same size, whoever produced them. Keyless records are
// the producer's choice, not this function's. n must be positive.
func Partition(key []byte, n int) int {
	return int(murmur2(key)&0x7fffffff) % n
}

// murmur2 is the Java client's Utils.murmur2 (seed 0x9747b28c), on uint32.
func murmur2(data []byte) uint32 {
	const (
		seed uint32 = 0x9747b28c
		m    uint32 = 0x5bd1e995
		r           = 24
	)
	length := len(data)
	h := seed ^ uint32(length)
	for i := 0; i+4 <= length; i += 4 {
		k := uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16 | uint32(data[i+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	tail := data[length&^3:]
	switch len(tail) {
	case 3:
		h ^= uint32(tail[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(tail[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(tail[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}
