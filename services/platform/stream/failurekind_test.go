package stream

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/segmentio/kafka-go"
	_ "modernc.org/sqlite"
)

// The kind of a failure a readiness body shows is fixed text chosen by the
// error's type, whatever the error says around it.
func TestFailureKindIsFixedTextByType(t *testing.T) {
	order := uuid(4242)
	wrap := func(err error) error { return fmt.Errorf("order %s: %w", order, err) }
	for _, tc := range []struct {
		err  error
		want string
	}{
		{wrap(context.DeadlineExceeded), "timed out"},
		{wrap(kafka.NotLeaderForPartition), "broker: Not Leader For Partition"},
		{wrap(&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}), "connection refused"},
		{wrap(sqlState("40P01")), "database error (SQLSTATE 40P01)"},
		{deadLetterError{topic: "t.dlq", err: wrap(kafka.MessageSizeTooLarge)}, "dead-lettering failed: broker: Message Size Too Large"},
		{wrap(errors.New("row " + order + " is locked")), "the handler failed (the error is in the service log)"},
	} {
		if got := failureKind(tc.err); got != tc.want {
			t.Errorf("failureKind(%q) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// sqlState stands in for a PostgreSQL error (pgconn.PgError has SQLState).
type sqlState string

func (s sqlState) Error() string {
	return "ERROR: invalid input syntax for type uuid: \"abc\" (SQLSTATE " + string(s) + ")"
}
func (s sqlState) SQLState() string { return string(s) }

// A real SQLite "database is locked", known by its driver's type without
// the stream package importing the driver.
func TestFailureKindNamesALockedSQLiteDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "busy.db")
	open := func() *sql.Conn {
		db, err := sql.Open("sqlite", path) // no busy timeout: a second writer fails at once
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		conn, err := db.Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	first, second := open(), open()
	if _, err := first.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	_, err := second.ExecContext(context.Background(), "BEGIN IMMEDIATE")
	if err == nil {
		t.Fatal("a second writer began while the first held the database")
	}
	if got, want := failureKind(fmt.Errorf("reserve order %s: %w", uuid(7), err)), "database is locked (SQLITE_BUSY)"; got != want {
		t.Errorf("failureKind(%q) = %q, want %q", err, got, want)
	}
}
