package main

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/kafkakit/kit/harness/broker/security"
	"github.com/kafkakit/kit/loadtest/internal/floor"
)

// TestMain lets the test binary stand in for the runner's executable when
// startBrokerProcess starts it as an embedded broker, and for a service's
// process when a test starts it as fakeServiceCommand (alloc_test.go).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == brokerCommand {
		os.Exit(exitCode(run(context.Background(), os.Args, os.Getenv, os.Stdout, os.Stderr), os.Stderr))
	}
	if len(os.Args) > 1 && os.Args[1] == fakeServiceCommand {
		os.Exit(fakeService())
	}
	os.Exit(m.Run())
}

// TestEmbeddedBrokerProcess starts the broker in a child process, uses it,
// and stops it.
func TestEmbeddedBrokerProcess(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := startBrokerProcess(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if b.pid() == os.Getpid() || len(b.addrs) == 0 {
		t.Fatalf("got pid %d (this process is %d), addrs %v; want a child process with an address", b.pid(), os.Getpid(), b.addrs)
	}
	if err := floor.EnsureTopics(ctx, b.addrs, nil, 1, "broker-process-test"); err != nil {
		t.Errorf("the broker process does not answer as a broker: %v", err)
	}
	if err := b.close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-b.proc.Done():
	default:
		t.Errorf("close returned, the broker process still runs")
	}
}

// TestLockedDownEmbeddedBrokerProcess: with -security sasl_ssl the broker
// process locks down with the runner's material: the kit signs in over
// TLS, a plaintext client is not answered.
func TestLockedDownEmbeddedBrokerProcess(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	m, err := security.Generate(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := startBrokerProcess(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.close() })
	if err := floor.EnsureTopics(ctx, b.addrs, m.KitDialer(), 1, "broker-process-secure-test"); err != nil {
		t.Errorf("the kit cannot sign in to the locked-down broker process: %v", err)
	}
	short, cancelShort := context.WithTimeout(ctx, 5*time.Second)
	defer cancelShort()
	if err := floor.EnsureTopics(short, b.addrs, nil, 1, "broker-process-plain-test"); err == nil {
		t.Error("a plaintext client created a topic on the locked-down broker process")
	}
}
