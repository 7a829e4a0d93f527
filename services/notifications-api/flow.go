package main

import (
	"bytes"
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kafkakit/kit/services/platform/schemaid"
)

// Record is one Kafka record as the event flow shows it to learners: where
// it landed (topic, partition, offset), its key, its value, and its headers
// (a dead letter's dlq.* headers say why and where from), omitted when it
// has none.
type Record struct {
	Seq       int64           `json:"-"`
	Topic     string          `json:"topic"`
	Partition int             `json:"partition"`
	Offset    int64           `json:"offset"`
	Key       string          `json:"key"`
	Value     json.RawMessage `json:"value"`
	// SchemaID and Version say which version of its contract the writer
	// followed: the id in the record's framing (its first five bytes,
	// stripped from Value) and the subject version the registry holds it
	// as; both omitted for a record without the framing.
	SchemaID  int               `json:"schemaId,omitempty"`
	Version   int               `json:"version,omitempty"`
	Headers   map[string]string `json:"headers,omitempty"`
	Timestamp time.Time         `json:"timestamp"`
}

// Flow keeps the most recent records of the kit's topics in a ring, for
// the event-flow stream.
type Flow struct {
	mu      sync.Mutex
	ring    []Record
	next    int64 // sequence number of the next record
	waiters waiters
	// schemas, when not nil, names the version of each record's schema id
	// (resolved once per id).
	schemas *schemaid.Registry
	// watch, when not nil, is told of each subscriber: it starts what
	// feeds the flow and returns what to call when the subscriber leaves.
	watch func() (release func())
}

// NewFlow keeps the last size records. schemas (nil for none) names the
// schema version of each framed record; watch (nil for none) is called as
// each subscriber arrives — FlowTails.Watch, which runs the tails feeding
// the flow only while someone watches — and what it returns as the
// subscriber leaves.
func NewFlow(size int, schemas *schemaid.Registry, watch func() (release func())) *Flow {
	return &Flow{ring: make([]Record, size), waiters: waiters{}, schemas: schemas, watch: watch}
}

// Add appends m and wakes the flow streams. It only copies: every record
// of the kit's topics passes through here, and the work of presenting one
// is left to the streams that send it.
func (f *Flow) Add(m kafka.Message) {
	r := Record{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Key: string(m.Key), Value: m.Value, Timestamp: m.Time.UTC()}
	if id, payload, err := schemaid.Split(m.Value); err == nil {
		r.SchemaID, r.Value = id, payload
		if f.schemas != nil {
			r.Version = f.version(id)
		}
	}
	if len(m.Headers) > 0 {
		r.Headers = make(map[string]string, len(m.Headers))
		for _, h := range m.Headers {
			r.Headers[h.Key] = string(h.Value)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	r.Seq = f.next
	f.ring[f.next%int64(len(f.ring))] = r
	f.next++
	f.waiters.wake()
}

// version is the subject version of schema id, 0 when the registry does
// not say (within a moment: the flow waits for nothing).
func (f *Flow) version(id int) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := f.schemas.Resolve(ctx, id)
	if err != nil {
		return 0
	}
	return s.Version
}

// forOrder reports whether r concerns orderID: keyed by it (orders.created,
// stock.reservations, orders.status and their dead letters) or carrying it
// in its value (inventory.updated). An order
// id is a UUID, so finding it in the value is finding the orderId field.
func (r Record) forOrder(orderID string) bool {
	return r.Key == orderID || bytes.Contains(r.Value, []byte(orderID))
}

// presentable returns r with a value that is JSON: a record that is not
// (anything can be written to a topic) is shown as a JSON string.
func (r Record) presentable() Record {
	if !json.Valid(r.Value) {
		r.Value, _ = json.Marshal(string(r.Value))
	}
	return r
}

// Subscribe works as History.Subscribe, for all records.
func (f *Flow) Subscribe() (news <-chan struct{}, cancel func()) {
	release := func() {}
	if f.watch != nil {
		release = f.watch()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.waiters.add()
	return c, func() {
		f.mu.Lock()
		delete(f.waiters, c)
		f.mu.Unlock()
		release()
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
		if orderID == "" || r.forOrder(orderID) {
			out = append(out, r.presentable())
		}
	}
	return out, f.next
}
