package main

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/outbox"
	"github.com/kafkakit/kit/services/platform/sqldb"
)

// commitFault is what the next COMMIT does, as PostgreSQL's connection
// can be lost around it: the client gets an error either way, and cannot
// tell from it whether the server committed.
type commitFault int32

const (
	commitNormally       commitFault = iota
	commitThenLose                   // the server committed; the reply was lost
	loseBeforeCommit                 // the server never saw COMMIT and rolled back
	loseBeforeAndQueries             // as loseBeforeCommit, and every statement after it fails too
)

// faultyDriver wraps SQLite's driver so that a test can break the next
// COMMIT (and the queries after it) the way a lost connection does.
type faultyDriver struct {
	driver.Driver
	fault  *atomic.Int32
	broken *atomic.Bool // queries fail (the database unreachable)
}

func (d faultyDriver) Open(name string) (driver.Conn, error) {
	c, err := d.Driver.Open(name)
	if err != nil {
		return nil, err
	}
	return &faultyConn{Conn: c, d: d}, nil
}

type faultyConn struct {
	driver.Conn
	d faultyDriver
}

var errConnLost = errors.New("unexpected EOF: connection lost")

func (c *faultyConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if c.d.broken.Load() {
		return nil, errConnLost
	}
	tx, err := c.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &faultyTx{Tx: tx, d: c.d}, nil
}

func (c *faultyConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, query)
}

func (c *faultyConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if c.d.broken.Load() {
		return nil, errConnLost
	}
	return c.Conn.(driver.ExecerContext).ExecContext(ctx, query, args)
}

func (c *faultyConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if c.d.broken.Load() {
		return nil, errConnLost
	}
	return c.Conn.(driver.QueryerContext).QueryContext(ctx, query, args)
}

type faultyTx struct {
	driver.Tx
	d faultyDriver
}

func (tx *faultyTx) Commit() error {
	switch commitFault(tx.d.fault.Swap(int32(commitNormally))) {
	case commitThenLose:
		if err := tx.Tx.Commit(); err != nil {
			return err
		}
		return errConnLost
	case loseBeforeCommit:
		_ = tx.Tx.Rollback()
		return errConnLost
	case loseBeforeAndQueries:
		_ = tx.Tx.Rollback()
		tx.d.broken.Store(true)
		return errConnLost
	}
	return tx.Tx.Commit()
}

// openFaultyStore is an orders store on SQLite whose next COMMIT can be
// made to fail as a lost connection does.
func openFaultyStore(t *testing.T) (*Store, *atomic.Int32, *atomic.Bool) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "orders.db")
	probe, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	d := faultyDriver{Driver: probe.Driver(), fault: &atomic.Int32{}, broken: &atomic.Bool{}}
	probe.Close()
	db := sql.OpenDB(connector{path: path, d: d})
	db.SetMaxOpenConns(1)
	sdb := &sqldb.DB{DB: db, Dialect: sqldb.SQLite}
	s, err := OpenStore(context.Background(), sdb, outbox.New(sdb), events.TopicOrdersCreated, func([]outbox.Queued) {})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, d.fault, d.broken
}

type connector struct {
	path string
	d    faultyDriver
}

func (c connector) Connect(context.Context) (driver.Conn, error) { return c.d.Open(c.path) }
func (c connector) Driver() driver.Driver                        { return c.d }

// TestPlaceOrderSettlesAnAmbiguousCommit: a COMMIT whose connection is
// lost may or may not have happened. The old code answered 503 ("retry")
// even when it had: the relay then sent the order, and the client's retry
// placed a second one.
func TestPlaceOrderSettlesAnAmbiguousCommit(t *testing.T) {
	tests := []struct {
		name       string
		fault      commitFault
		wantStatus int
		wantQueued int
		wantInBody string
	}{
		{"committed, reply lost", commitThenLose, http.StatusCreated, 1, `"orderId"`},
		{"lost before the commit", loseBeforeCommit, http.StatusServiceUnavailable, 0, "retry later"},
		{"lost, and the database stays silent", loseBeforeAndQueries, http.StatusServiceUnavailable, 0, "did not confirm whether the order was recorded"},
		{"keyed, lost, and the database stays silent", loseBeforeAndQueries, http.StatusServiceUnavailable, 0, "retry with the same Idempotency-Key"},
		{"keyed, committed, reply lost", commitThenLose, http.StatusCreated, 1, `"orderId"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, fault, broken := openFaultyStore(t)
			fault.Store(int32(tt.fault))
			var key []string
			if strings.HasPrefix(tt.name, "keyed") {
				key = []string{"Idempotency-Key", "k-" + strings.ReplaceAll(tt.name, " ", "-")}
			}
			rec := post(t, newTestServer(s), "application/json", validBody, key...)
			if rec.Code != tt.wantStatus || !strings.Contains(rec.Body.String(), tt.wantInBody) {
				t.Fatalf("status = %d, body %s; want %d saying %s", rec.Code, rec.Body, tt.wantStatus, tt.wantInBody)
			}
			if tt.wantStatus == http.StatusServiceUnavailable && rec.Header().Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
			broken.Store(false)
			got := queued(t, s)
			if len(got) != tt.wantQueued {
				t.Fatalf("%d orders recorded for the relay, want %d", len(got), tt.wantQueued)
			}
			var orders int
			if err := s.db.QueryRow(`SELECT COUNT(*) FROM orders`).Scan(&orders); err != nil || orders != tt.wantQueued {
				t.Fatalf("%d orders in the table (%v), want %d: asking must leave nothing behind", orders, err, tt.wantQueued)
			}
			if tt.wantQueued == 1 && got[0].OrderID != orderID(t, rec) {
				t.Errorf("answered order %s, recorded %s", orderID(t, rec), got[0].OrderID)
			}
			if key == nil {
				return
			}
			// What the client was told to do: retry with the same key. It
			// gets the order recorded, and one order in all.
			retry := post(t, newTestServer(s), "application/json", validBody, key...)
			if retry.Code != http.StatusCreated {
				t.Fatalf("retry with the same key: %d %s, want 201", retry.Code, retry.Body)
			}
			if got := queued(t, s); len(got) != 1 || got[0].OrderID != orderID(t, retry) {
				t.Errorf("after the retry: %d orders recorded, answered %s; want the one answered", len(got), orderID(t, retry))
			}
			if tt.wantQueued == 1 && (orderID(t, retry) != orderID(t, rec) || retry.Header().Get("Idempotent-Replayed") != "true") {
				t.Errorf("retry answered %s (replayed %q), want the first answer %s replayed", orderID(t, retry), retry.Header().Get("Idempotent-Replayed"), orderID(t, rec))
			}
		})
	}
}
