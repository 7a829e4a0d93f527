package stream

import (
	"context"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"
)

// failures is told which records keep failing, for Stuck: the generation
// that fetched them.
type failures interface {
	// failing says m has failed since f.since, most recently with f.err.
	failing(m kafka.Message, f failure)
	// settled says m no longer fails: applied, set aside or abandoned.
	settled(m kafka.Message)
}

// failure is a record failing transiently: since when, and the last error.
type failure struct {
	since time.Time
	err   error
}

// retry tries next until the record settles — next returns nil, or
// deadLettered for a record set aside — waiting between attempts from
// minDelay, doubling up to maxDelay. Every other error is retried, a
// Permanent one too: one that reaches retry is a record whose dead letter
// could not be written, and dropping a record is never an option for
// at-least-once delivery. It returns an error only when ctx ends first (a
// drain abandons the record: it is not committed, and comes back).
//
// Each attempt's context says which it is (see attempt). A failing record
// is logged at once, then at most every logEvery, and track is told about
// it so Stuck can name it; a record applied after failing is logged once.
func retry(minDelay, maxDelay, logEvery time.Duration, log *slog.Logger, track failures) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, m kafka.Message) error {
			delay := minDelay
			var since time.Time
			var failLog logLimiter
			for n := 1; ; n++ {
				err := next(withAttempt(ctx, n), m)
				if _, dead := setAside(err); err == nil || dead {
					if !since.IsZero() {
						track.settled(m)
						recordLog(log, m).Info("record applied after retries", "attempts", n,
							"failedFor", roundDuration(time.Since(since)).String())
					}
					return nil
				}
				if ctx.Err() != nil {
					track.settled(m)
					return ctx.Err()
				}
				now := time.Now()
				if since.IsZero() {
					since = now
				}
				if failLog.allow(now, logEvery) {
					recordLog(log, m).Warn("record failed; retrying", "attempt", n, "failingFor", roundDuration(now.Sub(since)).String(),
						"retryIn", delay.String(), "err", err)
				}
				track.failing(m, failure{since: since, err: err})
				if !sleep(ctx.Done(), delay) {
					track.settled(m)
					return ctx.Err()
				}
				delay = min(delay*2, maxDelay)
			}
		}
	}
}
