package stream

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kafkakit/kit/services/events"
)

// script is a handler that returns errs in turn, then nil, and says on the
// trail which attempt it was.
func script(t *trail, errs ...error) Handler {
	var calls int
	return func(ctx context.Context, m kafka.Message) error {
		calls++
		t.add("handler attempt %d", attempt(ctx))
		if calls <= len(errs) {
			return errs[calls-1]
		}
		return nil
	}
}

func TestRetryTriesUntilTheRecordSettles(t *testing.T) {
	refused := deadLetterError{"t.dlq", kafka.TopicAuthorizationFailed}
	for _, tc := range []struct {
		name string
		errs []error // what the attempts return before one returns nil
		want []string
	}{
		{"applied at once", nil, []string{"handler attempt 1"}},
		{"applied after two failures, the wait doubling", []error{errBusy, errBusy}, []string{
			"handler attempt 1", "log: record failed; retrying attempt=1 retryIn=1ms", "failing 0: the handler failed (the error is in the service log)",
			"handler attempt 2", "log: record failed; retrying attempt=2 retryIn=2ms", "failing 0: the handler failed (the error is in the service log)",
			"handler attempt 3", "settled 0", "log: record applied after retries attempts=3"}},
		{"the wait stops doubling at its maximum", []error{errBusy, errBusy, errBusy, errBusy}, []string{
			"handler attempt 1", "log: record failed; retrying attempt=1 retryIn=1ms", "failing 0: the handler failed (the error is in the service log)",
			"handler attempt 2", "log: record failed; retrying attempt=2 retryIn=2ms", "failing 0: the handler failed (the error is in the service log)",
			"handler attempt 3", "log: record failed; retrying attempt=3 retryIn=4ms", "failing 0: the handler failed (the error is in the service log)",
			"handler attempt 4", "log: record failed; retrying attempt=4 retryIn=4ms", "failing 0: the handler failed (the error is in the service log)",
			"handler attempt 5", "settled 0", "log: record applied after retries attempts=5"}},
		{"set aside at once", []error{deadLettered{Permanent(errBusy)}}, []string{"handler attempt 1"}},
		{"a refused dead letter is retried, the handler with it", []error{refused, deadLettered{Permanent(errBusy)}}, []string{
			"handler attempt 1", "log: record failed; retrying attempt=1 retryIn=1ms", "failing 0: dead-lettering failed: broker: Topic Authorization Failed",
			"handler attempt 2", "settled 0", "log: record applied after retries attempts=2"}},
		{"a Permanent error reaching retry is retried: its dead letter was not written", []error{Permanent(errBusy)}, []string{
			"handler attempt 1", "log: record failed; retrying attempt=1 retryIn=1ms", "failing 0: the handler failed (the error is in the service log)",
			"handler attempt 2", "settled 0", "log: record applied after retries attempts=2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tr trail
			// logEvery 0 logs every failure, so each wait shows as retryIn.
			h := retry(time.Millisecond, 4*time.Millisecond, 0, tr.log("attempt", "attempts", "retryIn"), &tr)(script(&tr, tc.errs...))
			if err := h(context.Background(), kafka.Message{Topic: "t"}); err != nil {
				t.Errorf("retry = %v, want nil once the record settled", err)
			}
			if got, want := tr.String(), strings.Join(tc.want, "\n"); got != want {
				t.Errorf("trail:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestRetryGivesUpOnlyWhenItsContextEnds(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cancel string // when: "in the handler" or "while waiting"
	}{
		{"cancelled during an attempt", "in the handler"},
		{"cancelled while waiting to try again", "while waiting"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			t.Cleanup(cancel)
			var tr trail
			track := cancelOnFailing{trail: &tr, cancel: cancel, enabled: tc.cancel == "while waiting"}
			h := retry(time.Hour, time.Hour, time.Minute, tr.log(), track)(func(ctx context.Context, m kafka.Message) error {
				tr.add("handler attempt %d", attempt(ctx))
				if tc.cancel == "in the handler" {
					cancel()
				}
				return errBusy
			})
			err := h(ctx, kafka.Message{Topic: "t"})
			if !errors.Is(err, context.Canceled) {
				t.Errorf("retry = %v, want context.Canceled: the record is abandoned, not committed", err)
			}
			if got := tr.String(); !strings.HasPrefix(got, "handler attempt 1\n") || !strings.HasSuffix(got, "settled 0") ||
				strings.Count(got, "handler attempt") != 1 {
				t.Errorf("trail:\n%s\nwant one attempt, and the record settled (no longer failing for Stuck)", got)
			}
		})
	}
}

// cancelOnFailing ends the record's context once retry says it is failing,
// so retry is waiting to try again when it ends.
type cancelOnFailing struct {
	*trail
	cancel  context.CancelFunc
	enabled bool
}

func (c cancelOnFailing) failing(m kafka.Message, f failure) {
	c.trail.failing(m, f)
	if c.enabled {
		c.cancel()
	}
}

func TestDeadLetterSetsAsidePermanentFailuresOnly(t *testing.T) {
	m := kafka.Message{Topic: "orders.created", Partition: 2, Offset: 41, Key: []byte("k"), Value: []byte(strings.Repeat("x", 300)),
		Headers: []kafka.Header{{Key: "traceparent", Value: []byte("00-1")}}}
	invalid := Permanent(errors.New("invalid orders.created value"))
	for _, tc := range []struct {
		name    string
		err     error
		dlq     *fakeDLQ // nil: no dead-letter writer
		want    string   // the error deadLetter returns, as %T or "nil"
		written int
	}{
		{"applied", nil, &fakeDLQ{}, "<nil>", 0},
		{"transient", errBusy, &fakeDLQ{}, "*errors.errorString", 0},
		{"permanent", invalid, &fakeDLQ{}, "stream.deadLettered", 1},
		{"permanent, too large to copy whole", invalid, &fakeDLQ{maxBytes: 300}, "stream.deadLettered", 1},
		{"permanent, the dead letter refused", invalid, &fakeDLQ{denied: kafka.TopicAuthorizationFailed}, "stream.deadLetterError", 0},
		{"permanent, no dead-letter writer", invalid, nil, "stream.deadLetterError", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var w messageWriter
			if tc.dlq != nil {
				w = tc.dlq
			}
			var tr trail
			h := deadLetter(w, "stock-service-cg", tr.log("keptBytes"))(func(context.Context, kafka.Message) error { return tc.err })
			err := h(context.Background(), m)
			if got := fmt.Sprintf("%T", err); got != tc.want {
				t.Errorf("deadLetter returned %T (%v), want %s", err, err, tc.want)
			}
			if tc.want == "stream.deadLetterError" && !IsPermanent(err) && tc.dlq == nil {
				t.Errorf("no-writer error %v does not wrap its permanent cause", err)
			}
			if tc.dlq == nil {
				return
			}
			dl := tc.dlq.written()
			if len(dl) != tc.written {
				t.Fatalf("wrote %d dead letters, want %d", len(dl), tc.written)
			}
			if tc.written == 0 {
				return
			}
			d := dl[0]
			hd := map[string]string{}
			for _, kv := range d.Headers {
				hd[kv.Key] = string(kv.Value)
			}
			want := map[string]string{"traceparent": "00-1", events.HeaderDLQError: invalid.Error(),
				events.HeaderDLQSourceTopic: "orders.created", events.HeaderDLQSourcePartition: "2",
				events.HeaderDLQSourceOffset: "41", events.HeaderDLQConsumerGroup: "stock-service-cg"}
			if tc.dlq.maxBytes > 0 {
				want[events.HeaderDLQTruncated], want[events.HeaderDLQOriginalSize] = "true", "300"
			}
			if d.Topic != "orders.created.dlq" || string(d.Key) != "k" || fmt.Sprint(hd) != fmt.Sprint(want) {
				t.Errorf("dead letter %s key %q headers %v, want orders.created.dlq, key k, headers %v", d.Topic, d.Key, hd, want)
			}
			if truncated := tc.dlq.maxBytes > 0; truncated != (len(d.Value) < len(m.Value)) ||
				truncated != strings.Contains(tr.String(), "log: record dead-lettered truncated") {
				t.Errorf("value of %d bytes, log %q: want the value cut and the cut logged exactly when the copy was too large", len(d.Value), tr.String())
			}
		})
	}
}

func TestLogDeadLettersLogsEachRecordSetAside(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"applied", nil, ""},
		{"failing", errBusy, ""},
		{"a dead letter refused", deadLetterError{"t.dlq", errBusy}, ""},
		{"set aside", deadLettered{Permanent(errors.New("invalid t value"))}, "log: record dead-lettered dlq=t.dlq err=invalid t value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tr trail
			h := logDeadLetters(tr.log("dlq", "err"))(func(context.Context, kafka.Message) error { return tc.err })
			if err := h(context.Background(), kafka.Message{Topic: "t"}); err != tc.err {
				t.Errorf("logDeadLetters returned %v, want the attempt's own %v", err, tc.err)
			}
			if got := tr.String(); got != tc.want {
				t.Errorf("logged %q, want %q", got, tc.want)
			}
		})
	}
}

func TestObserveReportsOneOutcomePerAttempt(t *testing.T) {
	cause := Permanent(errors.New("invalid"))
	for _, tc := range []struct {
		name      string
		err       error
		attempt   int
		cancelled bool
		want      Result
		wantErr   error
	}{
		{"applied", nil, 1, false, ResultOK, nil},
		{"applied though the drain began", nil, 1, true, ResultOK, nil},
		{"failing", errBusy, 2, false, ResultRetry, errBusy},
		{"failing when the drain cancelled it", context.Canceled, 3, true, ResultCancelled, context.Canceled},
		{"set aside", deadLettered{cause}, 1, false, ResultDeadLetter, cause},
		{"set aside though the drain began", deadLettered{cause}, 1, true, ResultDeadLetter, cause},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(withAttempt(context.Background(), tc.attempt))
			defer cancel()
			if tc.cancelled {
				cancel()
			}
			var got []Outcome
			h := observe("g", func(o Outcome) { got = append(got, o) })(func(context.Context, kafka.Message) error { return tc.err })
			if err := h(ctx, kafka.Message{Topic: "t", Partition: 1, Offset: 7}); err != tc.err {
				t.Errorf("observe returned %v, want the attempt's own %v", err, tc.err)
			}
			if len(got) != 1 {
				t.Fatalf("reported %d outcomes, want 1", len(got))
			}
			o := got[0]
			if o.Group != "g" || o.Topic != "t" || o.Partition != 1 || o.Offset != 7 || o.Attempt != tc.attempt ||
				o.Result != tc.want || o.Err != tc.wantErr || o.Duration <= 0 {
				t.Errorf("outcome %+v, want g t/1@7 attempt %d %s err %v and a duration", o, tc.attempt, tc.want, tc.wantErr)
			}
		})
	}
	called := false
	h := observe("g", nil)(func(context.Context, kafka.Message) error { called = true; return nil })
	if err := h(context.Background(), kafka.Message{}); err != nil || !called {
		t.Errorf("without a report, observe = %v (handler called %v), want the handler itself", err, called)
	}
}

// The order Consumer.chain documents, read off what each step did for one
// record: retry outermost, each attempt observed once, the dead-letter
// write inside the observed attempt, the service's middleware (a span)
// around the handler alone. Through a whole Consumer the trail is the same
// (less the failing records, which the generation keeps): that half, its
// handler line unnumbered, passed on the code before the middleware split.
func TestChainRunsTheMiddlewareInTheDocumentedOrder(t *testing.T) {
	invalid := Permanent(errors.New("invalid t value"))
	for _, tc := range []struct {
		name   string
		errs   []error
		denied int // dead letters the broker refuses first
		want   []string
	}{
		{"applied", nil, 0, []string{
			"span start", "handler attempt 1", "span end <nil>", "observe ok attempt 1"}},
		{"permanent: dead-lettered once, not retried", []error{invalid}, 0, []string{
			"span start", "handler attempt 1", "span end invalid t value", "dead letter written",
			"log: record dead-lettered", "observe dead_letter attempt 1"}},
		{"transient: retried until applied", []error{errBusy, errBusy}, 0, []string{
			"span start", "handler attempt 1", "span end database is locked", "observe retry attempt 1",
			"log: record failed; retrying", "failing 0: the handler failed (the error is in the service log)",
			"span start", "handler attempt 2", "span end database is locked", "observe retry attempt 2",
			"failing 0: the handler failed (the error is in the service log)", // logged once a minute
			"span start", "handler attempt 3", "span end <nil>", "observe ok attempt 3",
			"settled 0", "log: record applied after retries"}},
		{"permanent, its dead letter refused once: the attempt retried whole", []error{invalid, invalid}, 1, []string{
			"span start", "handler attempt 1", "span end invalid t value", "dead letter refused", "observe retry attempt 1",
			"log: record failed; retrying", "failing 0: dead-lettering failed: broker: Topic Authorization Failed",
			"span start", "handler attempt 2", "span end invalid t value", "dead letter written",
			"log: record dead-lettered", "observe dead_letter attempt 2",
			"settled 0", "log: record applied after retries"}},
	} {
		t.Run(tc.name+"/chain", func(t *testing.T) {
			var tr trail
			h := tr.consumer(t, nil, tc.denied).chain(script(&tr, tc.errs...), tr.log(), &tr)
			if err := h(context.Background(), kafka.Message{Topic: "t"}); err != nil {
				t.Errorf("chain = %v, want nil once the record settled", err)
			}
			if got, want := tr.String(), strings.Join(tc.want, "\n"); got != want {
				t.Errorf("trail:\n%s\nwant:\n%s", got, want)
			}
		})
		t.Run(tc.name+"/consumer", func(t *testing.T) {
			var tr trail
			c := tr.consumer(t, script(&tr, tc.errs...), tc.denied)
			broker, group := newFakeBroker(), newFakeGroup()
			c.group, c.open = group, broker.open
			broker.produce("t", 0, "k")
			group.assign(1, map[string][]int{"t": {0}})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- c.Run(ctx) }()
			t.Cleanup(func() { cancel(); <-done })
			waitFor(t, "offset 0 committed", func() bool { o, _ := group.committed("t", 0); return o == 1 })

			var got, want []string
			for _, e := range strings.Split(tr.String(), "\n") {
				if !strings.HasPrefix(e, "log: ") || strings.HasPrefix(e, "log: record") { // not the group's own lines
					got = append(got, e)
				}
			}
			for _, e := range tc.want {
				if !strings.HasPrefix(e, "failing ") && !strings.HasPrefix(e, "settled ") {
					want = append(want, e)
				}
			}
			if got, want := strings.Join(got, "\n"), strings.Join(want, "\n"); got != want {
				t.Errorf("trail:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// The chain costs a record that is applied at once no allocation: the
// middleware is built once per generation, the first attempt carries no
// context value, and nothing is logged.
func TestChainAllocatesNothingForARecordAppliedAtOnce(t *testing.T) {
	c, err := newConsumer(ConsumerConfig{Brokers: []string{"b"}, Group: "g", Observe: func(Outcome) {}}, []Route{raw("t", nil)})
	if err != nil {
		t.Fatal(err)
	}
	c.dlq = &fakeDLQ{}
	var tr trail
	h := c.chain(func(context.Context, kafka.Message) error { return nil }, tr.log(), &tr)
	ctx, m := context.Background(), kafka.Message{Topic: "t", Key: []byte("k")}
	if n := testing.AllocsPerRun(100, func() { _ = h(ctx, m) }); n != 0 {
		t.Errorf("the chain allocates %v times per record, want 0", n)
	}
}
