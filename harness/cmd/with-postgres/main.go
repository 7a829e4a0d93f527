// Command with-postgres runs a command with a PostgreSQL server beside it:
// it starts one (Debian's server binaries in a temporary directory, as the
// harness does for DB=postgres), exports its superuser DSN to the command as
// KAFKAKIT_TEST_POSTGRES_DSN, and stops the server when the command ends,
// exiting with the command's status. `make unit` runs the unit tests under it
// so that the stores' PostgreSQL tests (sqldbtest.Postgres) run, not skip.
//
//	go run ./harness/cmd/with-postgres -- go test ./services/...
//
// Where no PostgreSQL server binaries are installed it says so in one line and
// runs the command without the variable.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/kafkakit/kit/harness/postgres"
)

// DSNVariable is where the command finds the server: the sqldbtest package
// reads it.
const DSNVariable = "KAFKAKIT_TEST_POSTGRES_DSN"

func main() {
	code, err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "with-postgres:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		return 2, errors.New("usage: with-postgres [--] command [args...]")
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, stdout, stderr
	cmd.Env = os.Environ()

	server, err := postgres.Start(ctx, postgres.Options{})
	switch {
	case errors.Is(err, postgres.ErrMissingTool):
		fmt.Fprintf(stderr, "with-postgres: !!! NO POSTGRESQL HERE (%v): the PostgreSQL tests will skip\n", err)
	case err != nil:
		return 1, fmt.Errorf("start PostgreSQL: %w", err)
	default:
		defer func() {
			closeCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := server.Close(closeCtx); err != nil {
				fmt.Fprintln(stderr, "with-postgres: stop PostgreSQL:", err)
			}
		}()
		cmd.Env = append(cmd.Env, DSNVariable+"="+server.DSN("postgres"))
	}
	if err := cmd.Start(); err != nil {
		return 1, err
	}
	// An interrupt reaches the command through the terminal's process group;
	// this only waits for it so the server is stopped after it.
	err = cmd.Wait()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), nil
	}
	return 0, err
}
