package ssecap

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParseVmRSS(t *testing.T) {
	tests := []struct {
		name    string
		status  string
		want    int64
		wantErr bool
	}{
		{name: "typical", status: "Name:\tnotifications-api\nVmPeak:\t  20000 kB\nVmRSS:\t   12345 kB\nThreads:\t7\n", want: 12345 * 1024},
		{name: "no VmRSS (kernel thread)", status: "Name:\tkthreadd\n", wantErr: true},
		{name: "garbled", status: "VmRSS:\tlots\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseVmRSS(strings.NewReader(tt.status))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("got %d, %v; want %d, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseHeapProfile(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		want    MemStats
		wantErr bool
	}{
		{name: "the end of a heap profile", text: "heap profile: 1: 2 [3: 4] @ heap/1048576\n1: 2 [3: 4] @ 0x1\n\n# runtime.MemStats\n# Alloc = 10\n# Sys = 900\n# HeapInuse = 500\n# Stack = 64 / 128\n# NumGC = 3\n",
			want: MemStats{HeapInuse: 500, StackInuse: 64, Sys: 900}},
		{name: "not a heap profile", text: "404 page not found\n", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseHeapProfile(strings.NewReader(tt.text))
		if (err != nil) != tt.wantErr || (!tt.wantErr && got != tt.want) {
			t.Errorf("%s: got %+v, %v; want %+v, error %v", tt.name, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestNewOrderID(t *testing.T) {
	uuid4 := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	a, b := NewOrderID(), NewOrderID()
	if !uuid4.MatchString(a) || a == b {
		t.Errorf("got %q and %q, want two different version 4 UUIDs", a, b)
	}
}

// fakeNotifications holds every stream open until the order is placed, then
// sends its whole story to each of them.
type fakeNotifications struct {
	mu      sync.Mutex
	paid    chan struct{}
	streams int
	// unknown makes every stream end at once with an "unknown" event, as
	// notifications-api does once UNKNOWN_ORDER_WAIT has passed.
	unknown bool
}

func (f *fakeNotifications) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /events", func(w http.ResponseWriter, r *http.Request) {
		// Count the stream before its headers leave: the client counts it
		// as open once they arrive, and reads memory after that.
		f.mu.Lock()
		f.streams++
		f.mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		if f.unknown {
			fmt.Fprintf(w, "event: unknown\ndata: {\"orderId\":%q,\"error\":\"no status\"}\n\n", r.URL.Query().Get("orderId"))
			return
		}
		select {
		case <-f.paid:
		case <-r.Context().Done():
			return
		}
		id := r.URL.Query().Get("orderId")
		for i, s := range []string{"CREATED", "PROCESSING", "PAID"} {
			fmt.Fprintf(w, ": hb\n\nid: %d\nevent: status\ndata: {\"orderId\":%q,\"status\":%q}\n\n", i+1, id, s)
		}
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	mux.HandleFunc("GET /debug/pprof/heap", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		n := f.streams
		f.mu.Unlock()
		fmt.Fprintf(w, "heap profile: 1: 2 [3: 4] @ heap/1048576\n\n# runtime.MemStats\n# Alloc = 5\n# Sys = 1\n# HeapInuse = %d\n# Stack = %d / 4096\n# MSpan = 1 / 2\n", 1000+n*100, 2000+n*50)
	})
	return mux
}

func TestRun(t *testing.T) {
	fake := &fakeNotifications{paid: make(chan struct{})}
	srv := httptest.NewServer(fake.handler())
	t.Cleanup(srv.Close)
	placed := ""
	res, err := Run(context.Background(), Config{
		NotificationsURL: srv.URL,
		DebugURL:         srv.URL,
		Streams:          50,
		Place: func(_ context.Context, id string) error {
			placed = id
			close(fake.paid)
			return nil
		},
		Timeout: 30 * time.Second,
		HTTP:    &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 100}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.OrderID != placed {
		t.Errorf("placed %q, streams followed %q", placed, res.OrderID)
	}
	if res.Connected != 50 || res.Delivered != 50 || res.Missing != 0 || len(res.ConnectErrors) != 0 {
		t.Errorf("got connected %d delivered %d missing %d errors %v, want 50 50 0 none", res.Connected, res.Delivered, res.Missing, res.ConnectErrors)
	}
	if res.Delivery.Count != 50 {
		t.Errorf("delivery latencies: got %d, want 50", res.Delivery.Count)
	}
	if res.GoPerStream != 150 {
		t.Errorf("heap+stack per stream: got %v, want 150", res.GoPerStream)
	}
	if res.RSSPerStream != 0 {
		t.Errorf("RSS per stream without a pid: got %v, want 0", res.RSSPerStream)
	}
}

// TestRunCountsStreamsThatGiveUp: streams that end with "unknown" are
// errors of their own kind, and the run does not wait for them.
func TestRunCountsStreamsThatGiveUp(t *testing.T) {
	fake := &fakeNotifications{paid: make(chan struct{}), unknown: true}
	srv := httptest.NewServer(fake.handler())
	t.Cleanup(srv.Close)
	res, err := Run(context.Background(), Config{
		NotificationsURL: srv.URL,
		Streams:          20,
		Place:            func(context.Context, string) error { return nil },
		Timeout:          10 * time.Minute, // reached only if the run waited for streams that ended
		HTTP:             &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 100}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Connected != 20 || res.Delivered != 0 || res.Missing != 20 || res.ConnectErrors["stream: unknown order"] != 20 {
		t.Errorf("got connected %d delivered %d missing %d errors %v, want 20 0 20 and 20 unknown", res.Connected, res.Delivered, res.Missing, res.ConnectErrors)
	}
	if res.GoPerStream != 0 || res.Following != (Memory{}) {
		t.Errorf("without a debug URL or a delivered status: got Go per stream %v, following %+v; want none", res.GoPerStream, res.Following)
	}
}
