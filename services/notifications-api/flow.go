package main

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// Record is one Kafka record as the event flow shows it to learners: where
// it landed (topic, partition, offset), its key and its value.
type Record struct {
	Seq       int64           `json:"-"`
	Topic     string          `json:"topic"`
	Partition int             `json:"partition"`
	Offset    int64           `json:"offset"`
	Key       string          `json:"key"`
	Value     json.RawMessage `json:"value"`
	Timestamp time.Time       `json:"timestamp"`
	orderID   string
}

// Flow keeps the most recent records of the kit's topics in a ring, for
// the event-flow stream.
type Flow struct {
	mu      sync.Mutex
	ring    []Record
	next    int64 // sequence number of the next record
	waiters waiters
}

// NewFlow keeps the last size records.
func NewFlow(size int) *Flow { return &Flow{ring: make([]Record, size), waiters: waiters{}} }

// Add appends m and wakes the flow streams.
func (f *Flow) Add(m kafka.Message) {
	r := Record{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Key: string(m.Key), Timestamp: m.Time.UTC()}
	var probe struct {
		OrderID string `json:"orderId"`
	}
	if json.Valid(m.Value) {
		r.Value = m.Value
		_ = json.Unmarshal(m.Value, &probe)
	} else {
		r.Value, _ = json.Marshal(string(m.Value))
	}
	r.orderID = probe.OrderID
	f.mu.Lock()
	defer f.mu.Unlock()
	r.Seq = f.next
	f.ring[f.next%int64(len(f.ring))] = r
	f.next++
	f.waiters.wake()
}

// Subscribe works as History.Subscribe, for all records.
func (f *Flow) Subscribe() (news <-chan struct{}, cancel func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.waiters.add()
	return c, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.waiters, c)
	}
}

// Since returns the records with a sequence number >= from that are still
// in the ring and concern orderID ("" for all), and the next from.
func (f *Flow) Since(from int64, orderID string) ([]Record, int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	from = max(from, f.next-int64(len(f.ring)), 0)
	var out []Record
	for seq := from; seq < f.next; seq++ {
		r := f.ring[seq%int64(len(f.ring))]
		if orderID == "" || r.Key == orderID || r.orderID == orderID {
			out = append(out, r)
		}
	}
	return out, f.next
}
