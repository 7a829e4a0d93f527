package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/metrics"
	"github.com/kafkakit/kit/services/platform/schemaid"
	"github.com/kafkakit/kit/services/platform/svc"
)

func ready(context.Context) error { return nil }

// unknownOrderServer serves /events with a wait for unknown orders that
// ends when the test sends on the returned channel.
func unknownOrderServer(t *testing.T, h *History) (string, chan<- time.Time) {
	t.Helper()
	giveUp := make(chan time.Time)
	sc := streamConfig{Heartbeat: time.Hour, WriteTimeout: time.Second, UnknownOrderWait: 2 * time.Minute,
		giveUp: func() <-chan time.Time { return giveUp }}
	srv := httptest.NewServer(handleOrderEvents(slog.New(slog.DiscardHandler), h, sc))
	t.Cleanup(srv.Close)
	return srv.URL, giveUp
}

// subscribed reads the stream's preamble, sent once the stream subscribed.
func subscribed(t *testing.T, sc *bufio.Scanner) {
	t.Helper()
	if !sc.Scan() || sc.Text() != "retry: 1000" {
		t.Fatalf("stream preamble = %q, %v", sc.Text(), sc.Err())
	}
}

func TestAStreamForAnUnknownOrderEndsWithAnUnknownEvent(t *testing.T) {
	h := NewHistory(limits)
	url, giveUp := unknownOrderServer(t, h)
	_, sc := open(t, url+"?orderId="+order, "")
	subscribed(t, sc)
	giveUp <- time.Now()
	got := readEvents(t, sc, 1)[0]
	var body unknownOrder
	if err := json.Unmarshal([]byte(got.data), &body); err != nil || got.event != "unknown" || got.id != "" ||
		body.OrderID != order || !strings.Contains(body.Error, "2m0s") {
		t.Errorf("last event = %+v (%v), want event unknown, no id, JSON naming the order and the wait", got, err)
	}
	for sc.Scan() {
		if line := sc.Text(); line != "" && !strings.HasPrefix(line, ":") {
			t.Errorf("the stream went on after the unknown event: %q", line)
		}
	}
	if h.Known(order) || len(h.unknown) != 0 || h.unknownStreams != 0 {
		t.Errorf("the ended stream left traces: known %v, %d unknown orders, %d waiting streams", h.Known(order), len(h.unknown), h.unknownStreams)
	}
}

func TestAStreamForAnUnknownOrderFollowsItOnceItArrives(t *testing.T) {
	h := NewHistory(limits)
	url, giveUp := unknownOrderServer(t, h)
	_, sc := open(t, url+"?orderId="+order, "")
	subscribed(t, sc)
	h.Add(status(events.StatusCreated))
	first := readEvents(t, sc, 1)[0]
	giveUp <- time.Now() // the wait ends after the first status arrived
	h.Add(status(events.StatusPaid))
	second := readEvents(t, sc, 1)[0]
	if first.id != "1" || first.event != "status" || second.id != "2" || !strings.Contains(second.data, `"PAID"`) {
		t.Errorf("events = %+v, %+v; want status 1 CREATED, then status 2 PAID and no unknown event", first, second)
	}
}

func TestStreamsForUnknownOrdersAreBounded(t *testing.T) {
	cfg := testConfig
	cfg.History.UnknownStreams = 1
	url, _, _ := newTestServerWith(t, cfg)
	open(t, url+"/events?orderId=6a1c0d2e-0000-4000-8000-000000000001", "")
	resp, err := http.Get(url + "/events?orderId=6a1c0d2e-0000-4000-8000-000000000002")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	wantRefusal(t, resp, "too many streams wait")
}

func wantRefusal(t *testing.T, resp *http.Response, says string) {
	t.Helper()
	var body struct{ Error string }
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
		resp.Header.Get("Content-Type") != "application/json" || !strings.Contains(body.Error, says) {
		t.Errorf("answered %d Retry-After %q %q, want 503 with Retry-After and a JSON error saying %q",
			resp.StatusCode, resp.Header.Get("Retry-After"), body.Error, says)
	}
}

func TestStreamsOverTheTotalCapAreRefused(t *testing.T) {
	cfg := testConfig
	cfg.Streams.Total = 1
	url, h, _ := newTestServerWith(t, cfg)
	h.Add(status(events.StatusCreated))
	_, sc := open(t, url+"/events?orderId="+order, "")
	readEvents(t, sc, 1) // the one stream is open
	for _, path := range []string{"/events?orderId=" + order, "/flow?orderId=" + order} {
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		wantRefusal(t, resp, "retry later")
		resp.Body.Close()
	}
}

func TestStreamCapPerClientAddress(t *testing.T) {
	l := newStreamLimiter(StreamCaps{Total: 5, PerClient: 2})
	var releases []func()
	for _, addr := range []string{"192.0.2.1:1000", "192.0.2.1:1001", "192.0.2.2:1000", "127.0.0.1:1000", "127.0.0.1:1001"} {
		release, err := l.acquire(addr)
		if err != nil {
			t.Fatalf("stream from %s refused: %v", addr, err)
		}
		releases = append(releases, release)
	}
	if _, err := l.acquire("192.0.2.9:1000"); err == nil {
		t.Error("a stream past the total cap was let in")
	}
	releases[3]()
	if _, err := l.acquire("192.0.2.1:1002"); err == nil {
		t.Error("a third stream from one address was let in (per-client cap 2)")
	}
	release, err := l.acquire("[::1]:1000")
	if err != nil {
		t.Errorf("loopback is capped per address: %v", err)
	} else {
		release()
	}
	releases[0]()
	if release, err := l.acquire("192.0.2.1:1003"); err != nil {
		t.Errorf("a closed stream did not free its address's slot: %v", err)
	} else {
		release()
	}
}

func TestAStreamOutlivesTheServersReadTimeout(t *testing.T) {
	h, f := NewHistory(limits), NewFlow(10, nil, nil)
	url := serveTest(t, svc.HTTP{Name: "notifications-api", ReadTimeout: 50 * time.Millisecond}, func(edge *svc.Edge) http.Handler {
		return NewServer(slog.New(slog.DiscardHandler), h, f, nil, ready, testConfig, edge, metrics.New("notifications-api"), testTracing(t))
	})
	h.Add(status(events.StatusCreated))
	_, sc := open(t, url+"/events?orderId="+order, "")
	readEvents(t, sc, 1)
	// 10 heartbeats 20 ms apart take longer than the 50 ms read timeout.
	for beats := 0; beats < 10; {
		if !sc.Scan() {
			t.Fatalf("the stream ended after %d heartbeats: %v", beats, sc.Err())
		}
		if strings.HasPrefix(sc.Text(), ":") {
			beats++
		}
	}
}

func TestUnfilteredFlowIsAnAdminView(t *testing.T) {
	const token = "flow-admin-token-0123"
	history, flow := NewHistory(limits), NewFlow(10, nil, nil)
	server := func(edge *svc.Edge) http.Handler {
		return NewServer(slog.New(slog.DiscardHandler), history, flow, nil, ready, testConfig, edge, metrics.New("notifications-api"), testTracing(t))
	}
	local := serveTest(t, svc.HTTP{Name: "notifications-api"}, server)
	guarded := serveTest(t, svc.HTTP{Name: "notifications-api", AdminToken: token}, server)
	tests := []struct {
		name, url, auth string
		status          int
	}{
		{"loopback, no ADMIN_TOKEN", local, "", http.StatusOK},
		{"ADMIN_TOKEN set, no bearer", guarded, "", http.StatusUnauthorized},
		{"ADMIN_TOKEN set, wrong bearer", guarded, "Bearer " + token + "x", http.StatusForbidden},
		{"ADMIN_TOKEN set, its bearer", guarded, "Bearer " + token, http.StatusOK},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(http.MethodGet, tt.url+"/flow", nil)
		if tt.auth != "" {
			req.Header.Set("Authorization", tt.auth)
		}
		ctx, cancel := context.WithCancel(context.Background())
		resp, err := http.DefaultClient.Do(req.WithContext(ctx))
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != tt.status {
			t.Errorf("%s: %d, want %d", tt.name, resp.StatusCode, tt.status)
		}
		cancel()
		resp.Body.Close()
	}

	anyHost, err := svc.NewEdge(svc.HTTP{AllowedHosts: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/flow", nil)
	req.RemoteAddr = "192.0.2.7:40000"
	rec := httptest.NewRecorder()
	server(anyHost).ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden {
		t.Errorf("unfiltered /flow for a client on another machine: %d, want 403", rec.Code)
	}
}

func TestFlowRecordsCarryTheirHeaders(t *testing.T) {
	url, _, f := newTestServer(t)
	f.Add(kafka.Message{Topic: "orders.created.dlq", Partition: 0, Offset: 4, Key: []byte(order), Value: []byte(`not json`),
		Headers: []kafka.Header{{Key: events.HeaderDLQError, Value: []byte("not an order: missing items")}, {Key: events.HeaderDLQSourceOffset, Value: []byte("17")}}})
	f.Add(kafka.Message{Topic: "stock.reservations", Partition: 1, Offset: 2, Key: []byte(order), Value: []byte(`{"orderId":"` + order + `"}`)})
	_, sc := open(t, url+"/flow?orderId="+order, "")
	got := readEvents(t, sc, 2)
	var dead, reserved map[string]any
	if err := json.Unmarshal([]byte(got[0].data), &dead); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(got[1].data), &reserved); err != nil {
		t.Fatal(err)
	}
	headers, _ := dead["headers"].(map[string]any)
	if headers[events.HeaderDLQError] != "not an order: missing items" || headers[events.HeaderDLQSourceOffset] != "17" || dead["value"] != "not json" {
		t.Errorf("dead letter = %s, want its dlq headers and its value as a string", got[0].data)
	}
	if _, ok := reserved["headers"]; ok {
		t.Errorf("a record without headers has a headers field: %s", got[1].data)
	}
}

func TestDebugVarsAreNotOnTheServicePort(t *testing.T) {
	url, _, _ := newTestServer(t)
	resp, err := http.Get(url + "/debug/vars")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusNotFound || strings.Contains(string(body), "memstats") {
		t.Errorf("GET /debug/vars = %d %.80s, want 404", resp.StatusCode, body)
	}
}

func TestLoadConfigRefusesWhatCannotWork(t *testing.T) {
	if _, err := loadConfig(func(string) string { return "" }); err != nil {
		t.Fatalf("defaults refused: %v", err)
	}
	for key, value := range map[string]string{
		"SSE_HEARTBEAT":              "0",
		"SSE_WRITE_TIMEOUT":          "0s",
		"UNKNOWN_ORDER_WAIT":         "-2m",
		"HISTORY_MAX_AGE":            "0",
		"HISTORY_ORDERS":             "0",
		"UNKNOWN_ORDER_STREAMS":      "0",
		"SSE_MAX_STREAMS":            "-1",
		"SSE_MAX_STREAMS_PER_CLIENT": "many",
		"FLOW_RECORDS":               "0",
		"KAFKA_BROKERS":              "localhost:9093,broker",
		"ALLOWED_HOSTS":              "http://shop.example",
	} {
		_, err := loadConfig(func(k string) string {
			if k == key {
				return value
			}
			return ""
		})
		if err == nil || !strings.Contains(err.Error(), key+": ") {
			t.Errorf("%s=%s: err = %v, want one naming %s", key, value, err, key)
		}
	}
}

func TestFlowRecordsShowTheirSchemaIDAndVersion(t *testing.T) {
	reg := httptest.NewServer(srfake.NewRegistry().Handler())
	t.Cleanup(reg.Close)
	ids, err := schemaid.New(reg.URL)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ids.RegisterHistory(t.Context(), events.TopicOrdersStatus)
	if err != nil {
		t.Fatal(err)
	}
	url, _, f, _ := newObservedServerWith(t, testConfig, NewFlow(10, ids, nil))
	value := `{"orderId":"` + order + `","status":"CREATED","updatedAt":"2026-12-07T00:00:00Z"}`
	f.Add(kafka.Message{Topic: events.TopicOrdersStatus, Key: []byte(order), Value: schemaid.Frame(s.ID, []byte(value))})
	f.Add(kafka.Message{Topic: events.TopicOrdersStatus, Offset: 1, Key: []byte(order), Value: []byte(value)})
	_, sc := open(t, url+"/flow?orderId="+order, "")
	got := readEvents(t, sc, 2)
	var framed, plain map[string]any
	if err := json.Unmarshal([]byte(got[0].data), &framed); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(got[1].data), &plain); err != nil {
		t.Fatal(err)
	}
	v, _ := framed["value"].(map[string]any)
	if framed["schemaId"] != float64(s.ID) || framed["version"] != float64(s.Version) || v["status"] != "CREATED" {
		t.Errorf("framed record = %s, want schemaId %d, version %d and the JSON after the framing", got[0].data, s.ID, s.Version)
	}
	if _, ok := plain["schemaId"]; ok {
		t.Errorf("a record without the framing has a schemaId: %s", got[1].data)
	}
}
