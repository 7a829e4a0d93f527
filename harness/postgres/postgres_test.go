package postgres_test

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kafkakit/kit/harness/internal/syncbuf"
	"github.com/kafkakit/kit/harness/postgres"
)

// TestServer runs one PostgreSQL through the life the harness gives it:
// start, a database created (twice, as every stack start may ask), a table
// written and read over pgx, and a Close that leaves nothing behind.
func TestServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var logs syncbuf.Buffer
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server output:\n%s", logs.String())
		}
	})

	s, err := postgres.Start(ctx, postgres.Options{Log: &logs})
	if errors.Is(err, postgres.ErrMissingTool) {
		if os.Getenv("KAFKAKIT_SKIP_POSTGRES") == "1" {
			t.Skipf("!!! POSTGRESQL NOT TESTED (KAFKAKIT_SKIP_POSTGRES=1): %v", err)
		}
		t.Fatalf("!!! POSTGRESQL CANNOT RUN: %v (set KAFKAKIT_SKIP_POSTGRES=1 to skip)", err)
	}
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			_ = s.Close(context.Background())
		}
	})
	if host, _, _ := net.SplitHostPort(s.Addr()); host != "127.0.0.1" {
		t.Errorf("Addr() = %s, want a 127.0.0.1 address", s.Addr())
	}

	dsn, err := s.CreateDatabase(ctx, "stock")
	if err != nil {
		t.Fatalf("CreateDatabase: %v", err)
	}
	if want := "postgres://postgres@" + s.Addr() + "/stock?sslmode=disable"; dsn != want {
		t.Errorf("DSN = %s, want %s", dsn, want)
	}
	if again, err := s.CreateDatabase(ctx, "stock"); err != nil || again != dsn {
		t.Errorf("CreateDatabase of an existing database = %q, %v; want %q, nil", again, err, dsn)
	}

	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to %s: %v", dsn, err)
	}
	defer conn.Close(ctx)
	for _, setting := range []struct{ name, want string }{
		{"fsync", "on"},
		{"synchronous_commit", "on"},
		{"listen_addresses", "127.0.0.1"},
		{"server_encoding", "UTF8"},
	} {
		var got string
		if err := conn.QueryRow(ctx, "SELECT current_setting($1)", setting.name).Scan(&got); err != nil {
			t.Fatalf("current_setting(%s): %v", setting.name, err)
		}
		if got != setting.want {
			t.Errorf("%s = %q, want %q", setting.name, got, setting.want)
		}
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE stock (sku text PRIMARY KEY, qty int NOT NULL)"); err != nil {
		t.Fatalf("create table: %v", err)
	}
	if _, err := conn.Exec(ctx, "INSERT INTO stock VALUES ('BOOK-1', 10)"); err != nil {
		t.Fatalf("insert: %v", err)
	}
	var qty int
	if err := conn.QueryRow(ctx, "SELECT qty FROM stock WHERE sku = 'BOOK-1'").Scan(&qty); err != nil || qty != 10 {
		t.Errorf("select = %d, %v; want 10", qty, err)
	}

	for _, bad := range []string{"", "Stock", "1stock", "stock; DROP DATABASE postgres", strings.Repeat("a", 64)} {
		if _, err := s.CreateDatabase(ctx, bad); err == nil || !strings.Contains(err.Error(), "database name") {
			t.Errorf("CreateDatabase(%q) = %v, want an error naming the database name", bad, err)
		}
	}

	conn.Close(ctx)
	dir := s.Dir()
	closed = true
	if err := s.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("data dir %s after Close: %v, want it gone", dir, err)
	}
	if c, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after Close", s.Addr())
	}
}

// TestStartWithoutBinaries says clearly what to install.
func TestStartWithoutBinaries(t *testing.T) {
	_, err := postgres.Start(context.Background(), postgres.Options{BinDir: t.TempDir()})
	if !errors.Is(err, postgres.ErrMissingTool) || !strings.Contains(err.Error(), "initdb") {
		t.Fatalf("Start with an empty BinDir = %v, want ErrMissingTool naming initdb", err)
	}
}
