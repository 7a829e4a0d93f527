package stream

import (
	"context"
	"time"

	"github.com/segmentio/kafka-go"
)

// observe reports every attempt at a record to report (metrics: see
// platform/metrics' Observe) as one Outcome of group: how long it took,
// which attempt it was, and what it came to — applied (ok), set aside
// (dead_letter, Err its cause), failed and to be tried again (retry), or
// cut short because the generation's work ended (cancelled). nil report
// adds nothing.
func observe(group string, report func(Outcome)) Middleware {
	return func(next Handler) Handler {
		if report == nil {
			return next
		}
		return func(ctx context.Context, m kafka.Message) error {
			began := time.Now()
			err := next(ctx, m)
			o := Outcome{Group: group, Topic: m.Topic, Partition: m.Partition, Offset: m.Offset,
				Attempt: attempt(ctx), Duration: time.Since(began), Result: ResultOK, Err: err}
			cause, dead := setAside(err)
			switch {
			case err == nil:
			case dead:
				o.Result, o.Err = ResultDeadLetter, cause
			case ctx.Err() != nil:
				o.Result = ResultCancelled
			default:
				o.Result = ResultRetry
			}
			report(o)
			return err
		}
	}
}
