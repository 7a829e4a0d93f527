package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/metrics"
	"github.com/kafkakit/kit/services/platform/svc"
	"github.com/kafkakit/kit/services/platform/tracing"
)

const order = "5f0c7e0a-8d1e-4b8e-9a52-3c1f2f6f7a10"

func status(s events.Status) events.OrderStatus {
	return events.OrderStatus{OrderID: order, Status: s, UpdatedAt: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)}
}

// limits are roomy bounds for tests that are not about them.
var limits = HistoryLimits{Orders: 100, MaxAge: time.Hour, UnknownStreams: 100}

func TestHistoryDropsRepeatsAndResumes(t *testing.T) {
	h := NewHistory(limits)
	for _, s := range []events.Status{events.StatusCreated, events.StatusProcessing, events.StatusCreated, events.StatusPaid, events.StatusPaid} {
		h.Add(status(s))
	}
	tests := []struct {
		after int
		want  []events.Status
	}{
		{0, []events.Status{events.StatusCreated, events.StatusProcessing, events.StatusPaid}},
		{1, []events.Status{events.StatusProcessing, events.StatusPaid}},
		{3, nil},
		{9, nil},
	}
	for _, tt := range tests {
		var got []events.Status
		for _, s := range h.Since(order, tt.after) {
			got = append(got, s.Status)
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("Since(%d) = %v, want %v", tt.after, got, tt.want)
		}
	}
}

func TestHistoryEvictsTheOldestUnwatchedOrders(t *testing.T) {
	h := NewHistory(HistoryLimits{Orders: 2, MaxAge: time.Hour, UnknownStreams: 10})
	h.Add(events.OrderStatus{OrderID: "watched", Status: events.StatusCreated})
	_, _, cancel, err := h.Subscribe("watched")
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()
	for _, id := range []string{"a", "b", "c"} {
		h.Add(events.OrderStatus{OrderID: id, Status: events.StatusCreated})
	}
	for id, want := range map[string]bool{"watched": true, "a": false, "b": false, "c": true} {
		if got := h.Known(id); got != want {
			t.Errorf("order %s kept = %v, want %v (bound 2, the followed one kept)", id, got, want)
		}
	}
}

func TestStrangersCannotFlushTheHistory(t *testing.T) {
	h := NewHistory(HistoryLimits{Orders: 2, MaxAge: time.Hour, UnknownStreams: 500})
	h.Add(status(events.StatusCreated))
	h.Add(events.OrderStatus{OrderID: "other", Status: events.StatusPaid})
	for i := range 500 {
		if _, known, _, err := h.Subscribe(fmt.Sprintf("made-up-%d", i)); err != nil || known {
			t.Fatalf("stream %d for a made-up order: known %v, err %v; want it waiting apart", i, known, err)
		}
	}
	if _, _, _, err := h.Subscribe("one-more"); err != errTooManyUnknown {
		t.Errorf("stream past UnknownStreams: err = %v, want errTooManyUnknown", err)
	}
	if len(h.Since(order, 0)) != 1 || len(h.Since("other", 0)) != 1 || len(h.orders) != 2 {
		t.Errorf("streams for made-up orders changed the history: %d orders", len(h.orders))
	}
	if _, known, cancel, err := h.Subscribe(order); err != nil || !known {
		t.Errorf("a real order cannot be followed while strangers wait: known %v, err %v", known, err)
	} else {
		cancel()
	}
}

func TestAWaitingStreamFollowsTheOrderOnceItsFirstStatusArrives(t *testing.T) {
	h := NewHistory(HistoryLimits{Orders: 10, MaxAge: time.Hour, UnknownStreams: 1})
	news, known, cancel, err := h.Subscribe(order)
	if err != nil || known {
		t.Fatalf("Subscribe before any status: known %v, err %v", known, err)
	}
	h.Add(status(events.StatusCreated))
	select {
	case <-news:
	default:
		t.Fatal("the waiting stream was not woken by the order's first status")
	}
	if !h.Known(order) || len(h.Since(order, 0)) != 1 {
		t.Error("the first status was not recorded")
	}
	if _, _, _, err := h.Subscribe("another"); err != nil {
		t.Errorf("the stream still counts as waiting for an unknown order: %v", err)
	}
	cancel()
	if n := len(h.orders[order].waiters); n != 0 {
		t.Errorf("cancel left %d waiters on the order", n)
	}
}

func TestHistoryForgetsOrdersPastMaxAge(t *testing.T) {
	h := NewHistory(HistoryLimits{Orders: 100, MaxAge: time.Hour, UnknownStreams: 10})
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	h.now = func() time.Time { return now }
	h.Add(events.OrderStatus{OrderID: "old", Status: events.StatusPaid})
	h.Add(events.OrderStatus{OrderID: "followed", Status: events.StatusCreated})
	_, _, cancel, _ := h.Subscribe("followed")
	defer cancel()
	now = now.Add(50 * time.Minute)
	h.Add(events.OrderStatus{OrderID: "young", Status: events.StatusCreated})
	now = now.Add(11 * time.Minute)
	h.Sweep()
	for id, want := range map[string]bool{"old": false, "followed": true, "young": true} {
		if got := h.Known(id); got != want {
			t.Errorf("after 61 minutes (MaxAge 1h): order %s kept = %v, want %v", id, got, want)
		}
	}
}

func TestAddNeverBlocksOnAFollowerThatDoesNotRead(t *testing.T) {
	h := NewHistory(limits)
	news, _, cancel, _ := h.Subscribe(order)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 1000 {
			h.Add(events.OrderStatus{OrderID: order, Status: events.Status(fmt.Sprint(time.Now().UnixNano()))})
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Add blocked on a follower that never read")
	}
	if len(news) != 1 {
		t.Errorf("%d pending wake-ups, want 1 (news coalesces)", len(news))
	}
}

type sseEvent struct{ id, event, data string }

// readEvents reads n events from an SSE body, skipping comments and retry.
func readEvents(t *testing.T, sc *bufio.Scanner, n int) []sseEvent {
	t.Helper()
	var out []sseEvent
	var e sseEvent
	for len(out) < n && sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if e.data != "" {
				out = append(out, e)
			}
			e = sseEvent{}
		case strings.HasPrefix(line, "id: "):
			e.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			e.event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			e.data = strings.TrimPrefix(line, "data: ")
		}
	}
	if len(out) < n {
		t.Fatalf("stream ended after %d events, want %d (%v)", len(out), n, sc.Err())
	}
	return out
}

var testConfig = config{Heartbeat: 20 * time.Millisecond, WriteTimeout: time.Second, UnknownOrderWait: time.Minute,
	History: limits, Streams: StreamCaps{Total: 100, PerClient: 100}}

// serveTest serves h as the service does (svc.Serve: guard, timeouts) on a
// free port until the test ends, and returns its base URL.
func serveTest(t *testing.T, cfg svc.HTTP, server func(*svc.Edge) http.Handler) string {
	t.Helper()
	edge, err := svc.NewEdge(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Serve(ctx, ln, server(edge), edge) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

func newTestServer(t *testing.T) (string, *History, *Flow) {
	t.Helper()
	return newTestServerWith(t, testConfig)
}

func newTestServerWith(t *testing.T, cfg config) (string, *History, *Flow) {
	t.Helper()
	url, h, f, _ := newObservedServer(t, cfg)
	return url, h, f
}

// newObservedServer also returns the server's metrics.
func newObservedServer(t *testing.T, cfg config) (string, *History, *Flow, *metrics.Metrics) {
	t.Helper()
	return newObservedServerWith(t, cfg, NewFlow(10, nil, nil))
}

// newObservedServerWith serves flow as the event flow.
func newObservedServerWith(t *testing.T, cfg config, f *Flow) (string, *History, *Flow, *metrics.Metrics) {
	t.Helper()
	h, m := NewHistory(cfg.History), metrics.New("notifications-api")
	url := serveTest(t, svc.HTTP{Name: "notifications-api"}, func(edge *svc.Edge) http.Handler {
		return NewServer(slog.New(slog.DiscardHandler), h, f, nil, func(context.Context) error { return nil }, cfg, edge, m, testTracing(t))
	})
	return url, h, f, m
}

// testTracing records no span, as a service without an OTLP endpoint.
func testTracing(t *testing.T) *tracing.Tracing {
	t.Helper()
	tr, err := tracing.Setup(context.Background(), "notifications-api", "")
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func open(t *testing.T, url, lastEventID string) (*http.Response, *bufio.Scanner) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp, bufio.NewScanner(resp.Body)
}

func TestEventsSendsHistoryThenLiveWithIDs(t *testing.T) {
	url, h, _ := newTestServer(t)
	h.Add(status(events.StatusCreated))
	resp, sc := open(t, url+"/events?orderId="+order, "")
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type = %q", ct)
	}
	first := readEvents(t, sc, 1)
	h.Add(status(events.StatusProcessing))
	h.Add(status(events.StatusPaid))
	got := append(first, readEvents(t, sc, 2)...)
	for i, want := range []events.Status{events.StatusCreated, events.StatusProcessing, events.StatusPaid} {
		var s events.OrderStatus
		if err := json.Unmarshal([]byte(got[i].data), &s); err != nil {
			t.Fatal(err)
		}
		if got[i].id != fmt.Sprint(i+1) || got[i].event != "status" || s.Status != want {
			t.Errorf("event %d = %+v, want id %d, event status, %s", i, got[i], i+1, want)
		}
	}
}

func TestEventsResumesAfterLastEventID(t *testing.T) {
	url, h, _ := newTestServer(t)
	for _, s := range []events.Status{events.StatusCreated, events.StatusProcessing, events.StatusPaid} {
		h.Add(status(s))
	}
	_, sc := open(t, url+"/events?orderId="+order, "2")
	got := readEvents(t, sc, 1)
	if got[0].id != "3" || !strings.Contains(got[0].data, `"PAID"`) {
		t.Errorf("resumed with %+v, want only id 3 PAID", got[0])
	}
}

func TestEventsSendsHeartbeatsWhenIdle(t *testing.T) {
	url, _, _ := newTestServer(t)
	_, sc := open(t, url+"/events?orderId="+order, "")
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), ":") {
			return
		}
	}
	t.Fatal("stream ended without a heartbeat comment")
}

func TestEventsRefusesBadRequests(t *testing.T) {
	url, _, _ := newTestServer(t)
	tests := []struct {
		name, query, lastEventID string
	}{
		{"no order id", "", ""},
		{"empty order id", "?orderId=", ""},
		{"not a UUID", "?orderId=42", ""},
		{"bad Last-Event-ID", "?orderId=" + order, "abc"},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(http.MethodGet, url+"/events"+tt.query, nil)
		if tt.lastEventID != "" {
			req.Header.Set("Last-Event-ID", tt.lastEventID)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Error string }
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || body.Error == "" {
			t.Errorf("%s: %d %q, want 400 with a reason", tt.name, resp.StatusCode, body.Error)
		}
	}
}

func TestFlowFiltersByOrder(t *testing.T) {
	url, _, f := newTestServer(t)
	f.Add(kafka.Message{Topic: "orders.created", Partition: 1, Offset: 5, Key: []byte(order), Value: []byte(`{"orderId":"` + order + `"}`)})
	f.Add(kafka.Message{Topic: "orders.created", Partition: 0, Offset: 9, Key: []byte("other"), Value: []byte(`{"orderId":"other"}`)})
	f.Add(kafka.Message{Topic: "inventory.updated", Partition: 2, Offset: 3, Key: []byte("SKU"), Value: []byte(`{"orderId":"` + order + `"}`)})
	_, sc := open(t, url+"/flow?orderId="+order, "")
	got := readEvents(t, sc, 2)
	var r Record
	if err := json.Unmarshal([]byte(got[1].data), &r); err != nil {
		t.Fatal(err)
	}
	if got[0].id != "1" || got[1].id != "3" || r.Topic != "inventory.updated" || r.Partition != 2 || r.Offset != 3 || r.Key != "SKU" {
		t.Errorf("flow = %+v, want records 1 and 3 (this order's), with topic, partition, offset and key", got)
	}
}

func TestStreamsAndEventsSentAreCounted(t *testing.T) {
	url, h, _, m := newObservedServer(t, testConfig)
	h.Add(status(events.StatusCreated))
	_, sc := open(t, url+"/events?orderId="+order, "")
	readEvents(t, sc, 1)
	h.Add(status(events.StatusProcessing))
	h.Add(status(events.StatusPaid))
	readEvents(t, sc, 2)
	got := map[string]float64{}
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		for _, s := range f.Metric {
			switch {
			case s.Counter != nil:
				got[f.GetName()] = s.Counter.GetValue()
			case s.Gauge != nil:
				got[f.GetName()] = s.Gauge.GetValue()
			}
		}
	}
	if got[metrics.SSEStreams] != 1 || got[metrics.SSEEventsSent] != 3 {
		t.Errorf("%s = %v, %s = %v; want 1 open stream and 3 events sent", metrics.SSEStreams, got[metrics.SSEStreams],
			metrics.SSEEventsSent, got[metrics.SSEEventsSent])
	}
}

// TestAFailedStatusReachesTheBrowserWithItsKind: the failure kind of a
// FAILED status, decoded from the record as the status tail decodes it,
// is in the event the page reads, so the page tells the failures apart
// without reading the reason's words.
func TestAFailedStatusReachesTheBrowserWithItsKind(t *testing.T) {
	url, h, _ := newTestServer(t)
	raw := `{"orderId":"` + order + `","status":"FAILED","reason":"payment declined: total 1500.00 EUR is over the 1000.00 limit","failureKind":"PAYMENT_DECLINED","seq":3,"updatedAt":"2026-11-25T09:30:00Z"}`
	s, err := events.DecodeOrderStatus([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	h.Add(s)
	_, sc := open(t, url+"/events?orderId="+order, "")
	got := readEvents(t, sc, 1)[0]
	var sent struct {
		Status      string `json:"status"`
		FailureKind string `json:"failureKind"`
	}
	if err := json.Unmarshal([]byte(got.data), &sent); err != nil {
		t.Fatal(err)
	}
	if sent.Status != "FAILED" || sent.FailureKind != "PAYMENT_DECLINED" {
		t.Errorf("event data %s, want status FAILED with failureKind PAYMENT_DECLINED", got.data)
	}
}
