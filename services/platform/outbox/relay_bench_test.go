package outbox

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/kafkakit/kit/services/platform/perf"
	"github.com/kafkakit/kit/services/platform/schemaid"
)

// framingWriter frames each record as the stream producer does before it
// goes to the broker, and says when a call is done.
type framingWriter struct{ sent chan int }

func (w framingWriter) WriteMessages(_ context.Context, msgs ...kafka.Message) error {
	for i := range msgs {
		msgs[i].Value = schemaid.Frame(7, msgs[i].Value)
	}
	w.sent <- len(msgs)
	return nil
}

// BenchmarkRelay is an outbox record's way from its transaction to the
// producer: queued in the transaction (with a trace header, as every
// service's are), handed to the relay on commit, sent and framed, and
// deleted once acknowledged (every DeleteEvery, shared by the records
// sent meanwhile). One record per op, each alone.
//
//	go test -run '^$' -bench Relay -benchmem ./services/platform/outbox
func BenchmarkRelay(b *testing.B) {
	ctx := context.Background()
	db, o := openOutboxAt(b, filepath.Join(b.TempDir(), "outbox.db"))
	w := framingWriter{sent: make(chan int, 1)}
	r := NewRelay(o, w, slog.New(slog.DiscardHandler))
	stop := r.Start(ctx)
	b.Cleanup(stop)
	m := Message{Topic: "orders.created", Key: []byte("5f0c7e0a-8d1e-4b8e-9a52-3c1f2f6f7a10"),
		Value:   []byte(`{"orderId":"5f0c7e0a-8d1e-4b8e-9a52-3c1f2f6f7a10","userId":"user-42","items":[{"sku":"BOOK-1","qty":2},{"sku":"PEN-7","qty":1}],"total":31.5,"currency":"EUR","createdAt":"2026-11-25T09:30:00Z"}`),
		Headers: []kafka.Header{{Key: "traceparent", Value: []byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")}}}
	b.ReportAllocs()
	report := perf.Goroutines(b)
	for b.Loop() {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		q, err := o.Put(ctx, tx, m)
		if err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		r.Committed(q)
		<-w.sent
	}
	report()
}
