package tracing

import (
	"context"
	"strconv"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/kafkakit/kit/services/platform/stream"
)

// Consumer returns a stream.ConsumerConfig.Middleware that runs each
// attempt at a record in a span of its own (see StartConsume); the
// handler's context carries it, so Headers(ctx) hands it on to the records
// the handler causes.
func (t *Tracing) Consumer(group string) func(stream.Handler) stream.Handler {
	return func(next stream.Handler) stream.Handler {
		return func(ctx context.Context, m kafka.Message) error {
			ctx, span := t.StartConsume(ctx, m, group)
			err := next(ctx, m)
			End(span, err)
			return err
		}
	}
}

// StartConsume opens the span of processing record m as a consumer (group
// "" for a reader without one), a child of the trace context in m's
// headers (a new root when there is none). The span is named "process
// <topic>" and, when recorded, carries the messaging semantic conventions'
// attributes: system kafka, destination, partition, offset, key, consumer
// group, operation. End it with End.
func (t *Tracing) StartConsume(ctx context.Context, m kafka.Message, group string) (context.Context, trace.Span) {
	ctx, span := t.tracer.Start(Extract(ctx, m.Headers), "process "+m.Topic, trace.WithSpanKind(trace.SpanKindConsumer))
	if span.IsRecording() {
		span.SetAttributes(
			semconv.MessagingSystemKafka,
			semconv.MessagingOperationTypeProcess,
			semconv.MessagingOperationName("process"),
			semconv.MessagingDestinationName(m.Topic),
			semconv.MessagingDestinationPartitionID(strconv.Itoa(m.Partition)),
			semconv.MessagingKafkaOffset(int(m.Offset)),
			semconv.MessagingKafkaMessageKey(string(m.Key)),
		)
		if group != "" {
			span.SetAttributes(semconv.MessagingConsumerGroupName(group))
		}
	}
	return ctx, span
}

// StartSend opens the span of sending something caused by the work that
// parent stands for (notifications-api pushing an order's status to a
// browser): a producer-kind span named name, a child of parent. End it
// with End.
func (t *Tracing) StartSend(ctx context.Context, parent trace.SpanContext, name string) (context.Context, trace.Span) {
	if parent.IsValid() {
		ctx = trace.ContextWithRemoteSpanContext(ctx, parent)
	}
	return t.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindProducer))
}

// End ends span, marking it failed with err when err is not nil.
func End(span trace.Span, err error) {
	if err != nil && span.IsRecording() {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
