package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kafkakit/kit/harness/broker/embedded"
	"github.com/kafkakit/kit/harness/broker/security"
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

// brokerProcess is an embedded broker the runner started as its child.
type brokerProcess struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	addrs  []string
	exited chan struct{}
	log    lockedBuffer
}

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
	b := &brokerProcess{cmd: exec.Command(exe, args...), exited: make(chan struct{})}
	b.cmd.SysProcAttr = sysProcAttr()
	b.cmd.Stderr = &b.log
	if b.stdin, err = b.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := b.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := b.cmd.Start(); err != nil {
		return nil, fmt.Errorf("embedded broker process: %w", err)
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() {
		_ = b.cmd.Wait()
		close(b.exited)
	}()
	timer := time.NewTimer(30 * time.Second)
	defer timer.Stop()
	select {
	case line, ok := <-lines:
		addrs, found := strings.CutPrefix(line, brokerReady)
		if ok && found && addrs != "" {
			b.addrs = strings.Split(addrs, ",")
			return b, nil
		}
		_ = b.close()
		return nil, fmt.Errorf("embedded broker process did not start: %q\n%s", line, b.log.String())
	case <-timer.C:
		_ = b.close()
		return nil, errors.New("embedded broker process: not listening after 30s")
	case <-ctx.Done():
		_ = b.close()
		return nil, ctx.Err()
	}
}

// pid is the broker process's id.
func (b *brokerProcess) pid() int { return b.cmd.Process.Pid }

// close stops the broker: stdin closed and SIGTERM, SIGKILL after 10s.
func (b *brokerProcess) close() error {
	_ = b.stdin.Close()
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.exited:
		return nil
	case <-time.After(10 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.exited
		return fmt.Errorf("embedded broker process did not stop within 10s and was killed\n%s", b.log.String())
	}
}

// lockedBuffer is a bytes.Buffer safe for the writer goroutine exec starts.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
