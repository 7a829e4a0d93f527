package sqldb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kafkakit/kit/services/platform/sqldb/sqldbtest"
)

// A GroupWriter whose database stops answering — the link cut by a proxy
// that takes every byte and never replies, so TCP never times out — fails
// its changes once TxTimeout has passed, grouped or separate, readiness
// says the database is unreachable, and both work again once the link is
// back. It used to run each transaction on a
// context with no deadline, and Apply never returned: orders-api's
// POST /orders hung instead of answering 503.
func TestGroupWriterFailsWhenPostgresStopsAnswering(t *testing.T) {
	for _, separate := range []bool{false, true} {
		t.Run(fmt.Sprintf("separate=%v", separate), func(t *testing.T) {
			dsn := sqldbtest.Postgres(t)
			hole := newBlackhole(t, dsn)
			ctx := context.Background()
			db, err := Open(ctx, hole.dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			if err := db.CreateSchema(ctx, `CREATE TABLE IF NOT EXISTS t (id TEXT PRIMARY KEY)`); err != nil {
				t.Fatal(err)
			}
			insert := db.Rebind(`INSERT INTO t (id) VALUES (?)`)
			w, err := NewGroupWriter[struct{}](ctx, db, nil, insert)
			if err != nil {
				t.Fatal(err)
			}
			w.Separate = separate
			w.TxTimeout = 500 * time.Millisecond
			t.Cleanup(w.Close)
			put := func(id string) error {
				_, err := w.Apply(ctx, func(ctx context.Context, tx Tx) (struct{}, error) {
					_, err := tx.ExecContext(ctx, insert, id)
					return struct{}{}, err
				})
				return err
			}
			if err := put("before"); err != nil {
				t.Fatalf("with the link up: %v", err)
			}

			hole.cut()
			// Readiness says so, even asked with no deadline of its own (the
			// readiness handler passes the probe's context) and on a pooled
			// connection (asked first, before the changes time theirs out).
			ready := make(chan error, 1)
			go func() { ready <- db.Ready(ctx) }()
			select {
			case err := <-ready:
				if err == nil {
					t.Errorf("Ready with the database not answering = nil, want an error")
				}
			case <-time.After(time.Minute):
				hole.drop()
				t.Fatalf("Ready did not return a minute after the database stopped answering")
			}

			// Several at once: grouped they share a transaction, separate
			// each has its own connection (or waits for one).
			errs := make(chan error, 4)
			for i := range 4 {
				go func() { errs <- put(fmt.Sprint("cut-", i)) }()
			}
			// Far beyond TxTimeout: only a writer that never gives up
			// misses it.
			giveUp := time.After(time.Minute)
			for range 4 {
				select {
				case err := <-errs:
					if err == nil {
						t.Errorf("Apply with the database not answering = nil, want an error")
					}
				case <-giveUp:
					hole.drop() // so that Close, in the cleanup, does not wait forever too
					t.Fatalf("Apply did not return a minute after the database stopped answering (TxTimeout %v)", w.TxTimeout)
				}
			}

			hole.heal()
			// The pool must not keep handing out the dead connections:
			// each timed-out one is closed, so the next try gets a new one.
			deadline := time.Now().Add(time.Minute)
			for err := put("after"); err != nil; err = put("after") {
				if time.Now().After(deadline) {
					t.Fatalf("Apply still failing a minute after the link healed: %v", err)
				}
			}
			var n int
			if err := db.QueryRow(`SELECT COUNT(*) FROM t WHERE id LIKE 'cut-%'`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Errorf("%d changes applied while the link was cut, want 0 (each was answered with an error)", n)
			}
		})
	}
}

// blackhole is a TCP proxy to PostgreSQL that, once cut, accepts and
// reads every byte and answers none, in either direction — toxiproxy's
// "timeout 0" — so neither side sees an error, only silence. A connection
// open during a cut stays silent after it heals (its stream lost bytes);
// new ones go through.
type blackhole struct {
	dsn    string
	target string
	cutOff atomic.Bool
	broken atomic.Bool // dropped: every connection closed, new ones too

	mu     sync.Mutex
	conns  []net.Conn
	silent []*atomic.Bool // one per proxied connection
}

func newBlackhole(t *testing.T, dsn string) *blackhole {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &blackhole{target: u.Host}
	u.Host = ln.Addr().String()
	b.dsn = u.String()
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		b.drop()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			b.track(client)
			if b.broken.Load() {
				client.Close()
				continue
			}
			if b.cutOff.Load() {
				wg.Go(func() { _, _ = io.Copy(io.Discard, client) })
				continue
			}
			server, err := net.Dial("tcp", b.target)
			if err != nil {
				client.Close()
				continue
			}
			b.track(server)
			silent := new(atomic.Bool)
			b.mu.Lock()
			b.silent = append(b.silent, silent)
			b.mu.Unlock()
			wg.Go(func() { pipe(server, client, silent) })
			wg.Go(func() { pipe(client, server, silent) })
		}
	})
	return b
}

func (b *blackhole) track(c net.Conn) {
	b.mu.Lock()
	b.conns = append(b.conns, c)
	b.mu.Unlock()
}

// pipe copies from to to until silent, then swallows what from sends.
func pipe(to, from net.Conn, silent *atomic.Bool) {
	buf := make([]byte, 32<<10)
	for {
		n, err := from.Read(buf)
		if n > 0 && !silent.Load() {
			if _, werr := to.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				to.Close()
			}
			return
		}
	}
}

// cut makes the proxy silent, for the connections open and those to come.
func (b *blackhole) cut() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cutOff.Store(true)
	for _, s := range b.silent {
		s.Store(true)
	}
}

// heal lets new connections through; those open during the cut stay
// silent, so a client that keeps handing them out never recovers.
func (b *blackhole) heal() { b.cutOff.Store(false) }

// drop closes every connection, and those to come, as a link that breaks
// outright does.
func (b *blackhole) drop() {
	b.broken.Store(true)
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.conns {
		c.Close()
	}
}
