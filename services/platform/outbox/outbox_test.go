package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kafkakit/kit/services/platform/sqldb"
)

func openOutbox(t *testing.T) (*sqldb.DB, *Outbox) {
	t.Helper()
	return openOutboxAt(t, filepath.Join(t.TempDir(), "outbox.db"))
}

// openOutboxAt opens the database at dsn with an outbox table in it.
func openOutboxAt(t testing.TB, dsn string) (*sqldb.DB, *Outbox) {
	t.Helper()
	ctx := context.Background()
	db, err := sqldb.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.CreateSchema(ctx, Schema(db.Dialect)); err != nil {
		t.Fatal(err)
	}
	return db, New(db)
}

// commit queues msgs in a transaction of their own and returns what the
// relay is to be handed.
func commit(t *testing.T, db *sqldb.DB, o *Outbox, msgs ...Message) []Queued {
	t.Helper()
	tx, err := db.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	q, err := o.Put(context.Background(), tx, msgs...)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	return q
}

// fakeWriter records what it was asked to produce and fails on demand.
type fakeWriter struct {
	mu     sync.Mutex
	got    []kafka.Message
	fail   error
	failAt func(m kafka.Message) bool // per record, for partial failures
	// failCall fails a whole call, as a producer that finds no partitions
	// for one of its topics does.
	failCall func(msgs []kafka.Message) error
	news     chan struct{}
}

func newFakeWriter() *fakeWriter { return &fakeWriter{news: make(chan struct{}, 1)} }

func (w *fakeWriter) WriteMessages(ctx context.Context, msgs ...kafka.Message) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	defer func() {
		select {
		case w.news <- struct{}{}:
		default:
		}
	}()
	if w.fail != nil {
		return w.fail
	}
	if w.failCall != nil {
		if err := w.failCall(msgs); err != nil {
			return err
		}
	}
	if w.failAt != nil {
		errs := make(kafka.WriteErrors, len(msgs))
		failed := false
		for i, m := range msgs {
			if w.failAt(m) {
				errs[i], failed = kafka.MessageSizeTooLarge, true
			} else {
				w.got = append(w.got, m)
			}
		}
		if failed {
			return errs
		}
		return nil
	}
	w.got = append(w.got, msgs...)
	return nil
}

func (w *fakeWriter) set(fail error, failAt func(kafka.Message) bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.fail, w.failAt = fail, failAt
}

func (w *fakeWriter) values() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, m := range w.got {
		out = append(out, string(m.Value))
	}
	return out
}

// waitFor waits, with a deadline, until cond holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("gave up waiting until %s", what)
		case <-tick.C:
		}
	}
}

func msg(topic, key, value string) Message {
	return Message{Topic: topic, Key: []byte(key), Value: []byte(value)}
}

// running starts r and stops it when the test ends.
func running(t *testing.T, r *Relay) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
}

func backlog(o *Outbox) int {
	n, err := o.Backlog(context.Background())
	if err != nil {
		return -1
	}
	return n
}

func TestRelaySendsWhatACommitHandsOverInCommitOrder(t *testing.T) {
	db, o := openOutbox(t)
	w := newFakeWriter()
	r := NewRelay(o, w, slog.New(slog.DiscardHandler))
	running(t, r)
	first := commit(t, db, o, msg("a", "k1", "1"), msg("b", "k2", "2"))
	second := commit(t, db, o, Message{Topic: "a", Key: []byte("k1"), Value: []byte("3"),
		Headers: []kafka.Header{{Key: "traceparent", Value: []byte("00-abc-def-01")}}})
	r.Committed(second) // handed over out of order by concurrent callers,
	r.Committed(first)  // possibly in one batch
	waitFor(t, "three records produced", func() bool { return len(w.values()) == 3 })
	got := w.values()
	if strings.Join(got, ",") != "1,2,3" && strings.Join(got, ",") != "3,1,2" {
		t.Errorf("produced %v, want commit order within a batch", got)
	}
	w.mu.Lock()
	for _, m := range w.got {
		if string(m.Value) == "3" && (len(m.Headers) != 1 || string(m.Headers[0].Value) != "00-abc-def-01") {
			t.Errorf("headers = %v, want the queued traceparent", m.Headers)
		}
		if m.Time.IsZero() {
			t.Errorf("record %s has no send time", m.Value)
		}
	}
	w.mu.Unlock()
	waitFor(t, "the acknowledged records deleted", func() bool { return backlog(o) == 0 })
	if got := w.values(); len(got) != 3 {
		t.Errorf("produced %v, want each record once", got)
	}
}

// TestAHandOverLateForWhatATableReadSentDoesNotSendItAgain: a commit's
// records are in the table before Committed hands them over, so a read of
// the table (at start, the tick, another instance's NOTIFY) can find, send
// and delete them first; the late handover must not send them again. Under
// load the gap between a commit and its handover outlasted DeleteEvery and
// TestRelaySendsWhatACommitHandsOverInCommitOrder produced [1 2 3 1 2].
func TestAHandOverLateForWhatATableReadSentDoesNotSendItAgain(t *testing.T) {
	tests := []struct {
		name    string
		deleted bool // the table read's records deleted before the handover
	}{
		{name: "after the delete", deleted: true},
		{name: "before the delete"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, o := openOutbox(t)
			w := newFakeWriter()
			r := NewRelay(o, w, slog.New(slog.DiscardHandler))
			if !tt.deleted {
				r.DeleteEvery = time.Hour
			}
			late := commit(t, db, o, msg("a", "k", "1"), msg("b", "k", "2")) // its AfterCommit not run yet
			running(t, r)
			waitFor(t, "the start-up read's records produced", func() bool { return len(w.values()) == 2 })
			if tt.deleted {
				waitFor(t, "the produced records deleted", func() bool { return backlog(o) == 0 })
			}
			next := commit(t, db, o, msg("a", "k", "3"))
			r.Committed(late) // the late handover, then the next commit's
			r.Committed(next)
			waitFor(t, "the next commit produced", func() bool { return strings.Contains(strings.Join(w.values(), ","), "3") })
			if got := strings.Join(w.values(), ","); got != "1,2,3" {
				t.Errorf("produced %s, want 1,2,3: each record once, in commit order", got)
			}
		})
	}
}

func TestRelaySendsWhatAPreviousRunLeft(t *testing.T) {
	db, o := openOutbox(t)
	commit(t, db, o, msg("a", "k", "1"), msg("a", "k", "2")) // never handed over: the process died
	w := newFakeWriter()
	running(t, NewRelay(o, w, slog.New(slog.DiscardHandler)))
	waitFor(t, "the left records produced and deleted", func() bool { return len(w.values()) == 2 && backlog(o) == 0 })
	if got := strings.Join(w.values(), ","); got != "1,2" {
		t.Errorf("produced %s, want 1,2", got)
	}
}

func TestRelaySendsOnceWhatFailedOnceTheBrokerTakesIt(t *testing.T) {
	db, o := openOutbox(t)
	w := newFakeWriter()
	w.set(errors.New("dial tcp 10.0.0.7:9092: connection refused"), nil)
	r := NewRelay(o, w, slog.New(slog.DiscardHandler))
	r.RetryMax = 10 * time.Millisecond
	running(t, r)
	r.Committed(commit(t, db, o, msg("a", "k", "1")))
	waitFor(t, "readiness says the relay cannot produce", func() bool { return r.Ready(context.Background()) != nil })
	err := r.Ready(context.Background())
	if !strings.Contains(err.Error(), "1 records waiting") || strings.Contains(err.Error(), "10.0.0.7") {
		t.Errorf("Ready = %q, want the backlog named and no internal address", err)
	}
	r.Committed(commit(t, db, o, msg("a", "k", "2"))) // committed while failing
	w.set(nil, nil)
	waitFor(t, "both produced and deleted", func() bool { return len(w.values()) >= 2 && backlog(o) == 0 })
	if got := strings.Join(w.values(), ","); got != "1,2" {
		t.Errorf("produced %s, want 1,2, each once, in commit order", got)
	}
	if err := r.Ready(context.Background()); err != nil {
		t.Errorf("Ready = %v once producing again, want nil", err)
	}
}

func TestRelayResendsOnlyWhatPartitionsDidNotTake(t *testing.T) {
	db, o := openOutbox(t)
	w := newFakeWriter()
	w.set(nil, func(m kafka.Message) bool { return string(m.Key) == "short" })
	r := NewRelay(o, w, slog.New(slog.DiscardHandler))
	r.RetryMax = 10 * time.Millisecond
	running(t, r)
	r.Committed(commit(t, db, o, msg("a", "ok", "1"), msg("a", "short", "2"), msg("a", "ok", "3")))
	waitFor(t, "the taken records produced", func() bool { return len(w.values()) == 2 })
	w.set(nil, nil)
	waitFor(t, "the refused record produced and all deleted", func() bool { return len(w.values()) == 3 && backlog(o) == 0 })
	if got := strings.Join(w.values(), ","); got != "1,3,2" {
		t.Errorf("produced %s, want 1 and 3 once, then 2 once", got)
	}
}

func TestRunDrainsAtShutdown(t *testing.T) {
	db, o := openOutbox(t)
	for i := range 1200 { // more than two batches
		commit(t, db, o, msg("a", fmt.Sprint(i%7), fmt.Sprint(i)))
	}
	w := newFakeWriter()
	r := NewRelay(o, w, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // shutting down before it even started
	if err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if n := backlog(o); n != 0 {
		t.Errorf("backlog = %d after the drain, want 0", n)
	}
	if got := len(w.values()); got != 1200 {
		t.Errorf("produced %d records, want 1200", got)
	}
}

func TestPutInARolledBackTransactionQueuesNothing(t *testing.T) {
	db, o := openOutbox(t)
	tx, err := db.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.Put(context.Background(), tx, msg("a", "k", "1")); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if n := backlog(o); n != 0 {
		t.Errorf("backlog = %d after a rollback, want 0", n)
	}
}

// slowWriter holds a produce until released and says whether its context
// was cancelled meanwhile, as kafka-go's writer would deliver the batch
// anyway.
type slowWriter struct {
	*fakeWriter
	entered, release chan struct{}
	cancelled        bool
}

func (w *slowWriter) WriteMessages(ctx context.Context, msgs ...kafka.Message) error {
	w.entered <- struct{}{}
	<-w.release
	w.cancelled = ctx.Err() != nil
	return w.fakeWriter.WriteMessages(ctx, msgs...)
}

func TestAStopDuringAProduceDoesNotSendItAgain(t *testing.T) {
	db, o := openOutbox(t)
	q := commit(t, db, o, msg("a", "k", "1"))
	w := &slowWriter{fakeWriter: newFakeWriter(), entered: make(chan struct{}), release: make(chan struct{})}
	r := NewRelay(o, w, slog.New(slog.DiscardHandler))
	r.Committed(q)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	<-w.entered
	cancel() // SIGTERM while the broker is writing the batch
	close(w.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if w.cancelled {
		t.Error("the produce in progress was cancelled by the stop; kafka-go may deliver it anyway")
	}
	if got := w.values(); strings.Join(got, ",") != "1" {
		t.Errorf("produced %v, want record 1 once", got)
	}
	if n := backlog(o); n != 0 {
		t.Errorf("backlog = %d, want 0: the acknowledged record was not deleted", n)
	}
}

// TestARefusedPartitionOrTopicDoesNotHoldBackTheOthers: more than a batch of
// records the broker refuses forever sit at the head of the outbox; records
// of other keys and topics behind them are still produced, readiness names
// the refused topic without a key or value, and once the broker takes the
// refused records they go out each once, in commit order per key.
func TestARefusedPartitionOrTopicDoesNotHoldBackTheOthers(t *testing.T) {
	refused := errors.New("dial tcp 10.0.0.7:9092: connection refused")
	tests := []struct {
		name  string
		stuck func(key, value string) Message // a record of the refused stream
		set   func(w *fakeWriter)             // the broker refusing it
		want  string                          // in readiness
	}{{
		name:  "one partition refuses its keys",
		stuck: func(key, value string) Message { return msg("orders", "stuck-"+key, value) },
		set: func(w *fakeWriter) {
			w.set(nil, func(m kafka.Message) bool { return strings.HasPrefix(string(m.Key), "stuck-") })
		},
		want: "cannot produce to orders for",
	}, {
		name:  "a topic refuses each record",
		stuck: func(key, value string) Message { return msg("refused", key, value) },
		set:   func(w *fakeWriter) { w.set(nil, func(m kafka.Message) bool { return m.Topic == "refused" }) },
		want:  "cannot produce to refused for",
	}, {
		name:  "a topic fails the whole call",
		stuck: func(key, value string) Message { return msg("gone", key, value) },
		set: func(w *fakeWriter) {
			w.mu.Lock()
			defer w.mu.Unlock()
			w.failCall = func(msgs []kafka.Message) error {
				for _, m := range msgs {
					if m.Topic == "gone" {
						return fmt.Errorf("produce to gone: %w", refused)
					}
				}
				return nil
			}
		},
		want: "cannot produce to gone for",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, o := openOutbox(t)
			w := newFakeWriter()
			tt.set(w)
			r := NewRelay(o, w, slog.New(slog.DiscardHandler))
			r.Batch = 4
			r.RetryMax = 10 * time.Millisecond
			const stuck = 7 // more than a batch, at the head of the outbox
			for i := range stuck {
				commit(t, db, o, tt.stuck(fmt.Sprint(i%3), fmt.Sprintf("v-stuck-%d-%d", i%3, i)))
			}
			running(t, r)
			r.Committed(commit(t, db, o, msg("orders", "free", "v-other-key"), msg("other", "free", "v-other-topic")))
			waitFor(t, "the records behind the refused ones produced", func() bool {
				got := strings.Join(w.values(), ",")
				return strings.Contains(got, "v-other-key") && strings.Contains(got, "v-other-topic")
			})
			waitFor(t, "the produced records deleted", func() bool { return backlog(o) == stuck })
			waitFor(t, "readiness names the refused topic", func() bool {
				err := r.Ready(context.Background())
				return err != nil && strings.Contains(err.Error(), tt.want)
			})
			err := r.Ready(context.Background())
			if !strings.Contains(err.Error(), fmt.Sprintf("%d records waiting", stuck)) {
				t.Errorf("Ready = %q, want the %d waiting records counted", err, stuck)
			}
			for _, private := range []string{"stuck-", "v-", "10.0.0.7"} {
				if strings.Contains(err.Error(), private) {
					t.Errorf("Ready = %q, names %q: readiness carries no keys, values or addresses", err, private)
				}
			}
			for _, v := range w.values() {
				if strings.HasPrefix(v, "v-stuck-") {
					t.Fatalf("produced %v, want none of the refused records", w.values())
				}
			}

			w.mu.Lock()
			w.failAt, w.failCall = nil, nil
			w.mu.Unlock()
			waitFor(t, "the refused records produced once taken, and all deleted", func() bool { return len(w.values()) == stuck+2 && backlog(o) == 0 })
			perKey := map[string][]int{}
			for _, v := range w.values() {
				var key, i int
				if _, err := fmt.Sscanf(v, "v-stuck-%d-%d", &key, &i); err == nil {
					perKey[fmt.Sprint(key)] = append(perKey[fmt.Sprint(key)], i)
				}
			}
			want := map[string][]int{"0": {0, 3, 6}, "1": {1, 4}, "2": {2, 5}}
			if fmt.Sprint(perKey) != fmt.Sprint(want) {
				t.Errorf("refused records produced per key %v, want %v: each once, in commit order", perKey, want)
			}
			if err := r.Ready(context.Background()); err != nil {
				t.Errorf("Ready = %v once the broker takes everything, want nil", err)
			}
		})
	}
}

// TestAHoldEndsWhenItsRecordsAreGone: a key held back after a refusal whose
// records another instance sent and deleted meanwhile (it led for a while)
// no longer makes the relay not ready: nothing of it waits.
func TestAHoldEndsWhenItsRecordsAreGone(t *testing.T) {
	db, o := openOutbox(t)
	w := newFakeWriter()
	w.set(nil, func(m kafka.Message) bool { return string(m.Key) == "refused" })
	r := NewRelay(o, w, slog.New(slog.DiscardHandler))
	r.RetryMax = 10 * time.Millisecond
	running(t, r)
	r.Committed(commit(t, db, o, msg("a", "refused", "1")))
	waitFor(t, "readiness names the refused topic", func() bool { return r.Ready(context.Background()) != nil })
	if _, err := db.ExecContext(context.Background(), `DELETE FROM outbox`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "ready once nothing of the refused key waits", func() bool { return r.Ready(context.Background()) == nil })
}

// TestADeniedProduceWaitsInTheOutboxAndReadinessNamesTheGrant: a broker
// whose ACLs refuse the relay's principal a topic (as a producer finds it
// out, in the metadata for the topic) keeps the record in the outbox, not
// dropped, not deleted; /readyz names the topic, Kafka's code and the
// principal, so the operator reads which grant is missing; once granted,
// the record goes.
func TestADeniedProduceWaitsInTheOutboxAndReadinessNamesTheGrant(t *testing.T) {
	db, o := openOutbox(t)
	w := newFakeWriter()
	w.set(fmt.Errorf("produce to orders.status: %w", kafka.TopicAuthorizationFailed), nil)
	r := NewRelay(o, w, slog.New(slog.DiscardHandler))
	r.Principal = "stock-service"
	r.RetryMax = 10 * time.Millisecond
	running(t, r)
	r.Committed(commit(t, db, o, msg("orders.status", "order-denied", `{"status":"PAID"}`)))

	const want = "orders.status: TOPIC_AUTHORIZATION_FAILED for User:stock-service"
	waitFor(t, "readiness names the refused topic", func() bool { return r.Ready(context.Background()) != nil })
	if err := r.Ready(context.Background()); !strings.Contains(err.Error(), want) {
		t.Fatalf("Ready = %q, want it to name %q", err, want)
	}
	if n := backlog(o); n != 1 {
		t.Errorf("outbox holds %d records while the produce is denied, want 1: a denied record waits", n)
	}
	if got := w.values(); len(got) != 0 {
		t.Errorf("produced %v while denied, want nothing", got)
	}

	w.set(nil, nil) // the ACL is granted
	waitFor(t, "the record produced and deleted once granted", func() bool { return len(w.values()) == 1 && backlog(o) == 0 })
	if err := r.Ready(context.Background()); err != nil {
		t.Errorf("Ready = %v once granted, want nil", err)
	}
}

// TestPutReturnsEachRecordsSeq: the relay deletes what the broker took by
// the seq Put returned (on SQLite the insert's LastInsertId), so each must
// be its own row's, also after rows rolled back to a savepoint and
// deleted ones.
func TestPutReturnsEachRecordsSeq(t *testing.T) {
	ctx := context.Background()
	db, o := openOutbox(t)
	commit(t, db, o, msg("a", "k0", "gone")) // takes a seq, then deleted below
	if _, err := db.ExecContext(ctx, `DELETE FROM outbox`); err != nil {
		t.Fatal(err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SAVEPOINT s`); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Put(ctx, tx, msg("a", "k1", "rolled back")); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT s`); err != nil {
		t.Fatal(err)
	}
	queued, err := o.Put(ctx, tx, msg("a", "k2", "v2"), msg("b", "k3", "v3"), msg("a", "k4", "v4"))
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	for _, q := range queued {
		var value string
		if err := db.QueryRowContext(ctx, `SELECT value FROM outbox WHERE seq = ?`, q.seq).Scan(&value); err != nil {
			t.Fatalf("seq %d of %s: %v", q.seq, q.msg.Value, err)
		}
		if value != string(q.msg.Value) {
			t.Errorf("row of seq %d holds %q, want %q", q.seq, value, q.msg.Value)
		}
	}
}

// TestPutKeepsEachRecordsHeaders: records sharing one headers slice have
// it encoded once; each record still gets its own headers, or none.
func TestPutKeepsEachRecordsHeaders(t *testing.T) {
	ctx := context.Background()
	db, o := openOutbox(t)
	trace := []kafka.Header{{Key: "traceparent", Value: []byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")}}
	other := []kafka.Header{{Key: "traceparent", Value: []byte("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")}} // as long as trace
	with := func(m Message, h []kafka.Header) Message { m.Headers = h; return m }
	commit(t, db, o, with(msg("a", "k1", "1"), trace), msg("a", "k2", "2"), with(msg("a", "k3", "3"), trace),
		with(msg("a", "k4", "4"), other), with(msg("a", "k5", "5"), trace[:0]))
	got, err := o.pending(ctx, o.db, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]kafka.Header{"1": trace, "2": nil, "3": trace, "4": other, "5": nil}
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for _, q := range got {
		if g, w := fmt.Sprint(q.msg.Headers), fmt.Sprint(want[string(q.msg.Value)]); g != w {
			t.Errorf("record %s: headers %s, want %s", q.msg.Value, g, w)
		}
	}
}
