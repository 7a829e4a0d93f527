package stream

import (
	"context"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/schemaid"
)

var benchOrder = []byte(`{"orderId":"5f0c7e0a-8d1e-4b8e-9a52-3c1f2f6f7a10","userId":"user-42","items":[{"sku":"BOOK-1","qty":2},{"sku":"PEN-7","qty":1}],"total":31.5,"currency":"EUR","createdAt":"2026-11-25T09:30:00Z"}`)

// BenchmarkContractCheck compares what a consumer spends on each record
// before its handler runs: the JSON Schema check plus a decode (two
// parses), against the contract's Go decoder (one).
//
//	go test -run X -bench ContractCheck -benchmem ./services/platform/stream
func BenchmarkContractCheck(b *testing.B) {
	nop := func(context.Context, events.OrderCreated) error { return nil }
	schema, err := Schema(events.TopicOrdersCreated)
	if err != nil {
		b.Fatal(err)
	}
	for _, bench := range []struct {
		name    string
		handler Handler
	}{
		{"schema+decode", decodeJSON(Conforms(schema), nop)},
		{"decode-once", decodeOnce(events.DecodeOrderCreated, nop)},
	} {
		b.Run(bench.name, func(b *testing.B) {
			m := kafka.Message{Topic: events.TopicOrdersCreated, Value: benchOrder}
			b.ReportAllocs()
			for b.Loop() {
				if err := bench.handler(context.Background(), m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFraming is what schema ids on the wire add per record: the
// consumer reads the 5-byte framing, looks the id up (cached after the
// first record) and decodes by that version — strictly with this build's
// own schema, or checked against an older writer's compiled schema and
// decoded tolerantly — against today's unframed decode. The producer's
// side is one map lookup and a 5-byte prefix (frame).
//
//	go test -run X -bench Framing -benchmem ./services/platform/stream
func BenchmarkFraming(b *testing.B) {
	ids, _, idOf := fakeRegistry(b)
	nop := func(context.Context, events.OrderStatus) error { return nil }
	framed, err := On(events.TopicOrdersStatus, nop).bind(ids)
	if err != nil {
		b.Fatal(err)
	}
	framer := schemaid.NewFramer(ids, events.TopicOrdersStatus)
	if err := framer.Ready(b.Context()); err != nil {
		b.Fatal(err)
	}
	for _, bench := range []struct {
		name    string
		handler Handler
		value   []byte
	}{
		{"unframed-decode-once", decodeOnce(events.DecodeOrderStatus, nop), []byte(statusV3)},
		{"framed-current-version", framed, schemaid.Frame(idOf[3], []byte(statusV3))},
		{"framed-older-version", framed, schemaid.Frame(idOf[1], []byte(statusV1))},
	} {
		b.Run(bench.name, func(b *testing.B) {
			m := kafka.Message{Topic: events.TopicOrdersStatus, Value: bench.value}
			b.ReportAllocs()
			for b.Loop() {
				if err := bench.handler(context.Background(), m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("frame", func(b *testing.B) {
		value := []byte(statusV3)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := framer.Frame(context.Background(), events.TopicOrdersStatus, value); err != nil {
				b.Fatal(err)
			}
		}
	})
}
