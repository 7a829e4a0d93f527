package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kafkakit/kit/loadtest/internal/pace"
)

// fakeStack answers like orders-api and notifications-api: the order's
// userId picks what happens to it, so one server serves every case.
func fakeStack(t testing.TB) *httptest.Server {
	t.Helper()
	var ids atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("POST /orders", func(w http.ResponseWriter, r *http.Request) {
		var req orderRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, `{"error":"bad json"}`, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.Contains(req.UserID, "unavailable"):
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"error":"kafka unavailable"}`)
		case strings.Contains(req.UserID, "garbled"):
			w.WriteHeader(http.StatusCreated)
			fmt.Fprint(w, `{"id":`)
		default:
			w.WriteHeader(http.StatusCreated)
			// The id carries the scenario to the stream handler.
			fmt.Fprintf(w, `{"orderId":"%s-%d"}`, strings.SplitN(req.UserID, "-user-", 2)[0], ids.Add(1))
		}
	})
	mux.HandleFunc("GET /events", func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Query().Get("orderId")
		if strings.HasPrefix(id, "unknown") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		f := w.(http.Flusher)
		send := func(n int, status string) {
			fmt.Fprintf(w, "id: %d\nevent: status\ndata: {\"orderId\":%q,\"status\":%q,\"updatedAt\":\"2025-01-01T00:00:00Z\"}\n\n", n, id, status)
			f.Flush()
		}
		fmt.Fprint(w, ": connected\n\n")
		send(1, "CREATED")
		switch {
		case strings.HasPrefix(id, "hangup"):
			return
		case strings.HasPrefix(id, "stuck"):
			<-r.Context().Done()
			return
		}
		send(2, "PROCESSING")
		if strings.HasPrefix(id, "declined") {
			send(3, "FAILED")
		} else {
			send(3, "PAID")
		}
		<-r.Context().Done() // streams stay open, as the real one does
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestPlace(t *testing.T) {
	srv := fakeStack(t)
	tests := []struct {
		runID      string
		wantStatus string
		wantKind   string
		wantSteps  [3]bool // accepted, created, final
	}{
		{runID: "ok", wantStatus: StatusPaid, wantSteps: [3]bool{true, true, true}},
		{runID: "declined", wantStatus: StatusFailed, wantSteps: [3]bool{true, true, true}},
		{runID: "unavailable", wantKind: "post: http 503"},
		{runID: "garbled", wantKind: "post: bad body", wantSteps: [3]bool{true, false, false}},
		{runID: "unknown", wantKind: "stream: http 404", wantSteps: [3]bool{true, false, false}},
		{runID: "hangup", wantKind: "stream: ended before final status", wantSteps: [3]bool{true, true, false}},
		{runID: "stuck", wantKind: "no final status within timeout", wantSteps: [3]bool{true, true, false}},
	}
	for _, tt := range tests {
		t.Run(tt.runID, func(t *testing.T) {
			c, err := NewClient(NewHTTPClient(TransportOptions{}), []string{srv.URL}, []string{srv.URL + "/"}, Order{SKUs: []string{"sku-1"}, Total: 9.99, Currency: "EUR", RunID: tt.runID}, 500*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			o := c.Place(context.Background(), pace.Arrival{Seq: 1, Intended: time.Now(), Measured: true})
			if o.Status != tt.wantStatus || o.ErrKind != tt.wantKind {
				t.Errorf("got status %q kind %q (%v), want status %q kind %q", o.Status, o.ErrKind, o.Err, tt.wantStatus, tt.wantKind)
			}
			gotSteps := [3]bool{o.Accepted > 0, o.Created > 0, o.Final > 0}
			if gotSteps != tt.wantSteps {
				t.Errorf("steps reached (accepted, created, final): got %v, want %v", gotSteps, tt.wantSteps)
			}
			if o.Final > 0 && (o.Final < o.Created || o.Created < o.Accepted) {
				t.Errorf("steps out of order: accepted %v created %v final %v", o.Accepted, o.Created, o.Final)
			}
		})
	}
}

// TestPlaceSpreadsOverInstances: with several instances of each API, the
// orders are placed and followed on every one in turn.
func TestPlaceSpreadsOverInstances(t *testing.T) {
	stacks := []*httptest.Server{fakeStack(t), fakeStack(t), fakeStack(t)}
	counts := make([]struct{ posts, streams atomic.Int64 }, len(stacks))
	var urls []string
	for i, srv := range stacks {
		front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost {
				counts[i].posts.Add(1)
			} else {
				counts[i].streams.Add(1)
			}
			srv.Config.Handler.ServeHTTP(w, r)
		}))
		t.Cleanup(front.Close)
		urls = append(urls, front.URL)
	}
	c, err := NewClient(NewHTTPClient(TransportOptions{}), urls, urls[:2], Order{SKUs: []string{"s"}, Total: 1, Currency: "EUR", RunID: "ok"}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for seq := range 6 {
		if o := c.Place(context.Background(), pace.Arrival{Seq: seq, Intended: time.Now()}); o.Status != StatusPaid {
			t.Fatalf("order %d: got status %q (%s: %v), want PAID", seq, o.Status, o.ErrKind, o.Err)
		}
	}
	wantPosts, wantStreams := []int64{2, 2, 2}, []int64{3, 3, 0}
	for i := range stacks {
		if got := counts[i].posts.Load(); got != wantPosts[i] {
			t.Errorf("instance %d: got %d orders placed, want %d", i+1, got, wantPosts[i])
		}
		if got := counts[i].streams.Load(); got != wantStreams[i] {
			t.Errorf("instance %d: got %d streams followed, want %d", i+1, got, wantStreams[i])
		}
	}
}

func TestNewClientWantsEveryAPI(t *testing.T) {
	if _, err := NewClient(http.DefaultClient, nil, []string{"http://n"}, Order{SKUs: []string{"s"}}, time.Second); err == nil {
		t.Errorf("no orders-api URL: got no error")
	}
}

func TestPlaceConnectionRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close()
	c, err := NewClient(NewHTTPClient(TransportOptions{}), []string{addr}, []string{addr}, Order{SKUs: []string{"s"}, Total: 1, Currency: "EUR"}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	o := c.Place(context.Background(), pace.Arrival{Intended: time.Now()})
	if want := "post: connection refused"; o.ErrKind != want {
		t.Errorf("kind: got %q (%v), want %q", o.ErrKind, o.Err, want)
	}
}

func TestBody(t *testing.T) {
	c, err := NewClient(http.DefaultClient, []string{"http://o"}, []string{"http://n"}, Order{SKUs: []string{"a", "b"}, Total: 12.5, Currency: "EUR", RunID: "lt1"}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		seq  int
		want string
	}{
		{0, `{"userId":"lt1-user-0","items":[{"sku":"a","qty":1}],"total":12.5,"currency":"EUR"}`},
		{1, `{"userId":"lt1-user-1","items":[{"sku":"b","qty":1}],"total":12.5,"currency":"EUR"}`},
		{1002, `{"userId":"lt1-user-2","items":[{"sku":"a","qty":1}],"total":12.5,"currency":"EUR"}`},
	}
	for _, tt := range tests {
		if got := string(c.Body(tt.seq)); got != tt.want {
			t.Errorf("Body(%d): got %s, want %s", tt.seq, got, tt.want)
		}
	}
}

func TestRecorder(t *testing.T) {
	r := NewRecorder(nil)
	now := time.Now()
	ms := time.Millisecond
	r.Record(pace.Arrival{Intended: now, Measured: false}, Outcome{Accepted: ms, Created: 2 * ms, Final: 3 * ms, Status: StatusPaid})
	r.Record(pace.Arrival{Intended: now, Measured: true}, Outcome{Accepted: ms, Created: 2 * ms, Final: 3 * ms, Status: StatusPaid})
	r.Record(pace.Arrival{Intended: now, Measured: true}, Outcome{Accepted: ms, Created: 2 * ms, Final: 4 * ms, Status: StatusFailed})
	r.Record(pace.Arrival{Intended: now, Measured: true}, Outcome{ErrKind: "post: http 503", Err: fmt.Errorf("first")})
	r.Record(pace.Arrival{Intended: now, Measured: true}, Outcome{ErrKind: "post: http 503", Err: fmt.Errorf("second")})
	r.Record(pace.Arrival{Intended: now, Measured: true}, Outcome{Accepted: ms, ErrKind: "stream: http 404"})
	c := r.Counts()
	if c.Accepted != 3 || c.Paid != 1 || c.Failed != 1 || c.Completed() != 2 || c.ErrorTotal() != 3 {
		t.Errorf("counts: got %+v, want accepted 3 paid 1 failed 1 errors 3", c)
	}
	if got, want := c.ErrorKinds(), []string{"post: http 503", "stream: http 404"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ErrorKinds: got %v, want %v", got, want)
	}
	if got := c.Examples["post: http 503"]; got != "first" {
		t.Errorf("example: got %q, want the first one", got)
	}
	if got := r.Final.Count(); got != 2 {
		t.Errorf("final latencies recorded: got %d, want 2", got)
	}
	if r.Completed() != 2 || r.Errored() != 3 {
		t.Errorf("progress counters: got %d completed %d errored, want 2 and 3", r.Completed(), r.Errored())
	}
}

// BenchmarkPlace is one order end to end against an in-process fake of the
// two APIs: the runner's per-order cost (JSON, HTTP, SSE parsing).
func BenchmarkPlace(b *testing.B) {
	srv := fakeStack(b)
	c, err := NewClient(NewHTTPClient(TransportOptions{MaxIdlePerHost: 256}), []string{srv.URL}, []string{srv.URL}, Order{SKUs: []string{"s"}, Total: 9.99, Currency: "EUR", RunID: "bench"}, 10*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if o := c.Place(context.Background(), pace.Arrival{Intended: time.Now()}); o.ErrKind != "" {
			b.Fatal(o.Err)
		}
	}
}

func TestStatusOf(t *testing.T) {
	tests := []struct {
		name, data, want string
		wantErr          bool
	}{
		{name: "as notifications-api encodes it", data: `{"orderId":"o-1","status":"PAID","seq":3,"updatedAt":"2026-12-07T00:00:00Z"}`, want: "PAID"},
		{name: "spaces: decoded as JSON", data: `{"orderId": "o-1", "status": "FAILED"}`, want: "FAILED"},
		{name: "a reason quoting a status", data: `{"orderId":"o-1","reason":"was \"status\":\"PAID\"","status":"FAILED"}`, want: "FAILED"},
		{name: "an unknown status", data: `{"status":"REFUNDED"}`, want: "REFUNDED"},
		{name: "not JSON", data: `{"status":"PAID"`, wantErr: true},
	}
	for _, tt := range tests {
		got, err := StatusOf([]byte(tt.data))
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("%s: got %q, %v; want %q, error %v", tt.name, got, err, tt.want, tt.wantErr)
		}
	}
}

// BenchmarkStatusOf is the status of one event, as the runner reads three or
// four per order.
func BenchmarkStatusOf(b *testing.B) {
	data := []byte(`{"orderId":"0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0","status":"PAID","seq":3,"updatedAt":"2026-12-07T00:00:00Z"}`)
	b.ReportAllocs()
	for b.Loop() {
		if s, err := StatusOf(data); err != nil || s != StatusPaid {
			b.Fatal(s, err)
		}
	}
}

// The runner is given localhost URLs as often as 127.0.0.1 ones (kit up's
// README): a name resolved once must keep reaching the server, order after
// order, on new connections.
func TestPlaceByHostName(t *testing.T) {
	srv := fakeStack(t)
	url := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	c, err := NewClient(NewHTTPClient(TransportOptions{}), []string{url}, []string{url}, Order{SKUs: []string{"s"}, Total: 1, Currency: "EUR", RunID: "ok"}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for seq := range 3 {
		if o := c.Place(context.Background(), pace.Arrival{Seq: seq, Intended: time.Now()}); o.Status != StatusPaid {
			t.Fatalf("order %d: got status %q (%s: %v), want PAID", seq, o.Status, o.ErrKind, o.Err)
		}
	}
}
