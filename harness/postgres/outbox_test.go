package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
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

// startDatabase starts a PostgreSQL server for the test and creates
// database name on it, returning its DSN; it skips the test, naming what
// goes untested, where the machine has no PostgreSQL server binaries.
func startDatabase(ctx context.Context, t *testing.T, what, name string) (*postgres.Server, string) {
	t.Helper()
	srv, err := postgres.Start(ctx, postgres.Options{})
	if errors.Is(err, postgres.ErrMissingTool) {
		t.Skip("SKIP " + what + " on PostgreSQL: no PostgreSQL server binaries here (apt-get install postgresql)")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(context.Background()) })
	dsn, err := srv.CreateDatabase(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	return srv, dsn
}

// openOutbox opens dsn for the test with the outbox's table created.
func openOutbox(ctx context.Context, t *testing.T, dsn string) (*sqldb.DB, *outbox.Outbox) {
	t.Helper()
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

// TestOneRelayLeadsASharedOutbox: two instances' relays on one PostgreSQL
// outbox — one produces everything, woken by the other instance's commits
// too; once it stops, the other takes over; no record goes out twice.
func TestOneRelayLeadsASharedOutbox(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, dsn := startDatabase(ctx, t, "outbox lease", "lease")
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
	dbA, obA := openOutbox(ctx, t, dsn)
	dbB, obB := openOutbox(ctx, t, dsn)
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

// cutProxy forwards connections to PostgreSQL and can cut one without its
// client hearing of it: it closes the server's side, so the session ends
// and its advisory lock goes, and leaves the client's side open with
// nothing coming through — a connection lost on the way, as a failing
// network or a server ending a session it thinks gone leaves it.
type cutProxy struct {
	ln       net.Listener
	upstream string

	mu    sync.Mutex
	links map[int]*link // by the port the proxy's side of the session uses
}

type link struct {
	client, server net.Conn
	cut            atomic.Bool
}

func startCutProxy(t *testing.T, upstream string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, upstream: upstream, links: map[int]*link{}}
	t.Cleanup(p.close)
	go p.accept()
	return p
}

func (p *cutProxy) accept() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.upstream)
		if err != nil {
			client.Close()
			continue
		}
		l := &link{client: client, server: server}
		p.mu.Lock()
		p.links[server.LocalAddr().(*net.TCPAddr).Port] = l
		p.mu.Unlock()
		pipe := func(to, from net.Conn) {
			_, _ = io.Copy(to, from)
			if !l.cut.Load() { // a cut link's client side stays open, silent
				client.Close()
				server.Close()
			}
		}
		go pipe(server, client)
		go pipe(client, server)
	}
}

// cut cuts the link whose server side uses port; false if it has none.
func (p *cutProxy) cut(port int) bool {
	p.mu.Lock()
	l := p.links[port]
	p.mu.Unlock()
	if l == nil {
		return false
	}
	l.cut.Store(true)
	l.server.Close()
	return true
}

func (p *cutProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.links {
		l.client.Close()
		l.server.Close()
	}
}

// logBuffer is a log a test can read while the code under test writes it.
// A write signals news, when set, so that a wait on the log's lines wakes
// up (the recorder's news channel: a wait for records or a line).
type logBuffer struct {
	mu   sync.Mutex
	buf  strings.Builder
	news chan struct{}
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	n, err := b.buf.Write(p)
	b.mu.Unlock()
	if b.news != nil {
		select {
		case b.news <- struct{}{}:
		default:
		}
	}
	return n, err
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestALeaderThatLostItsLeaseStopsProducing: the leading relay's lease
// session ends without its client hearing of it (its connection is cut on
// the way) and the other instance takes the lease. The old leader must not
// produce from then on — not even what its own instance commits and hands
// it — or two relays send the same rows side by side. It finds out by
// asking PostgreSQL before its next produce.
func TestALeaderThatLostItsLeaseStopsProducing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, dsn := startDatabase(ctx, t, "outbox lease loss", "lease_cut")
	proxy := startCutProxy(t, srv.Addr())
	commit := func(db *sqldb.DB, o *outbox.Outbox, value string) []outbox.Queued {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		q, err := o.Put(ctx, tx, outbox.Message{Topic: "inventory.updated", Key: []byte("sku"), Value: []byte(value)})
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		return q
	}
	// leaseHolder is the session holding the outbox lease: its backend and
	// the port its client connects from (the proxy's, for a).
	admin, _ := openOutbox(ctx, t, dsn)
	leaseHolder := func() (pid, port int, err error) {
		err = admin.QueryRowContext(ctx, `SELECT a.pid, a.client_port FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
			WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND ((l.classid::bigint << 32) | l.objid::bigint) = $1`,
			int64(0x6b61666b61)).Scan(&pid, &port)
		return pid, port, err
	}

	rec := &recorder{got: map[string][]string{}, news: make(chan struct{}, 1)}
	dbA, obA := openOutbox(ctx, t, strings.Replace(dsn, srv.Addr(), proxy.ln.Addr().String(), 1)) // a reaches PostgreSQL through the proxy
	dbB, obB := openOutbox(ctx, t, dsn)
	// The wait below ends on a's line as well as on records: waking on
	// records alone, it slept through a line written after b's last record
	// and gave up 30 s later with the right records (seen under make test).
	logA := &logBuffer{news: rec.news}
	relayA := outbox.NewRelay(obA, rec.writer("a"), slog.New(slog.NewTextHandler(logA, nil)))
	relayB := outbox.NewRelay(obB, rec.writer("b"), slog.New(slog.DiscardHandler))
	run := func(r *outbox.Relay) {
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); _ = r.Run(runCtx) }()
		t.Cleanup(func() { stop(); <-done })
	}

	// a leads: its first record proves it; then b stands by.
	run(relayA)
	commit(dbA, obA, "1")
	rec.waitFor(t, func(got map[string][]string) bool { return len(got["a"]) == 1 })
	run(relayB)
	// ... and deleted it: a record acknowledged but not yet deleted when
	// the lease goes is sent again by the next leader, a duplicate the
	// consumers absorb (as after a crash between the two), not this test's
	// subject.
	deadline := time.Now().Add(30 * time.Second)
	for n, err := obA.Backlog(ctx); n != 0; n, err = obA.Backlog(ctx) {
		if err != nil || time.Now().After(deadline) {
			t.Fatalf("backlog = %d (%v), want 0 once a produced record 1", n, err)
		}
		<-time.After(20 * time.Millisecond) // poll, with the deadline above
	}

	// a's lease session is cut on the way; PostgreSQL ends it and b takes
	// the lease, while a has not heard a thing.
	pidA, port, err := leaseHolder()
	if err != nil {
		t.Fatalf("find a's lease session: %v", err)
	}
	if !proxy.cut(port) {
		t.Fatalf("the lease session (port %d) is not a's, through the proxy", port)
	}
	deadline = time.Now().Add(30 * time.Second)
	for pid, _, err := leaseHolder(); err != nil || pid == pidA; pid, _, err = leaseHolder() {
		if time.Now().After(deadline) {
			t.Fatalf("b never took the lease after a's session ended (holder %d, %v)", pid, err)
		}
		<-time.After(20 * time.Millisecond) // poll, with the deadline above
	}

	// a's instance commits and hands the record to its relay, which
	// believes it still leads; b's instance commits too.
	relayA.Committed(commit(dbA, obA, "2"))
	relayB.Committed(commit(dbB, obB, "3"))
	got := rec.waitFor(t, func(got map[string][]string) bool {
		return (len(got["a"]) > 1 || strings.Contains(logA.String(), "outbox lease lost")) && len(got["b"]) >= 2
	})
	if fmt.Sprint(got) != "map[a:[1] b:[2 3]]" {
		t.Errorf("produced %v, want a: 1 and, once b took the lease, b: 2 3 — a stops producing the moment its lease is gone", got)
	}
}
