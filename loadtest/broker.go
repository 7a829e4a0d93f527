package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/kafkakit/kit/harness/broker/embedded"
	"github.com/kafkakit/kit/harness/broker/security"
	"github.com/kafkakit/kit/harness/child"
)

// brokerCommand, as the first argument, makes the runner an embedded broker
// and nothing else. For the standard profile the runner starts the embedded
// broker as a child process of its own rather than in its own process, as
// `kit up` runs it apart from the runner: the broker's CPU time can then be
// read apart from the runner's, and the runner's load does not share the
// broker's Go runtime.
const brokerCommand = "embedded-broker"

// brokerReady starts the line the broker process prints once it listens.
const brokerReady = "broker listening on "

// runEmbeddedBroker runs an embedded broker until ctx ends or stdin closes
// (the runner that started it is gone). With args[0] a directory of
// security.Generate's material (-security sasl_ssl), it is locked down
// with it, as the harness locks its own embedded broker down, and says in
// its loud line on stderr what kfake does not enforce.
func runEmbeddedBroker(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	opts := embedded.Options{Log: stderr}
	if len(args) > 0 {
		m, err := security.Load(args[0])
		if err != nil {
			return err
		}
		opts.Security = m
	}
	b, err := embedded.Start(ctx, opts)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s%s\n", brokerReady, strings.Join(b.Addrs(), ","))
	go func() {
		_, _ = io.Copy(io.Discard, stdin)
		cancel()
	}()
	<-ctx.Done()
	return b.Close(context.Background())
}

// brokerProcess is an embedded broker the runner started as its child,
// supervised by the harness's child package as the harness supervises its
// own brokers.
type brokerProcess struct {
	proc  *child.Process
	stdin *os.File // closing it tells the broker its runner is gone
	addrs []string
}

// brokerStopGrace is how long the broker gets to close after SIGTERM.
const brokerStopGrace = 10 * time.Second

// startBrokerProcess starts the runner's own executable as an embedded
// broker and returns once it listens; locked down with the material in
// securityDir when it is not "".
func startBrokerProcess(ctx context.Context, securityDir string) (*brokerProcess, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("embedded broker process: %w", err)
	}
	args := []string{brokerCommand}
	if securityDir != "" {
		args = append(args, securityDir)
	}
	stdin, feed, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("embedded broker process: %w", err)
	}
	proc, err := child.Start(child.Spec{Name: "embedded broker process", Path: exe, Args: args, Stdin: stdin,
		Output: child.NewOutput(1 << 20)}, child.NewLog(nil))
	stdin.Close() // the child has its own copy
	if err != nil {
		feed.Close()
		return nil, err
	}
	b := &brokerProcess{proc: proc, stdin: feed}
	start, cancel := context.WithTimeoutCause(ctx, 30*time.Second, errors.New("not listening after 30s"))
	defer cancel()
	err = proc.WaitUntil(start, "the embedded broker process to listen", 10*time.Millisecond, func(context.Context) bool {
		b.addrs = listening(proc.Output())
		return b.addrs != nil
	})
	if err != nil {
		_ = b.close()
		return nil, fmt.Errorf("embedded broker process: %w", errors.Join(err, context.Cause(start)))
	}
	return b, nil
}

// listening returns the addresses on the broker's ready line in output,
// nil until it printed one.
func listening(output string) []string {
	for line := range strings.Lines(output) {
		if addrs, ok := strings.CutPrefix(strings.TrimRight(line, "\n"), brokerReady); ok && addrs != "" {
			return strings.Split(addrs, ",")
		}
	}
	return nil
}

// pid is the broker process's id.
func (b *brokerProcess) pid() int { return b.proc.Pid() }

// close stops the broker: stdin closed and SIGTERM, SIGKILL after
// brokerStopGrace.
func (b *brokerProcess) close() error {
	_ = b.stdin.Close()
	ctx, cancel := context.WithTimeoutCause(context.Background(), brokerStopGrace, fmt.Errorf("not stopped within %s", brokerStopGrace))
	defer cancel()
	if err := b.proc.Stop(ctx, syscall.SIGTERM); err != nil {
		return fmt.Errorf("%w\n%s", err, b.proc.Tail(60))
	}
	return nil
}
