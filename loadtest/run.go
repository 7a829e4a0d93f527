package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"syscall"

	"github.com/kafkakit/kit/harness"
)

// errThresholds is returned when the run worked but missed a threshold.
var errThresholds = errors.New("thresholds missed")

// exitCode maps run's error to the exit status: 0 pass, 99 thresholds
// missed, 1 anything else (a tool error).
func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errThresholds):
		fmt.Fprintln(stderr, "loadtest:", err)
		return 99
	}
	fmt.Fprintln(stderr, "loadtest:", err)
	return 1
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(args) > 1 && args[1] == brokerCommand {
		return runEmbeddedBroker(ctx, args[2:], os.Stdin, stdout, stderr)
	}
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	if getenv("GOGC") == "" {
		// The runner shares the cores with what it measures: collecting
		// garbage less often leaves more of them to the system under test.
		debug.SetGCPercent(400)
	}
	// Every order in flight holds a connection and -mode sse thousands;
	// the services the harness starts inherit the raised limit.
	if n, err := harness.RaiseOpenFileLimit(); err != nil {
		fmt.Fprintf(stderr, "loadtest: raising the open-file limit: %v (limit %d)\n", err, n)
	}

	t, err := openTarget(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer func() {
		if err := t.close(context.WithoutCancel(ctx)); err != nil {
			fmt.Fprintf(stderr, "loadtest: stopping the stack: %v\n", err)
		}
	}()

	if cfg.cpuProfile != "" {
		stopProfile, err := profileRunner(cfg.cpuProfile)
		if err != nil {
			return err
		}
		defer func() {
			if err := stopProfile(); err != nil {
				fmt.Fprintf(stderr, "loadtest: runner CPU profile: %v\n", err)
				return
			}
			fmt.Fprintf(stderr, "loadtest: runner CPU profile: %s (go tool pprof -top %[1]s)\n", cfg.cpuProfile)
		}()
	}

	if cfg.mode == "sse" {
		return runSSE(ctx, cfg, t, stdout, stderr)
	}
	return runOrders(ctx, cfg, t, stdout, stderr)
}

// profileRunner starts the runner's own CPU profile into path: what the
// runner spends per order is CPU the system under test lacks, and the
// profile says where it goes.
func profileRunner(path string) (stop func() error, err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("-cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("-cpuprofile: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}

// fileLimit is the current soft open-file limit, 0 when unknown.
func fileLimit() uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	return lim.Cur
}
