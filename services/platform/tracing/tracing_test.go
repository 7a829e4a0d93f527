package tracing

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/kafkakit/kit/services/platform/stream"
)

// recorded returns tracing that records every span in memory.
func recorded(t *testing.T) (*Tracing, *tracetest.SpanRecorder) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return New(tp), rec
}

// orderHops replays one order's path without a broker: POST /orders puts
// its context in the orders.created record's headers (as orders-api does
// in the outbox row), stock-service's consumer causes a stock.reservations
// record, the processor's consumer causes orders.status records. It
// returns each record's headers.
func orderHops(t *testing.T, tr *Tracing, incoming string) (created, reservation, status []kafka.Header) {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /orders", func(w http.ResponseWriter, r *http.Request) {
		created = Headers(r.Context())
		w.WriteHeader(http.StatusCreated)
	})
	req := httptest.NewRequest(http.MethodPost, "/orders", nil)
	if incoming != "" {
		req.Header.Set("traceparent", incoming)
	}
	tr.HTTP(mux).ServeHTTP(httptest.NewRecorder(), req)

	stock := tr.Consumer("stock-service-cg")(func(ctx context.Context, m kafka.Message) error {
		reservation = Headers(ctx)
		return nil
	})
	processor := tr.Consumer("orders-processor-cg")(func(ctx context.Context, m kafka.Message) error {
		status = Headers(ctx)
		return nil
	})
	ctx := context.Background()
	if err := stock(ctx, kafka.Message{Topic: "orders.created", Partition: 2, Offset: 41, Key: []byte("o-1"), Headers: created}); err != nil {
		t.Fatal(err)
	}
	if err := processor(ctx, kafka.Message{Topic: "stock.reservations", Partition: 2, Offset: 7, Key: []byte("o-1"), Headers: reservation}); err != nil {
		t.Fatal(err)
	}
	return created, reservation, status
}

func TestOneOrderIsOneTraceOfParentsAndChildren(t *testing.T) {
	tr, rec := recorded(t)
	created, reservation, status := orderHops(t, tr, "")

	spans := rec.Ended()
	if len(spans) != 3 {
		t.Fatalf("%d spans, want 3 (POST /orders, process orders.created, process stock.reservations)", len(spans))
	}
	server, stock, processor := spans[0], spans[1], spans[2]
	if server.Name() != "POST /orders" || server.SpanKind() != trace.SpanKindServer || server.Parent().IsValid() {
		t.Errorf("first span %q kind %v parent %v; want the POST /orders server span as the root", server.Name(), server.SpanKind(), server.Parent())
	}
	for _, c := range []struct {
		child, parent sdktrace.ReadOnlySpan
		name          string
	}{
		{stock, server, "process orders.created"},
		{processor, stock, "process stock.reservations"},
	} {
		if c.child.Name() != c.name || c.child.SpanKind() != trace.SpanKindConsumer {
			t.Errorf("span %q kind %v, want %q, a consumer span", c.child.Name(), c.child.SpanKind(), c.name)
		}
		if c.child.Parent().SpanID() != c.parent.SpanContext().SpanID() || c.child.Parent().TraceID() != server.SpanContext().TraceID() {
			t.Errorf("%s: parent %v, want %s's span %v", c.name, c.child.Parent(), c.parent.Name(), c.parent.SpanContext())
		}
		if !c.child.Parent().IsRemote() {
			t.Errorf("%s: parent not remote; it came in a record's headers", c.name)
		}
	}
	trace := server.SpanContext().TraceID().String()
	for name, h := range map[string][]kafka.Header{"orders.created": created, "stock.reservations": reservation, "orders.status": status} {
		if got := TraceID(h); got != trace {
			t.Errorf("%s record's trace id %q, want the order's %s (headers %v)", name, got, trace, h)
		}
	}

	attrs := map[attribute.Key]attribute.Value{}
	for _, kv := range stock.Attributes() {
		attrs[kv.Key] = kv.Value
	}
	for key, want := range map[attribute.Key]string{
		"messaging.system":                   "kafka",
		"messaging.destination.name":         "orders.created",
		"messaging.destination.partition.id": "2",
		"messaging.consumer.group.name":      "stock-service-cg",
		"messaging.operation.type":           "process",
		"messaging.kafka.message.key":        "o-1",
	} {
		if got := attrs[key].Emit(); got != want {
			t.Errorf("attribute %s = %q, want %q", key, got, want)
		}
	}
	if got := attrs["messaging.kafka.offset"].AsInt64(); got != 41 {
		t.Errorf("messaging.kafka.offset = %d, want 41", got)
	}
}

// A caller's traceparent makes the order part of the caller's trace.
func TestTheCallersTraceparentIsTheParent(t *testing.T) {
	tr, rec := recorded(t)
	const caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	_, _, status := orderHops(t, tr, caller)
	server := rec.Ended()[0]
	if got := server.Parent().SpanID().String(); got != "00f067aa0ba902b7" {
		t.Errorf("server span's parent %s, want the caller's span 00f067aa0ba902b7", got)
	}
	if got := TraceID(status); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("status record's trace id %s, want the caller's", got)
	}
}

// Without an exporter nothing is recorded, yet every record of the order
// still carries the order's trace, and an order without a caller's trace
// gets one of its own.
func TestWithoutAnExporterTracesStillPropagate(t *testing.T) {
	tr, err := Setup(context.Background(), "test-service", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Shutdown(context.Background()) })
	created, reservation, status := orderHops(t, tr, "")
	id := TraceID(created)
	if id == "" {
		t.Fatalf("orders.created headers %v carry no trace", created)
	}
	if TraceID(reservation) != id || TraceID(status) != id {
		t.Errorf("trace ids %s, %s, %s; want one", id, TraceID(reservation), TraceID(status))
	}
	if string(created[0].Value) == string(reservation[0].Value) {
		t.Errorf("each hop should hand on a span of its own, got %s twice", created[0].Value)
	}

	ctx, span := tr.StartConsume(context.Background(), kafka.Message{Topic: "t", Headers: created}, "")
	defer span.End()
	if span.IsRecording() {
		t.Errorf("a span is recorded without an exporter")
	}
	if got := trace.SpanContextFromContext(ctx).TraceID().String(); got != id {
		t.Errorf("span's trace %s, want %s", got, id)
	}
}

func TestStartSendIsAChildOfTheRecordsSpan(t *testing.T) {
	tr, rec := recorded(t)
	_, consume := tr.StartConsume(context.Background(), kafka.Message{Topic: "orders.status"}, "")
	_, send := tr.StartSend(context.Background(), consume.SpanContext(), "send sse")
	End(send, nil)
	End(consume, nil)
	spans := rec.Ended()
	if len(spans) != 2 || spans[0].Parent().SpanID() != spans[1].SpanContext().SpanID() {
		t.Fatalf("send span's parent is not the consume span: %v", spans)
	}
	if spans[0].SpanKind() != trace.SpanKindProducer {
		t.Errorf("send span kind %v, want producer", spans[0].SpanKind())
	}
}

func TestProbesAreNotTraced(t *testing.T) {
	tr, rec := recorded(t)
	h := tr.HTTP(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, p, nil))
	}
	if n := len(rec.Ended()); n != 0 {
		t.Errorf("%d spans for probes and scrapes, want none", n)
	}
}

// A failing handler's span says so; the record is retried or dead-lettered
// by the consumer, not here.
func TestAFailedAttemptIsAnErrorSpan(t *testing.T) {
	tr, rec := recorded(t)
	h := tr.Consumer("g")(func(context.Context, kafka.Message) error { return stream.Permanent(errBroken) })
	if err := h(context.Background(), kafka.Message{Topic: "t"}); !stream.IsPermanent(err) {
		t.Fatalf("err = %v, want the handler's permanent error unchanged", err)
	}
	s := rec.Ended()[0]
	if s.Status().Code.String() != "Error" || len(s.Events()) == 0 {
		t.Errorf("status %v, events %v; want an error with the exception recorded", s.Status(), s.Events())
	}
}

var errBroken = errorString("broken record")

type errorString string

func (e errorString) Error() string { return string(e) }
