package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// trail records, in order, what the middleware and the handler around one
// record did, so a test reads the chain's order off it.
type trail struct {
	mu     sync.Mutex
	events []string
}

func (t *trail) add(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.events = append(t.events, fmt.Sprintf(format, args...))
}

func (t *trail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.events, "\n")
}

// failing and settled make a trail retry's failures.
func (t *trail) failing(m kafka.Message, f failure) {
	t.add("failing %d: %s", m.Offset, failureKind(f.err))
}
func (t *trail) settled(m kafka.Message) { t.add("settled %d", m.Offset) }

// log is a logger whose lines join the trail as "log: <message> k=v…",
// with the attributes named in keep.
func (t *trail) log(keep ...string) *slog.Logger {
	return slog.New(trailHandler{t: t, keep: keep})
}

type trailHandler struct {
	t    *trail
	keep []string
}

func (h trailHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h trailHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h trailHandler) WithGroup(string) slog.Handler            { return h }
func (h trailHandler) Handle(_ context.Context, r slog.Record) error {
	line := "log: " + r.Message
	r.Attrs(func(a slog.Attr) bool {
		for _, k := range h.keep {
			if a.Key == k {
				line += " " + a.String()
			}
		}
		return true
	})
	h.t.add("%s", line)
	return nil
}

var errBusy = errors.New("database is locked")

// trailDLQ refuses the first refuse dead letters as an ACL would, then
// writes them, saying which on the trail.
type trailDLQ struct {
	t      *trail
	refuse int
}

func (d *trailDLQ) WriteMessages(context.Context, ...kafka.Message) error {
	if d.refuse > 0 {
		d.refuse--
		d.t.add("dead letter refused")
		return kafka.TopicAuthorizationFailed
	}
	d.t.add("dead letter written")
	return nil
}

// What a whole Consumer does around one record, in order — the same trail
// the code before the middleware split left (this test ran against it):
// each attempt in its own span and observed once, the dead letter written
// inside the observed attempt after the span ended, retry around it all,
// then the commit.
func TestConsumerKeepsTheOrderAroundARecord(t *testing.T) {
	invalid := Permanent(errors.New("invalid t value"))
	for _, tc := range []struct {
		name   string
		errs   []error
		denied int // dead letters the broker refuses first
		want   []string
	}{
		{"applied", nil, 0, []string{
			"span start", "handler", "span end <nil>", "observe ok attempt 1"}},
		{"permanent: dead-lettered once, not retried", []error{invalid}, 0, []string{
			"span start", "handler", "span end invalid t value", "dead letter written",
			"log: record dead-lettered", "observe dead_letter attempt 1"}},
		{"transient: retried until applied", []error{errBusy, errBusy}, 0, []string{
			"span start", "handler", "span end database is locked", "observe retry attempt 1", "log: record failed; retrying",
			"span start", "handler", "span end database is locked", "observe retry attempt 2", // logged once a minute
			"span start", "handler", "span end <nil>", "observe ok attempt 3", "log: record applied after retries"}},
		{"permanent, its dead letter refused once: the attempt retried whole", []error{invalid, invalid}, 1, []string{
			"span start", "handler", "span end invalid t value", "dead letter refused", "observe retry attempt 1",
			"log: record failed; retrying",
			"span start", "handler", "span end invalid t value", "dead letter written",
			"log: record dead-lettered", "observe dead_letter attempt 2", "log: record applied after retries"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tr trail
			span := func(next Handler) Handler {
				return func(ctx context.Context, m kafka.Message) error {
					tr.add("span start")
					err := next(ctx, m)
					tr.add("span end %v", err)
					return err
				}
			}
			var calls int
			handler := func(context.Context, kafka.Message) error {
				calls++
				tr.add("handler")
				if calls <= len(tc.errs) {
					return tc.errs[calls-1]
				}
				return nil
			}
			c, err := newConsumer(ConsumerConfig{Brokers: []string{"b"}, Group: "g", RetryMin: time.Millisecond,
				Log: tr.log(), Middleware: []func(Handler) Handler{span},
				Observe: func(o Outcome) { tr.add("observe %s attempt %d", o.Result, o.Attempt) }}, []Route{raw("t", handler)})
			if err != nil {
				t.Fatal(err)
			}
			broker, group := newFakeBroker(), newFakeGroup()
			c.group, c.open, c.dlq = group, broker.open, &trailDLQ{t: &tr, refuse: tc.denied}
			broker.produce("t", 0, "k")
			group.assign(1, map[string][]int{"t": {0}})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- c.Run(ctx) }()
			t.Cleanup(func() { cancel(); <-done })
			waitFor(t, "offset 0 committed", func() bool { o, _ := group.committed("t", 0); return o == 1 })

			var got []string
			for _, e := range strings.Split(tr.String(), "\n") {
				if !strings.HasPrefix(e, "log: ") || strings.HasPrefix(e, "log: record") {
					got = append(got, e)
				}
			}
			if got, want := strings.Join(got, "\n"), strings.Join(tc.want, "\n"); got != want {
				t.Errorf("trail:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}
