package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kafkakit/kit/harness/postgres"
	"github.com/kafkakit/kit/services/platform/outbox"
	"github.com/kafkakit/kit/services/platform/sqldb"
)

// recorder is a broker stand-in that keeps what each relay produced.
type recorder struct {
	mu   sync.Mutex
	got  map[string][]string // relay name -> values
	news chan struct{}
}

func (r *recorder) writer(name string) outbox.Writer {
	return writerFunc(func(_ context.Context, msgs ...kafka.Message) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, m := range msgs {
			r.got[name] = append(r.got[name], string(m.Value))
		}
		select {
		case r.news <- struct{}{}:
		default:
		}
		return nil
	})
}

type writerFunc func(context.Context, ...kafka.Message) error

func (f writerFunc) WriteMessages(ctx context.Context, msgs ...kafka.Message) error {
	return f(ctx, msgs...)
}

// waitFor waits until done holds for what was produced, by any relay.
func (r *recorder) waitFor(t *testing.T, done func(map[string][]string) bool) map[string][]string {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		r.mu.Lock()
		snapshot := map[string][]string{}
		for k, v := range r.got {
			snapshot[k] = append([]string(nil), v...)
		}
		r.mu.Unlock()
		if done(snapshot) {
			return snapshot
		}
		select {
		case <-r.news:
		case <-deadline:
			t.Fatalf("gave up waiting; produced so far: %v", snapshot)
		}
	}
}

func total(got map[string][]string) int {
	n := 0
	for _, v := range got {
		n += len(v)
	}
	return n
}

// TestOneRelayLeadsASharedOutbox: two instances' relays on one PostgreSQL
// outbox — one produces everything, woken by the other instance's commits
// too; once it stops, the other takes over; no record goes out twice.
func TestOneRelayLeadsASharedOutbox(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := postgres.Start(ctx, postgres.Options{})
	if errors.Is(err, postgres.ErrMissingTool) {
		t.Skip("SKIP outbox lease on PostgreSQL: no PostgreSQL server binaries here (apt-get install postgresql)")
	}
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())
	dsn, err := srv.CreateDatabase(ctx, "lease")
	if err != nil {
		t.Fatal(err)
	}
	open := func() (*sqldb.DB, *outbox.Outbox) {
		db, err := sqldb.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if err := db.CreateSchema(ctx, outbox.Schema(db.Dialect)); err != nil {
			t.Fatal(err)
		}
		return db, outbox.New(db)
	}
	commit := func(db *sqldb.DB, o *outbox.Outbox, value string) {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := o.Put(ctx, tx, outbox.Message{Topic: "t", Key: []byte("k"), Value: []byte(value)}); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	rec := &recorder{got: map[string][]string{}, news: make(chan struct{}, 1)}
	dbA, obA := open()
	dbB, obB := open()
	log := slog.New(slog.DiscardHandler)

	// a starts first and leads: its first record proves it.
	runA, stopA := context.WithCancel(ctx)
	doneA := make(chan struct{})
	go func() { defer close(doneA); _ = outbox.NewRelay(obA, rec.writer("a"), log).Run(runA) }()
	commit(dbA, obA, "1")
	rec.waitFor(t, func(got map[string][]string) bool { return len(got["a"]) == 1 })
	doneB := make(chan struct{})
	go func() { defer close(doneB); _ = outbox.NewRelay(obB, rec.writer("b"), log).Run(ctx) }()
	defer func() { cancel(); <-doneB }()

	// Commits on b's instance, which kick only b's relay: a must be woken
	// by PostgreSQL's notification, and b must not produce them.
	commit(dbB, obB, "2")
	commit(dbB, obB, "3")
	got := rec.waitFor(t, func(got map[string][]string) bool { return total(got) >= 3 })
	if len(got["b"]) != 0 || len(got["a"]) != 3 {
		t.Fatalf("produced %v, want everything from a, the leader", got)
	}

	// a's instance shuts down: b takes over, including what a left.
	stopA()
	<-doneA
	commit(dbB, obB, "4")
	got = rec.waitFor(t, func(got map[string][]string) bool { return total(got) >= 4 })
	if fmt.Sprint(got) != "map[a:[1 2 3] b:[4]]" {
		t.Errorf("produced %v, want a: 1 2 3 and, after a stopped, b: 4 — each record once", got)
	}
	deadline := time.Now().Add(30 * time.Second)
	for n, err := obB.Backlog(ctx); n != 0; n, err = obB.Backlog(ctx) {
		if err != nil || time.Now().After(deadline) {
			t.Fatalf("backlog = %d (%v), want 0 once produced", n, err)
		}
		<-time.After(20 * time.Millisecond) // poll, with the deadline above
	}
}
