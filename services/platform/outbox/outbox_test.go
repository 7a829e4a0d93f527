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
	ctx := context.Background()
	db, err := sqldb.Open(ctx, filepath.Join(t.TempDir(), "outbox.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.ExecContext(ctx, Schema(db.Dialect)); err != nil {
		t.Fatal(err)
	}
	return db, New(db)
}

// commit queues msgs in a transaction of their own.
func commit(t *testing.T, db *sqldb.DB, o *Outbox, msgs ...Message) {
	t.Helper()
	tx, err := db.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Put(context.Background(), tx, msgs...); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// fakeWriter records what it was asked to produce and fails on demand.
type fakeWriter struct {
	mu      sync.Mutex
	got     []kafka.Message
	fail    error
	failAt  func(m kafka.Message) bool // per record, for partial failures
	written chan struct{}
}

func (w *fakeWriter) WriteMessages(ctx context.Context, msgs ...kafka.Message) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fail != nil {
		return w.fail
	}
	if w.failAt != nil {
		errs := make(kafka.WriteErrors, len(msgs))
		failed := false
		for i, m := range msgs {
			if w.failAt(m) {
				errs[i], failed = kafka.NotEnoughReplicas, true
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
	if w.written != nil {
		select {
		case w.written <- struct{}{}:
		default:
		}
	}
	return nil
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

func msg(topic, key, value string) Message {
	return Message{Topic: topic, Key: []byte(key), Value: []byte(value)}
}

func TestFlushProducesInCommitOrderAndDeletesWhatWasAcknowledged(t *testing.T) {
	db, o := openOutbox(t)
	commit(t, db, o, msg("a", "k1", "1"), msg("b", "k2", "2"))
	commit(t, db, o, Message{Topic: "a", Key: []byte("k1"), Value: []byte("3"),
		Headers: []kafka.Header{{Key: "traceparent", Value: []byte("00-abc-def-01")}}})
	w := &fakeWriter{}
	r := NewRelay(o, w, slog.New(slog.DiscardHandler))
	before := time.Now()
	sent, err := r.flush(context.Background())
	if err != nil || sent != 3 {
		t.Fatalf("flush = %d, %v; want 3, nil", sent, err)
	}
	for i, m := range w.got {
		if m.Time.Before(before) {
			t.Errorf("record %d sent with time %v, want the time it was sent (CreateTime)", i, m.Time)
		}
	}
	if got := strings.Join(w.values(), ","); got != "1,2,3" {
		t.Errorf("produced %s, want 1,2,3 (commit order)", got)
	}
	if h := w.got[2].Headers; len(h) != 1 || h[0].Key != "traceparent" || string(h[0].Value) != "00-abc-def-01" {
		t.Errorf("headers = %v, want the queued traceparent", h)
	}
	if w.got[1].Topic != "b" || string(w.got[1].Key) != "k2" {
		t.Errorf("record 2 = %s/%s, want topic b key k2", w.got[1].Topic, w.got[1].Key)
	}
	if n, _ := o.Backlog(context.Background()); n != 0 {
		t.Errorf("backlog = %d after an acknowledged produce, want 0", n)
	}
}

func TestFlushKeepsWhatTheBrokerDidNotTake(t *testing.T) {
	db, o := openOutbox(t)
	commit(t, db, o, msg("a", "k", "1"), msg("a", "k", "2"))
	w := &fakeWriter{fail: errors.New("broker unreachable")}
	r := NewRelay(o, w, slog.New(slog.DiscardHandler))
	if _, err := r.flush(context.Background()); err == nil {
		t.Fatal("flush = nil although the produce failed")
	}
	if n, _ := o.Backlog(context.Background()); n != 2 {
		t.Fatalf("backlog = %d after a failed produce, want 2 (nothing deleted)", n)
	}
	w.fail = nil
	if _, err := r.flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(w.values(), ","); got != "1,2" {
		t.Errorf("produced %s once the broker was back, want 1,2", got)
	}
}

func TestFlushDeletesOnlyThePartitionsThatTookTheirRecords(t *testing.T) {
	db, o := openOutbox(t)
	commit(t, db, o, msg("a", "ok", "1"), msg("a", "short", "2"), msg("a", "ok", "3"))
	w := &fakeWriter{failAt: func(m kafka.Message) bool { return string(m.Key) == "short" }}
	r := NewRelay(o, w, slog.New(slog.DiscardHandler))
	if _, err := r.flush(context.Background()); err == nil {
		t.Fatal("flush = nil although one record failed")
	}
	left, err := o.pending(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 || string(left[0].msg.Value) != "2" {
		t.Fatalf("left in the outbox: %v, want only record 2", left)
	}
}

func TestRunWakesOnKickAndSaysWhenItCannotProduce(t *testing.T) {
	db, o := openOutbox(t)
	w := &fakeWriter{written: make(chan struct{}, 1)}
	r := NewRelay(o, w, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	commit(t, db, o, msg("a", "k", "1"))
	r.Kick()
	select {
	case <-w.written:
	case <-time.After(10 * time.Second):
		t.Fatal("relay did not produce a kicked record")
	}
	if err := r.Ready(ctx); err != nil {
		t.Errorf("Ready = %v while producing, want nil", err)
	}

	w.mu.Lock()
	w.fail = errors.New("dial tcp 10.0.0.7:9092: connection refused")
	w.mu.Unlock()
	commit(t, db, o, msg("a", "k", "2"))
	r.Kick()
	deadline := time.After(10 * time.Second)
	for r.Ready(ctx) == nil {
		select {
		case <-deadline:
			t.Fatal("Ready stayed nil while the broker refused every produce")
		case <-time.After(5 * time.Millisecond):
		}
	}
	err := r.Ready(ctx)
	if !strings.Contains(err.Error(), "1 records waiting") || strings.Contains(err.Error(), "10.0.0.7") {
		t.Errorf("Ready = %q, want the backlog named and no internal address", err)
	}
}

func TestRunDrainsAtShutdown(t *testing.T) {
	db, o := openOutbox(t)
	for i := range 1200 { // more than two batches
		commit(t, db, o, msg("a", fmt.Sprint(i%7), fmt.Sprint(i)))
	}
	w := &fakeWriter{}
	r := NewRelay(o, w, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // shutting down before it even started
	if err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if n, _ := o.Backlog(context.Background()); n != 0 {
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
	if err := o.Put(context.Background(), tx, msg("a", "k", "1")); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if n, _ := o.Backlog(context.Background()); n != 0 {
		t.Errorf("backlog = %d after a rollback, want 0", n)
	}
}

// slowWriter holds a produce until released and says whether its context
// was cancelled meanwhile, as kafka-go's writer would deliver the batch
// anyway.
type slowWriter struct {
	fakeWriter
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
	commit(t, db, o, msg("a", "k", "1"))
	w := &slowWriter{entered: make(chan struct{}), release: make(chan struct{})}
	r := NewRelay(o, w, slog.New(slog.DiscardHandler))
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
	if n, _ := o.Backlog(context.Background()); n != 0 {
		t.Errorf("backlog = %d, want 0: the acknowledged record was not deleted", n)
	}
}
