package metrics

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/segmentio/kafka-go"

	"github.com/kafkakit/kit/services/platform/inspect"
	"github.com/kafkakit/kit/services/platform/stream"
)

// scrape fetches /metrics through the handler and parses it as Prometheus
// would read it.
func scrape(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics = %d %s", rec.Code, rec.Body)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	families, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("parse the exposition: %v", err)
	}
	return families
}

// value is the value of name's series with exactly labels (a histogram's
// sample count), and whether it exists.
func value(families map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	f := families[name]
	if f == nil {
		return 0, false
	}
	for _, m := range f.Metric {
		var got []string
		for _, l := range m.Label {
			got = append(got, l.GetName(), l.GetValue())
		}
		if !slices.Equal(got, labels) {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func want(t *testing.T, families map[string]*dto.MetricFamily, wantValue float64, name string, labels ...string) {
	t.Helper()
	got, ok := value(families, name, labels...)
	if !ok {
		t.Errorf("%s%v: no such series", name, labels)
	} else if got != wantValue {
		t.Errorf("%s%v = %v, want %v", name, labels, got, wantValue)
	}
}

func TestEveryContractMetricIsExposedWithItsTypeAndLabels(t *testing.T) {
	m := New("test-service")
	m.SSE(func() float64 { return 3 }).Inc()
	_ = m.Producer(writerFunc(func(context.Context, ...kafka.Message) error { return nil }), "").
		WriteMessages(context.Background(), kafka.Message{Topic: "t"})
	m.Observe("g")(stream.Outcome{Topic: "t", Result: stream.ResultDeadLetter})
	m.lag.WithLabelValues("t", "0", "g").Set(1)
	m.backlog.WithLabelValues(m.service).Set(1)
	m.HTTP(http.NotFoundHandler()).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))

	families := scrape(t, m)
	kinds := map[Kind]dto.MetricType{Counter: dto.MetricType_COUNTER, Gauge: dto.MetricType_GAUGE, Histogram: dto.MetricType_HISTOGRAM}
	for _, c := range Contract {
		f := families[c.Name]
		if f == nil {
			t.Errorf("%s not exposed", c.Name)
			continue
		}
		if f.GetType() != kinds[c.Kind] {
			t.Errorf("%s is a %v, want %s", c.Name, f.GetType(), c.Kind)
		}
		if !strings.HasPrefix(c.Name, "kafkakit_") || f.GetHelp() == "" {
			t.Errorf("%s: want the kafkakit_ namespace and a help text", c.Name)
		}
		for _, s := range f.Metric {
			var names []string
			for _, l := range s.Label {
				names = append(names, l.GetName())
			}
			if want := slices.Sorted(slices.Values(c.Labels)); !slices.Equal(names, want) {
				t.Errorf("%s has labels %v, want %v", c.Name, names, want)
			}
		}
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if families[name] == nil {
			t.Errorf("%s missing: the Go and process collectors belong on every service", name)
		}
	}
	want(t, families, 3, SSEStreams)
}

type writerFunc func(ctx context.Context, msgs ...kafka.Message) error

func (f writerFunc) WriteMessages(ctx context.Context, msgs ...kafka.Message) error {
	return f(ctx, msgs...)
}

func TestProducerCountsWhatTheBrokerAcknowledged(t *testing.T) {
	m := New("test-service")
	var fail error
	p := m.Producer(writerFunc(func(context.Context, ...kafka.Message) error { return fail }), "own")
	ctx := context.Background()
	msgs := []kafka.Message{{Topic: "a"}, {Topic: "a"}, {}, {Topic: "b"}, {Topic: "a"}}
	if err := p.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	fail = errors.New("broker down")
	_ = p.WriteMessages(ctx, msgs...) // nothing taken
	fail = kafka.WriteErrors{nil, errors.New("x"), nil, errors.New("y"), nil}
	_ = p.WriteMessages(ctx, msgs...) // all but the second and fourth

	families := scrape(t, m)
	want(t, families, 3+2, MessagesProduced, "topic", "a")
	want(t, families, 1+1, MessagesProduced, "topic", "own")
	want(t, families, 1, MessagesProduced, "topic", "b")
}

func TestObserveCountsFinishedRecordsAndTimesEveryAttempt(t *testing.T) {
	m := New("test-service")
	observe := m.Observe("g")
	for _, o := range []stream.Outcome{
		{Topic: "t", Result: stream.ResultRetry, Duration: time.Millisecond},
		{Topic: "t", Result: stream.ResultRetry, Duration: time.Millisecond},
		{Topic: "t", Result: stream.ResultOK, Duration: time.Millisecond},
		{Topic: "t", Result: stream.ResultOK, Duration: time.Millisecond},
		{Topic: "t", Result: stream.ResultDeadLetter, Duration: time.Millisecond},
		{Topic: "t", Result: stream.ResultCancelled, Duration: time.Millisecond}, // delivered again later
		{Topic: "u", Result: stream.ResultOK, Duration: time.Millisecond},
	} {
		observe(o)
	}
	m.Consumed("s")(time.Millisecond)

	families := scrape(t, m)
	want(t, families, 3, MessagesConsumed, "group", "g", "topic", "t")
	want(t, families, 1, MessagesConsumed, "group", "g", "topic", "u")
	want(t, families, 1, MessagesConsumed, "group", "", "topic", "s")
	want(t, families, 1, DeadLetters, "group", "g", "topic", "t")
	want(t, families, 2, HandlerDuration, "group", "g", "outcome", "ok", "topic", "t")
	want(t, families, 2, HandlerDuration, "group", "g", "outcome", "retry", "topic", "t")
	want(t, families, 1, HandlerDuration, "group", "g", "outcome", "dead_letter", "topic", "t")
	if _, ok := value(families, HandlerDuration, "group", "g", "outcome", "cancelled", "topic", "t"); ok {
		t.Errorf("a cancelled attempt was timed; it is not an outcome of the contract")
	}
}

func TestHTTPLabelsByRoutePatternAndCode(t *testing.T) {
	m := New("test-service")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == "missing" {
			http.Error(w, "no", http.StatusNotFound)
			return
		}
		_, _ = io.WriteString(w, "ok") // 200 without WriteHeader
	})
	h := m.HTTP(mux)
	for _, path := range []string{"/orders/1", "/orders/2", "/orders/missing", "/nowhere"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, path, nil))
	}
	families := scrape(t, m)
	want(t, families, 2, HTTPRequests, "code", "200", "route", "GET /orders/{id}")
	want(t, families, 1, HTTPRequests, "code", "404", "route", "GET /orders/{id}")
	want(t, families, 1, HTTPRequests, "code", "404", "route", Unmatched)
	want(t, families, 3, HTTPRequestDuration, "route", "GET /orders/{id}")
	for _, f := range families[HTTPRequests].Metric {
		for _, l := range f.Label {
			if strings.Contains(l.GetValue(), "/orders/1") || strings.Contains(l.GetValue(), "nowhere") {
				t.Errorf("a raw path became a label: %v", f.Label)
			}
		}
	}
}

// An event stream behind the middleware still learns, through
// http.ResponseController, that its client has gone.
func TestHTTPKeepsFlushErrors(t *testing.T) {
	m := New("test-service")
	var flushErr error
	h := m.HTTP(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		flushErr = http.NewResponseController(w).Flush()
	}))
	h.ServeHTTP(failingFlusher{httptest.NewRecorder()}, httptest.NewRequest(http.MethodGet, "/events", nil))
	if flushErr == nil {
		t.Fatal("Flush through the middleware = nil, want the connection's error")
	}
}

type failingFlusher struct{ http.ResponseWriter }

func (failingFlusher) FlushError() error { return errors.New("client gone") }

type fakeCluster struct {
	c   inspect.Cluster
	err error
}

func (f fakeCluster) Cluster(context.Context, ...string) (inspect.Cluster, error) { return f.c, f.err }

func TestLagIsEndMinusPositionPerHeldPartition(t *testing.T) {
	m := New("test-service")
	cluster := fakeCluster{c: inspect.Cluster{Topics: []inspect.Topic{{Name: "t", Partitions: []inspect.Partition{
		{ID: 0, Earliest: 0, Latest: 10}, {ID: 1, Earliest: 4, Latest: 9}, {ID: 2, Earliest: 0, Latest: 7},
	}}}}}
	var l lagWatch
	l.refresh(context.Background(), m.lag, cluster, "g", []Position{
		{Topic: "t", Partition: 0, Next: 10, End: 10},
		{Topic: "t", Partition: 1, Next: -1, End: -1}, // never committed: from the earliest
		{Topic: "t", Partition: 2, Next: 3, End: 5},   // its own view is behind the broker's
	})
	families := scrape(t, m)
	want(t, families, 0, ConsumerLag, "group", "g", "partition", "0", "topic", "t")
	want(t, families, 5, ConsumerLag, "group", "g", "partition", "1", "topic", "t")
	want(t, families, 4, ConsumerLag, "group", "g", "partition", "2", "topic", "t")

	// A rebalance took partitions 1 and 2 away, and the broker cannot be
	// asked: the held partition's own view stands in.
	l.refresh(context.Background(), m.lag, fakeCluster{err: errors.New("unreachable")}, "g", []Position{
		{Topic: "t", Partition: 0, Next: 10, End: 12},
	})
	families = scrape(t, m)
	want(t, families, 2, ConsumerLag, "group", "g", "partition", "0", "topic", "t")
	for _, p := range []string{"1", "2"} {
		if _, ok := value(families, ConsumerLag, "group", "g", "partition", p, "topic", "t"); ok {
			t.Errorf("partition %s still reported after it was given away", p)
		}
	}
}
