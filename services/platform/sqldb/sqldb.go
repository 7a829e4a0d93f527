// Package sqldb opens the database a service keeps its state in: SQLite in
// a local file (the default, nothing to run) or PostgreSQL when several
// instances share one (DB_DSN=postgres://…), both through database/sql. It
// also tells the errors of either apart: a constraint the data breaks can
// never succeed on retry, a busy or unreachable database can.
package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	"modernc.org/sqlite"               // pure Go: no cgo, static binaries
	sqlite3 "modernc.org/sqlite/lib"
)

// Dialect is the SQL flavour of a database.
type Dialect int

// The dialects the kit speaks.
const (
	SQLite Dialect = iota
	Postgres
)

func (d Dialect) String() string {
	if d == Postgres {
		return "postgres"
	}
	return "sqlite"
}

// DB is an open database and its dialect.
type DB struct {
	*sql.DB
	Dialect Dialect

	stopCheckpoints func()
}

// Kind returns the dialect dsn selects: Postgres for a postgres:// or
// postgresql:// URL, SQLite for a file path or a file: URI. Anything else
// is refused, so a typo does not silently create a file named after it.
func Kind(dsn string) (Dialect, error) {
	dsn = strings.TrimSpace(dsn)
	switch {
	case dsn == "":
		return 0, errors.New("empty DSN: want a file path, a file: URI or a postgres:// URL")
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		u, err := url.Parse(dsn)
		if err != nil || u.Host == "" {
			return 0, fmt.Errorf("malformed PostgreSQL URL (want postgres://user@host:port/db)")
		}
		return Postgres, nil
	case strings.HasPrefix(dsn, "file:"):
		return SQLite, nil
	case strings.Contains(dsn, "://"):
		return 0, fmt.Errorf("unsupported DSN scheme in %q: want a file path, a file: URI or a postgres:// URL", redact(dsn))
	default:
		return SQLite, nil
	}
}

// PostgresConns is the most connections one store keeps to PostgreSQL.
const PostgresConns = 16

// ConnectTimeout bounds opening one PostgreSQL connection (dial, TLS,
// authentication) unless the DSN sets connect_timeout: pgx waits for as
// long as the caller's context otherwise, and a pool connection opened for
// a caller with no deadline (an outbox relay, a transaction's first
// statement) would wait forever on a link that accepts and never answers.
const ConnectTimeout = 10 * time.Second

// Open opens dsn. A SQLite database runs in WAL mode (readers do not block
// the writer) with a busy timeout and synchronous=NORMAL: a commit survives
// a crash of the process, the fault the kit's scenarios exercise; add
// _pragma=synchronous(FULL) to the DSN to survive power loss too. SQLite
// gets one connection, since it has one writer anyway and serialising in
// the pool makes a read-then-write one atomic step.
func Open(ctx context.Context, dsn string) (*DB, error) {
	kind, err := Kind(dsn)
	if err != nil {
		return nil, err
	}
	var db *sql.DB
	switch kind {
	case Postgres:
		db, err = sql.Open("pgx", withConnectTimeout(dsn))
		if err == nil {
			// Bounded, so that a burst of transactions waits for a
			// connection instead of exhausting the server's
			// max_connections (100 by default, shared by every instance);
			// and kept open, since database/sql keeps 2 idle by default and
			// each new one is a PostgreSQL backend process to start.
			db.SetMaxOpenConns(PostgresConns)
			db.SetMaxIdleConns(PostgresConns)
		}
	default:
		db, err = sql.Open("sqlite", withPragmas(dsn, "wal_autocheckpoint(0)"))
		if err == nil {
			db.SetMaxOpenConns(1)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", kind, err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s database %s: %w", kind, redact(dsn), err)
	}
	out := &DB{DB: db, Dialect: kind}
	if kind == SQLite {
		if err := out.startCheckpoints(dsn); err != nil {
			db.Close()
			return nil, err
		}
	}
	return out, nil
}

// ReadyTimeout is how long Ready waits for the database to answer.
const ReadyTimeout = 5 * time.Second

// withConnectTimeout adds connect_timeout (ConnectTimeout) to a
// PostgreSQL URL that has none.
func withConnectTimeout(dsn string) string {
	u, err := url.Parse(strings.TrimSpace(dsn))
	if err != nil {
		return dsn // Kind accepted it; pgx reports what is wrong
	}
	if u.Query().Has("connect_timeout") {
		return dsn
	}
	// Appended, the rest of the query left as written.
	if u.RawQuery != "" {
		u.RawQuery += "&"
	}
	u.RawQuery += "connect_timeout=" + strconv.Itoa(int(ConnectTimeout/time.Second))
	return u.String()
}

// Ready is a readiness check: the database answers, within ReadyTimeout
// whatever ctx allows (a readiness handler passes its probe's, which may
// wait as long as the prober does, and a link that swallows bytes answers
// nothing). It names no address.
func (db *DB) Ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, ReadyTimeout)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		return errors.New("database unreachable")
	}
	return nil
}

// Close closes the database (and its checkpointer).
func (db *DB) Close() error {
	if db.stopCheckpoints != nil {
		db.stopCheckpoints()
	}
	return db.DB.Close()
}

// startCheckpoints moves SQLite's WAL checkpoints off the commit path. By
// default the commit that grows the WAL past 1000 pages copies them into
// the database file and syncs it, and every request waiting for the single
// connection waits too: a stall of milliseconds every few seconds under
// load, the p99 of every request that hits it. Instead the writer's
// connection never checkpoints (wal_autocheckpoint 0) and a second one does,
// every checkpointEvery, in PASSIVE mode, which never blocks a writer.
func (db *DB) startCheckpoints(dsn string) error {
	cp, err := sql.Open("sqlite", withPragmas(dsn))
	if err != nil {
		return fmt.Errorf("open the SQLite checkpointer: %w", err)
	}
	cp.SetMaxOpenConns(1)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer cp.Close()
		tick := time.NewTicker(checkpointEvery)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				_, _ = cp.Exec(`PRAGMA wal_checkpoint(PASSIVE)`)
				return
			case <-tick.C:
				_, _ = cp.Exec(`PRAGMA wal_checkpoint(PASSIVE)`)
			}
		}
	}()
	db.stopCheckpoints = func() { close(stop); <-done }
	return nil
}

// checkpointEvery is how often the WAL is copied into the database file.
const checkpointEvery = time.Second

func withPragmas(dsn string, more ...string) string {
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	pragmas := append([]string{"journal_mode(WAL)", "busy_timeout(5000)"}, more...)
	if !strings.Contains(dsn, "synchronous") {
		pragmas = append(pragmas, "synchronous(NORMAL)")
	}
	return dsn + sep + "_pragma=" + strings.Join(pragmas, "&_pragma=")
}

// WithoutRowID ends the CREATE TABLE of a table of small rows found by a
// TEXT primary key. On SQLite the table is then one B-tree ordered by that
// key instead of a rowid table plus an index of the key, so inserting a
// random key (an order id) writes one page less to the WAL and looks the
// key up once; SQLite advises it for rows of no more than a few hundred
// bytes only, so tables holding a whole order keep their rowid.
// PostgreSQL has no such clause: "".
func WithoutRowID(d Dialect) string {
	if d == SQLite {
		return " WITHOUT ROWID"
	}
	return ""
}

// CreateSchema runs ddl (CREATE … IF NOT EXISTS statements) once, however
// many instances start at the same moment: in PostgreSQL two sessions
// creating one table at once can both pass IF NOT EXISTS and one fails, so
// they take turns under a transaction-level advisory lock.
func (db *DB) CreateSchema(ctx context.Context, ddl string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if db.Dialect == Postgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7236828373)`); err != nil {
			return fmt.Errorf("wait for the schema lock: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, ddl); err != nil {
		return err
	}
	return tx.Commit()
}

// redact drops a password from a URL DSN for messages.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// Rebind turns the ? placeholders of query into PostgreSQL's $1, $2, … when
// db speaks PostgreSQL, so one query text serves both dialects. Queries must
// not contain a literal question mark.
func (db *DB) Rebind(query string) string { return Rebind(db.Dialect, query) }

// Rebind is DB.Rebind for a dialect.
func Rebind(d Dialect, query string) string {
	if d != Postgres || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Placeholders returns n comma-separated ? placeholders, for IN lists.
func Placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// Permanent reports whether err is one that retrying the same statement
// with the same data cannot fix: a broken constraint, a value of the wrong
// type or out of range. Such a record goes to its dead-letter topic rather
// than holding up its partition. Busy, locked, full and unreachable
// databases are not permanent: they pass.
func Permanent(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff { // the primary result code
		case sqlite3.SQLITE_CONSTRAINT, sqlite3.SQLITE_MISMATCH, sqlite3.SQLITE_TOOBIG, sqlite3.SQLITE_RANGE:
			return true
		}
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code[:2] {
		case "22", "23": // data exception, integrity constraint violation
			return true
		}
	}
	return false
}

// UniqueViolation reports whether err is a duplicate key: two writers raced
// to insert the same row and this one lost.
func UniqueViolation(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}
