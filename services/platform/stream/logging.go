package stream

import (
	"context"
	"log/slog"

	"github.com/segmentio/kafka-go"

	"github.com/kafkakit/kit/services/events"
)

// logDeadLetters logs, at error level, each record the attempt inside it
// set aside on its dead-letter topic, with the cause: a record that will
// not be applied is what an operator must hear about. Nothing else is
// logged here — an applied record says nothing, and retry logs the failing
// ones, since it alone knows when it tries next.
func logDeadLetters(log *slog.Logger) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, m kafka.Message) error {
			err := next(ctx, m)
			if cause, ok := setAside(err); ok {
				recordLog(log, m).Error("record dead-lettered", "dlq", events.DLQ(m.Topic), "err", cause)
			}
			return err
		}
	}
}
