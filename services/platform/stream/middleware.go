package stream

import (
	"context"
	"log/slog"

	"github.com/segmentio/kafka-go"
)

// Middleware wraps a Handler with something every record goes through —
// retry, dead-lettering, logging, metrics, tracing — so the handler holds
// only domain logic (watermill's router middleware is the model). An alias,
// so a []func(Handler) Handler is a []Middleware.
type Middleware = func(Handler) Handler

// chain puts every record's middleware around route — the record checked
// against its contract, decoded and handed to the typed handler (see On) —
// for the generation whose log and failing records are log and track. It
// is the one place the order is set, outermost first:
//
//  1. retry tries everything below until the record settles: applied, or
//     set aside on its dead-letter topic. Outermost because a dead letter
//     the broker refused must be tried again like any transient failure
//     (the handler with it), and because each attempt below is measured,
//     logged and traced on its own.
//  2. observe reports one Outcome per attempt (ConsumerConfig.Observe:
//     metrics). Outside the dead-letter step, so its Duration covers the
//     dead-letter write and its Result tells a record set aside
//     (dead_letter) from one applied (ok), failing (retry) or abandoned by
//     a drain (cancelled).
//  3. logDeadLetters logs each record set aside, once its copy is written.
//     (retry logs its own lines: it alone knows the backoff.)
//  4. deadLetter turns a Permanent error into a copy on <topic>.dlq; a
//     copy it cannot write is a transient failure for retry.
//  5. ConsumerConfig.Middleware, the service's own (tracing.Consumer: a
//     span per attempt), innermost, around decoding and the handler: the
//     handler's context carries the span onto the records it causes, and
//     the span ends with the handler's own error, before any dead letter.
//
// Decoding stays in route rather than here: it is per contract and per
// type T, and what it refuses is Permanent — deadLetter's business. A
// fetch the broker's ACLs refuse (Denied) never reaches a handler: it is
// the fetcher's to report.
func (c *Consumer) chain(route Handler, log *slog.Logger, track failures) Handler {
	mw := append([]Middleware{
		retry(c.cfg.RetryMin, c.cfg.RetryMax, c.logEvery, log, track),
		observe(c.cfg.Group, c.cfg.Observe),
		logDeadLetters(log),
		deadLetter(c.dlq, c.cfg.Group, log),
	}, c.cfg.Middleware...)
	return compose(route, mw...)
}

// compose wraps h in mw, the first outermost.
func compose(h Handler, mw ...Middleware) Handler {
	for i := len(mw) - 1; i >= 0; i-- {
		h = mw[i](h)
	}
	return h
}

// recordLog is log about one record. Made only when there is something to
// say: most records never log, and a logger per record was a twentieth of
// a consumer's CPU.
func recordLog(log *slog.Logger, m kafka.Message) *slog.Logger {
	return log.With("topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "key", string(m.Key))
}

type attemptKey struct{}

// withAttempt tells the middleware inside retry which attempt at the record
// this is. The first carries nothing: most records take one, and a context
// value per record would be an allocation per record.
func withAttempt(ctx context.Context, n int) context.Context {
	if n == 1 {
		return ctx
	}
	return context.WithValue(ctx, attemptKey{}, n)
}

// attempt is which attempt at its record ctx belongs to: 1 for the first.
func attempt(ctx context.Context) int {
	if n, ok := ctx.Value(attemptKey{}).(int); ok {
		return n
	}
	return 1
}
