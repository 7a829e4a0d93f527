package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/kafkakit/kit/harness"
	"github.com/kafkakit/kit/services/events"
)

func TestMalformedRecordButton(t *testing.T) {
	ctx := testContext(t)
	brokers := startKafka(t)
	p := newProducer(cluster{brokers: strings.Split(brokers, ",")}, "")
	t.Cleanup(func() { p.Close() })
	srv := httptest.NewServer(demoAPI(p)) // listens on 127.0.0.1: a loopback client
	t.Cleanup(srv.Close)

	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/kit/demo/malformed", nil)
	req.Header.Set("Origin", "http://localhost:5173")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got malformedAnswer
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusAccepted || resp.Header.Get("Content-Type") != "application/json" ||
		got.Topic != events.TopicOrdersCreated || !strings.HasPrefix(got.Key, "malformed-") || got.Partition != partitionOf(got.Key) || got.Offset != 0 {
		t.Fatalf("POST /kit/demo/malformed = %d %+v, want 202 with the record's place on %s", resp.StatusCode, got, events.TopicOrdersCreated)
	}
	out := mustKit(t, ctx, "tail", events.TopicOrdersCreated, "-partition", strconv.Itoa(got.Partition), "-from", "earliest", "-exit", "-brokers", brokers)
	if !strings.Contains(out, "key="+got.Key+"\n") || !strings.Contains(out, "  this is not an order") {
		t.Errorf("the record on %s:\n%s", events.TopicOrdersCreated, out)
	}

	// A second press makes a second record with a key of its own.
	resp2, err := http.Post(srv.URL+"/kit/demo/malformed", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var again malformedAnswer
	_ = json.NewDecoder(resp2.Body).Decode(&again)
	resp2.Body.Close()
	if resp2.StatusCode != http.StatusAccepted || again.Key == got.Key {
		t.Errorf("second press = %d %+v, want 202 and a new key", resp2.StatusCode, again)
	}
}

func TestMalformedRecordButtonAnswersOnlyThisMachine(t *testing.T) {
	h := demoAPI(nil) // refused requests never reach the producer
	tests := []struct {
		name, method, path, remote, host, origin string
		want                                     int
	}{
		{"a client elsewhere", http.MethodPost, "/kit/demo/malformed", "192.0.2.7:5000", "localhost:5173", "", http.StatusForbidden},
		{"a DNS-rebinding page", http.MethodPost, "/kit/demo/malformed", "127.0.0.1:5000", "evil.example:5173", "", http.StatusForbidden},
		{"a cross-site post", http.MethodPost, "/kit/demo/malformed", "127.0.0.1:5000", "localhost:5173", "https://evil.example", http.StatusForbidden},
		{"a GET", http.MethodGet, "/kit/demo/malformed", "127.0.0.1:5000", "localhost:5173", "", http.StatusMethodNotAllowed},
		{"an unknown path", http.MethodPost, "/kit/demo/other", "127.0.0.1:5000", "localhost:5173", "", http.StatusNotFound},
	}
	for _, tt := range tests {
		req := httptest.NewRequest(tt.method, tt.path, nil)
		req.RemoteAddr, req.Host = tt.remote, tt.host
		if tt.origin != "" {
			req.Header.Set("Origin", tt.origin)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var body struct{ Error string }
		if err := json.Unmarshal(rec.Body.Bytes(), &body); rec.Code != tt.want || err != nil || body.Error == "" {
			t.Errorf("%s: %d %s, want %d with a JSON error", tt.name, rec.Code, rec.Body, tt.want)
		}
	}
}

func TestLocalNames(t *testing.T) {
	tests := []struct {
		host string
		want bool
	}{
		{"localhost", true}, {"localhost:5173", true}, {"127.0.0.1:5173", true}, {"[::1]:5173", true}, {"127.0.0.2", true},
		{"evil.example", false}, {"localhost.evil.example:5173", false}, {"10.0.0.1:5173", false}, {"", false},
	}
	for _, tt := range tests {
		if got := localName(tt.host); got != tt.want {
			t.Errorf("localName(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
}

type fakeSeeder struct {
	got map[string]int
	err error
}

func (f *fakeSeeder) Seed(_ context.Context, q map[string]int) error {
	f.got = maps.Clone(q)
	return f.err
}

func TestDemoStockHasOneNearlySoldOut(t *testing.T) {
	var stderr bytes.Buffer
	s := &fakeSeeder{}
	if !seedDemoStock(context.Background(), s, &stderr) {
		t.Fatalf("seeding failed: %s", stderr.String())
	}
	if len(s.got) < 4 || s.got["LAST-ONE"] != 1 {
		t.Errorf("seeded %v, want a handful of SKUs with LAST-ONE at 1", s.got)
	}
	for sku, qty := range s.got {
		if qty < 1 || qty > events.MaxQty {
			t.Errorf("%s seeded with %d", sku, qty)
		}
	}
	stderr.Reset()
	if seedDemoStock(context.Background(), &fakeSeeder{err: errors.New("POST /seed: 503")}, &stderr) {
		t.Error("a failed seed reported success")
	}
	if !strings.Contains(stderr.String(), "could not seed the demo stock") || !strings.Contains(stderr.String(), "503") {
		t.Errorf("a failed seed printed %q", stderr.String())
	}
}

func TestTryLinesFollowTheSeed(t *testing.T) {
	url := func(name string) string { return fmt.Sprintf("http://127.0.0.1:%d", harness.DefaultPorts[name]) }
	var seeded, empty bytes.Buffer
	printTry(&seeded, url, true)
	printTry(&empty, url, false)
	for _, want := range []string{"LAST-ONE=1", "out of stock:", `"sku":"LAST-ONE","qty":2`, "http://127.0.0.1:8081/orders", "payment declined:", `"total":1500`, "kit dlq list " + events.TopicOrdersCreated, "kit groups -watch", `export PATH="$PWD/bin:$PATH"`} {
		if !strings.Contains(seeded.String(), want) {
			t.Errorf("Try lines after seeding lack %q:\n%s", want, seeded.String())
		}
	}
	if strings.Contains(seeded.String(), "go run ./harness/cmd/kit produce") {
		t.Errorf("Try lines spell kit two ways (the lessons say kit):\n%s", seeded.String())
	}
	if !strings.Contains(empty.String(), "http://127.0.0.1:8084/seed") || strings.Contains(empty.String(), "LAST-ONE") {
		t.Errorf("Try lines without the seed:\n%s", empty.String())
	}
}
