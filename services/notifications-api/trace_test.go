package main

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/tracing"
)

// Pushing a status to a browser is a span in the order's trace: a child of
// the span the status's record was read in.
func TestPushingAStatusIsAChildOfReadingIt(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	tr := tracing.New(tp)

	h := NewHistory(testConfig.History)
	_, read := tr.StartConsume(context.Background(), kafka.Message{Topic: events.TopicOrdersStatus}, "")
	h.AddTraced(status(events.StatusCreated), read.SpanContext())
	read.End()

	sc := streamConfig{Heartbeat: time.Hour, WriteTimeout: time.Second, UnknownOrderWait: time.Minute, Tracing: tr}
	srv := httptest.NewServer(handleOrderEvents(slog.New(slog.DiscardHandler), h, sc))
	t.Cleanup(srv.Close)
	_, events := open(t, srv.URL+"/events?orderId="+order, "")
	readEvents(t, events, 1)

	var push sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == "sse push orders.status" {
			push = s
		}
	}
	if push == nil {
		t.Fatalf("no push span among %d spans", len(rec.Ended()))
	}
	if push.Parent().SpanID() != read.SpanContext().SpanID() || push.SpanContext().TraceID() != read.SpanContext().TraceID() {
		t.Errorf("push span's parent %v, want the read span %v", push.Parent(), read.SpanContext())
	}
}
