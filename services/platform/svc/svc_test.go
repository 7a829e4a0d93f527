package svc

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kafkakit/kit/services/platform/httpx"
)

// serve runs Serve on a free port until the test ends and returns its
// address, with h behind the edge's middleware as a NewServer puts it.
func serve(t *testing.T, h http.Handler, cfg HTTP) string {
	t.Helper()
	edge, err := NewEdge(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, httpx.Chain(h, edge.Draining, edge.Guard), edge) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// decoding answers 204 once it decoded a JSON body, or the decode error.
var decoding = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	var v map[string]any
	if err := httpx.Decode(w, r, &v); err != nil {
		httpx.WriteError(w, r, nil, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
})

func TestServeCutsOffATricklingBody(t *testing.T) {
	addr := serve(t, decoding, HTTP{Name: "orders-api", ReadTimeout: 200 * time.Millisecond})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	// The test's own bound, far above the read timeout: a server without one
	// would keep reading this body for hours.
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	const size = 1 << 20
	if _, err := fmt.Fprintf(conn, "POST /orders HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{\"a\":\"", size); err != nil {
		t.Fatal(err)
	}
	var sent atomic.Int64
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	go func() { // one byte every 5 ms: 1 MiB would take about 90 minutes
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := conn.Write([]byte("x")); err != nil {
					return
				}
				sent.Add(1)
			}
		}
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer while trickling (%d bytes sent): %v", sent.Load(), err)
	}
	defer resp.Body.Close()
	var body struct{ Error string }
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != http.StatusRequestTimeout || body.Error == "" || strings.Contains(body.Error, "127.0.0.1") {
		t.Errorf("answered %d %q, want 408 with a reason that names no address", resp.StatusCode, body.Error)
	}
	if n := sent.Load(); n >= size {
		t.Errorf("the whole body was read (%d bytes)", n)
	}
}

func TestServeAnswersAWholeBody(t *testing.T) {
	addr := serve(t, decoding, HTTP{Name: "orders-api", ReadTimeout: time.Minute})
	resp, err := http.Post("http://"+addr+"/orders", "application/json", strings.NewReader(`{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("a prompt body answered %d, want 204", resp.StatusCode)
	}
}

func TestServeGuardsHostsAndHeaders(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	addr := serve(t, ok, HTTP{Name: "stock-service"})
	tests := []struct {
		name, host, header string
		status             int
	}{
		{"localhost", "localhost:8084", "", http.StatusNoContent},
		{"its own name", "stock-service:8084", "", http.StatusNoContent},
		{"a rebound name", "attacker.example:8084", "", http.StatusForbidden},
		{"huge headers", "localhost:8084", strings.Repeat("x", 2*MaxHeaderBytes), http.StatusRequestHeaderFieldsTooLarge},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/stock", nil)
		req.Host = tt.host
		if tt.header != "" {
			req.Header.Set("X-Big", tt.header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("%s: %d, want %d", tt.name, resp.StatusCode, tt.status)
		}
	}
}

func TestEdgeRefusesABadAllowList(t *testing.T) {
	_, err := NewEdge(HTTP{AllowedHosts: []string{"localhost:80"}})
	if err == nil || !strings.Contains(err.Error(), "ALLOWED_HOSTS") {
		t.Errorf("NewEdge = %v, want a refusal naming ALLOWED_HOSTS", err)
	}
}

// TestServeTurnsNotReadyBeforeItStopsAccepting: a stopping service first
// answers /readyz 503 while still serving requests, for ShutdownDelay.
func TestServeTurnsNotReadyBeforeItStopsAccepting(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /readyz", httpx.Ready(nil))
	mux.HandleFunc("GET /work", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	edge, err := NewEdge(HTTP{Name: "svc", ShutdownDelay: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _ = Serve(ctx, ln, httpx.Chain(mux, edge.Draining, edge.Guard), edge) }()
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + ln.Addr().String() + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, _ := get("/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz = %d before the stop, want 200", code)
	}
	cancel() // SIGTERM
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := get("/readyz")
		if code == http.StatusServiceUnavailable {
			if !strings.Contains(body, "shutting down") {
				t.Errorf("/readyz body %s, want it to say the service is shutting down", body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("/readyz never turned 503 after the stop")
		}
		<-time.After(10 * time.Millisecond) // poll, with the deadline above
	}
	if code, _ := get("/work"); code != http.StatusOK {
		t.Errorf("a request during the shutdown delay got %d, want it served", code)
	}
}

// Run is one lifecycle: a part that fails ends the others, and Run
// returns its error once all have returned.
func TestRunEndsEveryPartWhenOneFails(t *testing.T) {
	failure := errors.New("consumer failed for good")
	var ended atomic.Int32
	waitForEnd := func(ctx context.Context) error { <-ctx.Done(); ended.Add(1); return nil }
	err := Run(context.Background(), waitForEnd, func(context.Context) error { return failure }, waitForEnd)
	if !errors.Is(err, failure) || ended.Load() != 2 {
		t.Errorf("Run = %v with %d of 2 other parts ended; want the failure, all ended", err, ended.Load())
	}
}
