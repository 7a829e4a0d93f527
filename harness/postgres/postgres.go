// Package postgres runs a PostgreSQL server for the harness, the way package
// kafka runs Kafka: Debian's server binaries (initdb and postgres from
// /usr/lib/postgresql/<version>/bin, which are not on PATH) in a fresh
// temporary directory, listening on a free loopback port, with trust
// authentication for connections from this machine. It creates databases on
// demand, hands out their DSNs, and Close stops the server and removes its
// directory.
//
// PostgreSQL refuses to run as root. When the harness is root, the server
// runs as the postgres user the Debian package creates (or nobody), in a
// directory that user owns.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kafkakit/kit/harness/child"
)

// ErrMissingTool is wrapped by the error Start returns when no PostgreSQL
// server binaries are installed, so that callers can tell "this machine
// cannot run PostgreSQL" from a server that failed.
var ErrMissingTool = errors.New("postgres")

// Superuser is the role initdb creates and every DSN connects as.
const Superuser = "postgres"

// Options configures Start. The zero value is ready to use.
type Options struct {
	// Port is the listener port on 127.0.0.1; 0 picks a free one.
	Port int
	// BinDir holds initdb and postgres. "" uses the newest
	// /usr/lib/postgresql/<version>/bin.
	BinDir string
	// Log receives the server's output, one line at a time, prefixed
	// "postgres: ". nil discards it; the tail of a server that fails to
	// start is in Start's error either way.
	Log io.Writer
}

// Server is a running PostgreSQL. Its methods are safe for concurrent use.
type Server struct {
	dir  string
	port int
	log  *child.Log

	mu     sync.Mutex
	proc   *child.Process
	closed bool
}

// Start initialises a database cluster in a new temporary directory,
// starts the server on it and returns once it accepts connections. On error
// nothing is left running or on disk.
func Start(ctx context.Context, opts Options) (_ *Server, err error) {
	bin := opts.BinDir
	if bin == "" {
		if bin, err = findBinDir("/usr/lib/postgresql"); err != nil {
			return nil, err
		}
	}
	for _, tool := range []string{"initdb", "postgres"} {
		if _, err := os.Stat(filepath.Join(bin, tool)); err != nil {
			return nil, fmt.Errorf("%w: no %s in %s (install the server: apt-get install postgresql)", ErrMissingTool, tool, bin)
		}
	}
	cred, err := runAs()
	if err != nil {
		return nil, err
	}
	s := &Server{port: opts.Port, log: child.NewLog(opts.Log)}
	if s.dir, err = os.MkdirTemp("", "kafkakit-postgres-"); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	defer func() {
		if err != nil {
			_ = s.Close(context.WithoutCancel(ctx))
		}
	}()
	if cred != nil {
		if err := os.Chown(s.dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, fmt.Errorf("postgres: hand %s to uid %d: %w", s.dir, cred.Uid, err)
		}
	}
	if s.port == 0 {
		if s.port, err = child.FreePort(); err != nil {
			return nil, fmt.Errorf("postgres: %w", err)
		}
	}
	data := filepath.Join(s.dir, "data")
	if err := s.initdb(ctx, filepath.Join(bin, "initdb"), data, cred); err != nil {
		return nil, err
	}
	s.proc, err = child.Start(child.Spec{
		Name: "postgres",
		Path: filepath.Join(bin, "postgres"),
		Args: []string{
			"-D", data,
			"-h", "127.0.0.1", // listen_addresses: the loopback only
			"-p", strconv.Itoa(s.port),
			"-k", "", // unix_socket_directories: none, TCP only
			// Durable commits, as in production: the services' outbox
			// and ledger promises rest on them.
			"-c", "fsync=on",
			"-c", "synchronous_commit=on",
		},
		Dir:        s.dir,
		Credential: cred,
	}, s.log)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	err = s.proc.WaitUntil(ctx, "PostgreSQL accepting connections on "+s.Addr(), 50*time.Millisecond, func(ctx context.Context) bool {
		// The server says it is ready in postmaster.pid, as pg_ctl reads it;
		// connecting before then only adds a FATAL "starting up" to its log.
		if !postmasterReady(data) {
			return false
		}
		conn, err := pgx.Connect(ctx, s.DSN("postgres"))
		if err != nil {
			return false
		}
		defer conn.Close(context.WithoutCancel(ctx))
		return conn.Ping(ctx) == nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return s, nil
}

// initdb creates the database cluster in data: superuser postgres, trust
// authentication (anyone who can reach the loopback port may connect: the
// harness's own machine), UTF-8 and the C locale so that sorting is the same
// everywhere. --no-sync skips only initdb's own flush of the fresh files,
// which a throwaway cluster does not need; the server runs with fsync on.
func (s *Server) initdb(ctx context.Context, initdb, data string, cred *syscall.Credential) error {
	p, err := child.Start(child.Spec{
		Name: "initdb",
		Path: initdb,
		Args: []string{"-D", data, "-U", Superuser, "--auth=trust", "--encoding=UTF8", "--locale=C",
			"--no-sync", "--no-instructions"},
		Dir:        s.dir,
		Credential: cred,
	}, child.NewLog(nil)) // its chatter only matters when it fails, and then its tail is in the error
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	select {
	case <-p.Done():
	case <-ctx.Done():
		p.Kill()
		return fmt.Errorf("postgres: initdb: %w", ctx.Err())
	}
	if err := p.Err(); err != nil {
		return fmt.Errorf("postgres: initdb %s: %w; its output:\n%s", data, err, p.Tail(30))
	}
	return nil
}

// postmasterReady reports whether the server running on data says it
// accepts connections: the status line postmaster.pid ends with (line 8
// since PostgreSQL 10) reads "ready".
func postmasterReady(data string) bool {
	pid, err := os.ReadFile(filepath.Join(data, "postmaster.pid"))
	if err != nil {
		return false
	}
	lines := strings.Split(string(pid), "\n")
	return len(lines) >= 8 && strings.TrimSpace(lines[7]) == "ready"
}

// Addr is the server's address, 127.0.0.1:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Dir is the directory holding the server's data.
func (s *Server) Dir() string { return s.dir }

// DSN is the connection URL of database db as the superuser, the form the
// services take in DB_DSN: postgres://postgres@127.0.0.1:port/db?sslmode=disable.
func (s *Server) DSN(db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(Superuser),
		Host:     s.Addr(),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// validName is what CreateDatabase accepts: a plain lower-case SQL
// identifier, which needs no quoting anywhere.
var validName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// CreateDatabase creates database name unless it exists, and returns its
// DSN.
func (s *Server) CreateDatabase(ctx context.Context, name string) (string, error) {
	if !validName.MatchString(name) {
		return "", fmt.Errorf("postgres: database name %q: want lower-case letters, digits and _ (at most 63, not starting with a digit)", name)
	}
	conn, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		return "", fmt.Errorf("postgres: connect to create database %s: %w", name, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database
		err = nil
	}
	if err != nil {
		return "", fmt.Errorf("postgres: create database %s: %w", name, err)
	}
	return s.DSN(name), nil
}

// Close stops the server (fast shutdown: open sessions are ended, committed
// work is on disk; SIGKILL after a grace period or when ctx is done) and
// removes its directory. Closing twice does nothing.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.proc != nil {
		s.proc.Stop(ctx, syscall.SIGINT)
	}
	if s.dir != "" {
		if err := os.RemoveAll(s.dir); err != nil {
			return fmt.Errorf("postgres: remove %s: %w", s.dir, err)
		}
	}
	return nil
}

// findBinDir returns the bin directory of the newest PostgreSQL under root
// (Debian installs each major version in root/<version>/bin).
func findBinDir(root string) (string, error) {
	entries, err := os.ReadDir(root)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("postgres: %w", err)
	}
	var versions []int
	for _, e := range entries {
		v, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(root, e.Name(), "bin", "postgres")); err == nil {
			versions = append(versions, v)
		}
	}
	if len(versions) == 0 {
		return "", fmt.Errorf("%w: no server binaries in %s/<version>/bin (install them: apt-get install postgresql)", ErrMissingTool, root)
	}
	return filepath.Join(root, strconv.Itoa(slices.Max(versions)), "bin"), nil
}

// runAs is the user the server runs as: the harness's own, unless that is
// root, which PostgreSQL refuses; then the postgres user, or nobody.
func runAs() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	var errs []string
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil || uid == 0 {
			errs = append(errs, fmt.Sprintf("user %s has uid %s, gid %s", name, u.Uid, u.Gid))
			continue
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
	}
	return nil, fmt.Errorf("postgres: running as root, which PostgreSQL refuses, and no user to run it as (%s)", strings.Join(errs, "; "))
}
