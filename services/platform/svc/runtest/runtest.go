// Package runtest starts a service the way main does — its run(ctx, args,
// getenv, stdout, stderr) — inside a test, on an embedded broker
// (franz-go's kfake) holding the kit's topics and their dead letters and
// an in-memory schema registry (srfake), so each service's test of its
// real entry point needs no process, port or Java. The harness starts the
// same services as processes on the same kind of broker.
package runtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/kafkakit/kit/services/events"
)

// Run is a service's run, as its main calls it.
type Run func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error

// Kit starts, for t, an embedded broker with every kit topic and its dead
// letters (events.Partitions each, created up front: the services never
// rely on auto-creation) and a schema registry, and returns the
// environment that points a service at them.
func Kit(t testing.TB) map[string]string {
	t.Helper()
	var topics []string
	for _, topic := range events.Topics {
		topics = append(topics, topic, events.DLQ(topic))
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(events.Partitions, topics...))
	if err != nil {
		t.Fatalf("start the embedded broker: %v", err)
	}
	t.Cleanup(c.Close)
	registry := httptest.NewServer(srfake.NewRegistry().Handler())
	t.Cleanup(registry.Close)
	return map[string]string{
		"KAFKA_BROKERS":       c.ListenAddrs()[0],
		"SCHEMA_REGISTRY_URL": registry.URL,
		"HTTP_ADDR":           "127.0.0.1:0",
	}
}

// Service is a run started by Start.
type Service struct {
	// URL is where it serves HTTP (http://127.0.0.1:port), read from the
	// "listening" line it logs.
	URL    string
	cancel context.CancelFunc
	done   chan error
	logs   *lines
}

// Start calls run with env (and nothing else: an unset variable reads as
// empty, so the service's defaults apply) until the test ends or Stop. It
// returns once the service logged where it listens; the test fails if it
// does not within a minute, or if run returns first. Its logs are printed
// when the test fails.
func Start(t testing.TB, run Run, name string, env map[string]string) *Service {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{cancel: cancel, done: make(chan error, 1), logs: newLines()}
	t.Cleanup(func() {
		cancel()
		<-s.done
		if t.Failed() {
			t.Logf("%s's log:\n%s", name, s.logs.String())
		}
	})
	getenv := func(key string) string { return env[key] }
	go func() { s.done <- run(ctx, []string{name}, getenv, io.Discard, s.logs) }()
	deadline := time.After(time.Minute)
	for {
		if addr := s.logs.listening(); addr != "" {
			s.URL = "http://" + addr
			return s
		}
		select {
		case err := <-s.done:
			s.done <- err // for the cleanup
			t.Fatalf("%s's run returned before it listened: %v", name, err)
		case <-deadline:
			t.Fatalf("%s did not log where it listens within a minute", name)
		case <-s.logs.more:
		}
	}
}

// WaitReady polls GET /readyz until it answers 200, failing the test with
// the last answer if that takes over a minute (a consumer joining its
// group on a loaded machine takes seconds).
func (s *Service) WaitReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	client := &http.Client{Timeout: 5 * time.Second}
	last := "no answer"
	for {
		resp, err := client.Get(s.URL + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, bytes.TrimSpace(body))
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz did not answer 200 within a minute; last: %s", last)
		}
		select {
		case <-time.After(50 * time.Millisecond): // poll, bounded by the deadline above
		case err := <-s.done:
			s.done <- err
			t.Fatalf("run returned while waiting for /readyz: %v", err)
		}
	}
}

// Stop cancels run's context, as SIGTERM does, and returns what run
// returned, failing the test if it does not return within a minute.
func (s *Service) Stop(t testing.TB) error {
	t.Helper()
	s.cancel()
	select {
	case err := <-s.done:
		s.done <- err // for the cleanup
		return err
	case <-time.After(time.Minute):
		t.Fatal("run did not return within a minute of its context's end")
		return nil
	}
}

// lines is a service's stderr: JSON log lines, kept for the failure
// report and watched for the "listening" line.
type lines struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	addr string
	more chan struct{} // a line arrived (coalesced)
}

func newLines() *lines { return &lines{more: make(chan struct{}, 1)} }

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	if l.addr == "" {
		sc := bufio.NewScanner(bytes.NewReader(p))
		for sc.Scan() {
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" && line.Addr != "" {
				l.addr = line.Addr
			}
		}
	}
	select {
	case l.more <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (l *lines) listening() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.addr
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
