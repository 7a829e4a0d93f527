package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/metrics"
	"github.com/kafkakit/kit/services/platform/svc"
)

// openStreams reads kafkakit_sse_streams.
func openStreams(t *testing.T, m *metrics.Metrics) float64 {
	t.Helper()
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == metrics.SSEStreams {
			return f.Metric[0].Gauge.GetValue()
		}
	}
	return -1
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("still not %s after 10s", what)
		}
	}
}

// A stream outlives its handler (it is detached): when its client leaves,
// its place under the stream caps and its subscription go with it.
func TestAStreamWhoseClientLeftGivesBackItsPlace(t *testing.T) {
	url, h, _, m := newObservedServer(t, testConfig)
	h.Add(status(events.StatusCreated))
	resp, sc := open(t, url+"/events?orderId="+order, "")
	readEvents(t, sc, 1)
	if got := openStreams(t, m); got != 1 {
		t.Fatalf("%s = %v with one stream open, want 1", metrics.SSEStreams, got)
	}
	resp.Body.Close()
	waitFor(t, "released", func() bool {
		h.mu.Lock()
		followers := len(h.orders[order].waiters)
		h.mu.Unlock()
		return openStreams(t, m) == 0 && followers == 0
	})
}

// net/http neither closes nor waits for a connection it handed over: the
// service's shutdown must end its detached streams itself.
func TestShutdownEndsOpenStreams(t *testing.T) {
	h, f, m := NewHistory(limits), NewFlow(10, nil, nil), metrics.New("notifications-api")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	done := make(chan error, 1)
	edge, err := svc.NewEdge(svc.HTTP{Name: "notifications-api"})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		done <- svc.Serve(ctx, ln, NewServer(slog.New(slog.DiscardHandler), h, f, nil, ready, testConfig, edge, m, testTracing(t)), edge)
	}()
	h.Add(status(events.StatusCreated))
	resp, sc := open(t, "http://"+ln.Addr().String()+"/events?orderId="+order, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /events: %s", resp.Status)
	}
	readEvents(t, sc, 1)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
	ended := make(chan error, 1)
	go func() { _, err := io.Copy(io.Discard, resp.Body); ended <- err }()
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the stream is still open 10s after the server shut down")
	}
}
