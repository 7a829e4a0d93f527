package stream

import (
	"context"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/kafkakit/kit/services/events"
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
