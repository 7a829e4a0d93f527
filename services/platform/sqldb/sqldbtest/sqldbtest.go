// Package sqldbtest gives the stores' tests a PostgreSQL database of their
// own. `make unit` runs the tests under harness/cmd/with-postgres, which
// starts a server and exports its DSN as KAFKAKIT_TEST_POSTGRES_DSN; each call
// of Postgres creates a fresh database on it, so tests of different packages
// (each with its own outbox table) never share tables.
package sqldbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the pgx driver, as sqldb uses
)

// DSNVariable names the server's superuser DSN.
const DSNVariable = "KAFKAKIT_TEST_POSTGRES_DSN"

// Postgres returns the DSN of a new, empty database for t, dropped when t
// ends. Without KAFKAKIT_TEST_POSTGRES_DSN it skips t saying so in one loud
// line: run the test under `make unit` (or harness/cmd/with-postgres).
func Postgres(t testing.TB) string {
	t.Helper()
	base := os.Getenv(DSNVariable)
	if base == "" {
		t.Skipf("!!! SKIP %s: no PostgreSQL — %s is unset (make unit sets it; or go run ./harness/cmd/with-postgres -- go test …)", t.Name(), DSNVariable)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", DSNVariable, err)
	}
	name := "t_" + strings.ToLower(rand.Text())
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// WITH (FORCE) ends the store's pooled sessions the test left open.
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}
