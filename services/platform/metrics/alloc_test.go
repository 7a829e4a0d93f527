package metrics

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kafkakit/kit/services/platform/stream"
)

// The order path pays no allocation for metrics once a topic or route has
// been seen: label values are bound once.
func TestMetricsAllocateNothingPerRecord(t *testing.T) {
	m := New("test-service")
	observe := m.Observe("g")
	o := stream.Outcome{Topic: "t", Result: stream.ResultOK, Duration: time.Millisecond}
	p := m.Producer(writerFunc(func(context.Context, ...kafka.Message) error { return nil }), "")
	msgs := []kafka.Message{{Topic: "a"}, {Topic: "b"}, {Topic: "a"}}
	observe(o)
	p.add(msgs, nil)
	for name, fn := range map[string]func(){
		"Observe":      func() { observe(o) },
		"Producer.add": func() { p.add(msgs, nil) },
	} {
		if n := testing.AllocsPerRun(100, fn); n != 0 {
			t.Errorf("%s allocates %v times per call, want 0", name, n)
		}
	}

	// A request allocates its status writer, nothing per label.
	mux := http.NewServeMux()
	mux.HandleFunc("POST /orders", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusCreated) })
	h := m.HTTP(mux)
	r := httptest.NewRequest(http.MethodPost, "/orders", nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	bare := testing.AllocsPerRun(100, func() { mux.ServeHTTP(w, r) })
	if n := testing.AllocsPerRun(100, func() { h.ServeHTTP(w, r) }); n > bare+1 {
		t.Errorf("a request allocates %v times with metrics, %v without; want at most one more", n, bare)
	}
}
