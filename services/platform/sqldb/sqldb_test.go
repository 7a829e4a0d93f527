package sqldb

import (
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestKind(t *testing.T) {
	tests := []struct {
		dsn     string
		want    Dialect
		wantErr string
	}{
		{"stock.db", SQLite, ""},
		{"/var/lib/kit/orders.db", SQLite, ""},
		{"file:orders.db?_pragma=synchronous(FULL)", SQLite, ""},
		{"postgres://kit@localhost:5432/orders", Postgres, ""},
		{"postgresql://kit:secret@db:5432/stock?sslmode=disable", Postgres, ""},
		{"", 0, "empty DSN"},
		{"postgres://", 0, "malformed PostgreSQL URL"},
		{"mysql://root@localhost/orders", 0, "unsupported DSN scheme"},
	}
	for _, tt := range tests {
		got, err := Kind(tt.dsn)
		switch {
		case tt.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Kind(%q) = %v, %v; want an error saying %q", tt.dsn, got, err, tt.wantErr)
			}
		case err != nil || got != tt.want:
			t.Errorf("Kind(%q) = %v, %v; want %v", tt.dsn, got, err, tt.want)
		}
	}
}

func TestRedactHidesPasswords(t *testing.T) {
	if got := redact("postgres://kit:secret@db:5432/stock"); strings.Contains(got, "secret") {
		t.Errorf("redact = %q, want the password hidden", got)
	}
}

func TestRebind(t *testing.T) {
	q := `INSERT INTO t (a, b) VALUES (?, ?) ON CONFLICT (a) DO UPDATE SET b = ?`
	if got := Rebind(SQLite, q); got != q {
		t.Errorf("Rebind(SQLite) = %q, want it unchanged", got)
	}
	want := `INSERT INTO t (a, b) VALUES ($1, $2) ON CONFLICT (a) DO UPDATE SET b = $3`
	if got := Rebind(Postgres, q); got != want {
		t.Errorf("Rebind(Postgres) = %q, want %q", got, want)
	}
	if got := Placeholders(3); got != "?,?,?" {
		t.Errorf("Placeholders(3) = %q", got)
	}
}

func TestSQLiteErrorsAreClassified(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (id TEXT PRIMARY KEY, n INTEGER NOT NULL CHECK (n >= 0))`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO t VALUES ('a', 1)`); err != nil {
		t.Fatal(err)
	}
	_, dup := db.ExecContext(ctx, `INSERT INTO t VALUES ('a', 2)`)
	_, check := db.ExecContext(ctx, `UPDATE t SET n = -1 WHERE id = 'a'`)
	tests := []struct {
		name            string
		err             error
		permanent, uniq bool
	}{
		{"duplicate key", dup, true, true},
		{"check constraint", check, true, false},
		{"not a database error", errors.New("connection refused"), false, false},
	}
	for _, tt := range tests {
		if tt.err == nil {
			t.Fatalf("%s: the statement succeeded", tt.name)
		}
		if got := Permanent(tt.err); got != tt.permanent {
			t.Errorf("%s: Permanent(%v) = %v, want %v", tt.name, tt.err, got, tt.permanent)
		}
		if got := UniqueViolation(tt.err); got != tt.uniq {
			t.Errorf("%s: UniqueViolation(%v) = %v, want %v", tt.name, tt.err, got, tt.uniq)
		}
	}
}

func TestWithConnectTimeoutAddsOneUnlessSet(t *testing.T) {
	tests := []struct{ dsn, want string }{
		{"postgres://kit@db:5432/orders", "postgres://kit@db:5432/orders?connect_timeout=10"},
		{"postgres://kit@db:5432/orders?sslmode=disable&options=-c%20x%3Dy", "postgres://kit@db:5432/orders?sslmode=disable&options=-c%20x%3Dy&connect_timeout=10"},
		{"postgres://kit@db:5432/orders?connect_timeout=3", "postgres://kit@db:5432/orders?connect_timeout=3"},
	}
	for _, tt := range tests {
		if got := withConnectTimeout(tt.dsn); got != tt.want {
			t.Errorf("withConnectTimeout(%q) = %q, want %q", tt.dsn, got, tt.want)
		}
	}
}

// Open gives up on a PostgreSQL that accepts the connection and never
// answers, even when the caller's context has no deadline: without a
// connect timeout every connection the pool opened for such a caller (an
// outbox relay, a transaction) would wait forever. The DSN sets one second:
// Open honours a connect_timeout the DSN names (TestWithConnectTimeout…
// checks it adds ConnectTimeout to one that names none), and the test then
// waits one second rather than ten.
func TestOpenGivesUpOnAPostgresThatNeverAnswers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn // accepted, read, never answered
	var mu sync.Mutex
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
			go func() { _, _ = io.Copy(io.Discard, c) }()
		}
	}()
	opened := make(chan error, 1)
	go func() {
		db, err := Open(context.Background(), "postgres://kit@"+ln.Addr().String()+"/kit?sslmode=disable&connect_timeout=1")
		if err == nil {
			db.Close()
		}
		opened <- err
	}()
	select {
	case err := <-opened:
		if err == nil {
			t.Fatal("Open of a PostgreSQL that never answers succeeded")
		}
	case <-time.After(6 * ConnectTimeout): // far beyond it: only no timeout at all misses it
		ln.Close()
		t.Fatalf("Open still waiting %v after connecting to a PostgreSQL that never answers", 6*ConnectTimeout)
	}
}
