// Package tracing follows one order across the kit's hops with
// OpenTelemetry: a W3C trace context (the traceparent header) starts at the
// HTTP request that placed the order (or as a new root there), travels in
// the headers of every Kafka record the order causes — through the outbox,
// which stores headers with the row — and each service opens a span per
// record it consumes as a child of the record's context, with the messaging
// semantic conventions' attributes.
//
// Without an exporter (OTEL_EXPORTER_OTLP_ENDPOINT unset) spans are not
// recorded: a span costs its ids and the header, nothing more. With one,
// spans are sampled as their parent was (new roots always) and sent by
// OTLP over HTTP in batches.
package tracing

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// instrumentation names the kit's spans' origin.
const instrumentation = "github.com/kafkakit/kit/services/platform/tracing"

// Tracing opens one service's spans.
type Tracing struct {
	tracer   trace.Tracer
	shutdown func(context.Context) error
}

// Setup returns the tracing of service. With endpoint, an OTLP/HTTP
// collector's base URL such as http://localhost:4318 (the value of
// OTEL_EXPORTER_OTLP_ENDPOINT), spans are exported to endpoint/v1/traces;
// with "", none are recorded but trace contexts still propagate. Shutdown
// sends what is buffered.
func Setup(ctx context.Context, service, endpoint string) (*Tracing, error) {
	res := resource.NewSchemaless(semconv.ServiceName(service))
	if endpoint == "" {
		// ParentBased: a parent sampled upstream (a caller that exports)
		// is still honoured; everything else is dropped before any
		// recording, so a span is just its ids.
		tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res),
			sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample())))
		return &Tracing{tracer: tp.Tracer(instrumentation), shutdown: tp.Shutdown}, nil
	}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(strings.TrimRight(endpoint, "/")+"/v1/traces"))
	if err != nil {
		return nil, fmt.Errorf("OTLP trace exporter for %s: %w", endpoint, err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithBatcher(exp),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())))
	return &Tracing{tracer: tp.Tracer(instrumentation), shutdown: tp.Shutdown}, nil
}

// New returns tracing through tp: tests pass an SDK provider with an
// in-memory exporter.
func New(tp trace.TracerProvider) *Tracing {
	return &Tracing{tracer: tp.Tracer(instrumentation), shutdown: func(context.Context) error { return nil }}
}

// Shutdown flushes the spans not yet exported and stops the exporter.
func (t *Tracing) Shutdown(ctx context.Context) error { return t.shutdown(ctx) }

// Close is Shutdown within five seconds, for a service's last defer: a
// collector that is gone must not hold up the exit.
func (t *Tracing) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return t.shutdown(ctx)
}

// propagator reads and writes W3C trace context: traceparent and
// tracestate. It is stateless, so the package needs no global.
var propagator = propagation.TraceContext{}

// Headers returns the trace context of ctx as Kafka record headers
// (traceparent, and tracestate when there is one), for the records ctx's
// work causes; nil when ctx carries no span.
func Headers(ctx context.Context) []kafka.Header {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return nil
	}
	var c headerCarrier
	propagator.Inject(ctx, &c)
	return c
}

// Extract returns ctx with the trace context of a record's headers as its
// remote parent; ctx unchanged when the headers carry none.
func Extract(ctx context.Context, headers []kafka.Header) context.Context {
	c := headerCarrier(headers)
	return propagator.Extract(ctx, &c)
}

// TraceID is the trace id in a record's headers, "" when they carry none.
func TraceID(headers []kafka.Header) string {
	sc := trace.SpanContextFromContext(Extract(context.Background(), headers))
	if !sc.IsValid() {
		return ""
	}
	return sc.TraceID().String()
}

// headerCarrier lets the propagator read and write Kafka record headers.
type headerCarrier []kafka.Header

func (c *headerCarrier) Get(key string) string {
	for _, h := range *c {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

func (c *headerCarrier) Set(key, value string) {
	for i, h := range *c {
		if h.Key == key {
			(*c)[i].Value = []byte(value)
			return
		}
	}
	*c = append(*c, kafka.Header{Key: key, Value: []byte(value)})
}

func (c *headerCarrier) Keys() []string {
	keys := make([]string, len(*c))
	for i, h := range *c {
		keys[i] = h.Key
	}
	return keys
}
