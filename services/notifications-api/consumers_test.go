package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/inspect"
	"github.com/kafkakit/kit/services/platform/metrics"
	"github.com/kafkakit/kit/services/platform/svc"
)

// fakeGroups answers Groups with what the test set, or err, and signals
// each call on called when set.
type fakeGroups struct {
	mu     sync.Mutex
	groups []inspect.Group
	err    error
	called chan struct{}
}

func (f *fakeGroups) Groups(context.Context, ...string) ([]inspect.Group, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.called != nil {
		f.called <- struct{}{}
	}
	return f.groups, f.err
}

func (f *fakeGroups) set(groups []inspect.Group, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.groups, f.err = groups, err
}

func processorGroup(members ...inspect.Member) inspect.Group {
	g := inspect.Group{ID: events.GroupOrdersProcessor, State: "Stable", Members: members, Partitions: []inspect.GroupPartition{}}
	for _, m := range members {
		for _, p := range m.Assignments[0].Partitions {
			g.Partitions = append(g.Partitions, inspect.GroupPartition{Topic: events.TopicStockReservations, Partition: p, Committed: 12, End: 14, Lag: 2, MemberID: m.ID})
		}
	}
	return g
}

func member(id string, partitions ...int) inspect.Member {
	return inspect.Member{ID: id, ClientID: "orders-processor", Host: "/127.0.0.1",
		Assignments: []inspect.Assignment{{Topic: events.TopicStockReservations, Partitions: partitions}}}
}

func getConsumers(t *testing.T, c *Consumers) (int, http.Header, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	handleConsumers(c).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/consumers", nil))
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("GET /consumers: %d, body is not JSON: %q", rec.Code, rec.Body)
	}
	return rec.Code, rec.Header(), body
}

func keys(v any) []string {
	m, _ := v.(map[string]any)
	return slices.Sorted(maps.Keys(m))
}

func TestConsumersAnswersTheSnapshotShapeThePageReads(t *testing.T) {
	src := &fakeGroups{}
	c := NewConsumers(src, time.Second, slog.New(slog.DiscardHandler))

	code, h, body := getConsumers(t, c)
	if code != http.StatusServiceUnavailable || h.Get("Retry-After") == "" || body["error"] == nil {
		t.Errorf("before the first refresh: %d %v, want 503 with Retry-After and a JSON error", code, body)
	}

	src.set([]inspect.Group{processorGroup(member("m-1", 0, 1, 2))}, nil)
	c.refresh(context.Background())
	code, h, body = getConsumers(t, c)
	if code != http.StatusOK || h.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /consumers = %d %s", code, h.Get("Content-Type"))
	}
	tests := []struct {
		what string
		got  []string
		want []string
	}{
		{"snapshot", keys(body), []string{"at", "groups"}},
		{"group", keys(body["groups"].([]any)[0]), []string{"groupId", "members", "partitions", "state"}},
		{"member", keys(body["groups"].([]any)[0].(map[string]any)["members"].([]any)[0]), []string{"assignments", "clientId", "host", "memberId"}},
		{"assignment", keys(body["groups"].([]any)[0].(map[string]any)["members"].([]any)[0].(map[string]any)["assignments"].([]any)[0]), []string{"partitions", "topic"}},
		{"partition", keys(body["groups"].([]any)[0].(map[string]any)["partitions"].([]any)[0]), []string{"committed", "end", "lag", "memberId", "partition", "topic"}},
	}
	for _, tt := range tests {
		if !slices.Equal(tt.got, tt.want) {
			t.Errorf("%s fields = %v, want %v", tt.what, tt.got, tt.want)
		}
	}
	if _, err := time.Parse(time.RFC3339, body["at"].(string)); err != nil {
		t.Errorf("at = %v, want an RFC 3339 time", body["at"])
	}
	var snap consumersSnapshot
	rec := httptest.NewRecorder()
	handleConsumers(c).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/consumers", nil))
	_ = json.Unmarshal(rec.Body.Bytes(), &snap)
	if got := snap.Groups[0].Partitions[1]; got != (inspect.GroupPartition{Topic: events.TopicStockReservations, Partition: 1, Committed: 12, End: 14, Lag: 2, MemberID: "m-1"}) {
		t.Errorf("partition 1 = %+v", got)
	}
}

func TestConsumersMarksARebalance(t *testing.T) {
	src := &fakeGroups{}
	c := NewConsumers(src, time.Second, slog.New(slog.DiscardHandler))
	clock := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	c.now = func() time.Time { clock = clock.Add(time.Second); return clock }
	snapshot := func() consumersSnapshot {
		c.refresh(context.Background())
		var s consumersSnapshot
		if err := json.Unmarshal(c.body, &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	steps := []struct {
		name       string
		group      inspect.Group
		wantMarked bool
		wantMoved  bool // the marker is newer than the previous one
	}{
		{"first seen", processorGroup(member("m-1", 0, 1, 2)), false, false},
		{"unchanged", processorGroup(member("m-1", 0, 1, 2)), false, false},
		{"a second member joined", processorGroup(member("m-1", 0, 1), member("m-2", 2)), true, true},
		{"unchanged again", processorGroup(member("m-1", 0, 1), member("m-2", 2)), true, false},
		{"the first one left", processorGroup(member("m-2", 0, 1, 2)), true, true},
	}
	var last *time.Time
	for _, s := range steps {
		src.set([]inspect.Group{s.group}, nil)
		got := snapshot().Groups[0].RebalancedAt
		if (got != nil) != s.wantMarked {
			t.Fatalf("%s: rebalancedAt = %v, want set %v", s.name, got, s.wantMarked)
		}
		if got != nil && last != nil && !got.Equal(*last) != s.wantMoved {
			t.Errorf("%s: rebalancedAt %v, before %v; want it moved: %v", s.name, got, last, s.wantMoved)
		}
		if got != nil {
			last = got
		}
	}
}

func TestConsumersKeepsTheLastGroupsWhileTheBrokerIsDown(t *testing.T) {
	src := &fakeGroups{groups: []inspect.Group{processorGroup(member("m-1", 0, 1, 2))}}
	c := NewConsumers(src, time.Second, slog.New(slog.DiscardHandler))
	c.refresh(context.Background())
	_, _, before := getConsumers(t, c)

	src.set(nil, errors.New("no broker answers at 10.1.2.3:9092"))
	c.refresh(context.Background())
	code, _, during := getConsumers(t, c)
	if code != http.StatusOK || during["at"] != before["at"] || len(during["groups"].([]any)) != 1 {
		t.Errorf("while failing: %d %v, want 200 with the groups read before, at %v", code, during, before["at"])
	}
	msg, _ := during["error"].(string)
	if msg == "" {
		t.Error("while failing, the snapshot does not say so")
	}
	if strings.Contains(msg, "10.1.2.3") {
		t.Errorf("the error names an internal address: %q", msg)
	}

	src.set([]inspect.Group{}, nil)
	c.refresh(context.Background())
	_, _, after := getConsumers(t, c)
	if after["error"] != nil || len(after["groups"].([]any)) != 0 {
		t.Errorf("after recovery: %v, want no error and the groups now (none)", after)
	}
}

func TestConsumersRunRefreshesUntilStopped(t *testing.T) {
	src := &fakeGroups{groups: []inspect.Group{}, called: make(chan struct{})}
	c := NewConsumers(src, time.Millisecond, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	deadline := time.After(30 * time.Second)
	for range 3 {
		select {
		case <-src.called:
		case <-deadline:
			t.Fatal("Run did not refresh three times in 30 s")
		}
	}
	cancel()
	go func() { // let a refresh under way finish its call
		for range src.called {
		}
	}()
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil once stopped", err)
	}
	close(src.called) // Run has returned: nothing calls Groups any more
	if code, _, _ := getConsumers(t, c); code != http.StatusOK {
		t.Errorf("after refreshes, GET /consumers = %d", code)
	}
}

func TestConsumersIsAnAdminView(t *testing.T) {
	const token = "consumers-admin-token-0123"
	c := NewConsumers(&fakeGroups{groups: []inspect.Group{processorGroup(member("m-1", 0, 1, 2))}}, time.Second, slog.New(slog.DiscardHandler))
	c.refresh(context.Background())
	history, flow := NewHistory(limits), NewFlow(10, nil, nil)
	server := func(edge *svc.Edge) http.Handler {
		return NewServer(slog.New(slog.DiscardHandler), history, flow, c, func(context.Context) error { return nil }, testConfig, edge, metrics.New("notifications-api"), testTracing(t))
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
		req, _ := http.NewRequest(http.MethodGet, tt.url+"/consumers", nil)
		if tt.auth != "" {
			req.Header.Set("Authorization", tt.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != tt.status || err != nil {
			t.Errorf("%s: %d (%v), want %d with a JSON body", tt.name, resp.StatusCode, err, tt.status)
		}
		if tt.status == http.StatusOK && body["groups"] == nil {
			t.Errorf("%s: %v, want the snapshot", tt.name, body)
		}
	}
}
