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

// consumer is a Consumer of topic t whose every step joins the trail: its
// log, its outcomes (metrics' Observe), a span around each attempt (the
// place of tracing.Consumer) and its dead letters, the first refuse of
// them refused. route may be nil for a test that calls chain itself.
func (tr *trail) consumer(t *testing.T, route Handler, refuse int) *Consumer {
	t.Helper()
	span := func(next Handler) Handler {
		return func(ctx context.Context, m kafka.Message) error {
			tr.add("span start")
			err := next(ctx, m)
			tr.add("span end %v", err)
			return err
		}
	}
	c, err := newConsumer(ConsumerConfig{Brokers: []string{"b"}, Group: "g", RetryMin: time.Millisecond,
		Log: tr.log(), Middleware: []func(Handler) Handler{span},
		Observe: func(o Outcome) { tr.add("observe %s attempt %d", o.Result, o.Attempt) }}, []Route{raw("t", route)})
	if err != nil {
		t.Fatal(err)
	}
	c.dlq = &trailDLQ{t: tr, refuse: refuse}
	return c
}

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
