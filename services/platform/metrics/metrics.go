// Package metrics is what every service exposes on GET /metrics for
// Prometheus: the Go and process collectors, and the kit's own metrics
// under the kafkakit_ namespace (Contract) — records produced and consumed,
// handler latency, dead letters, consumer lag, outbox backlog, HTTP and
// Server-Sent Events. Labels are of low cardinality: topics, groups,
// partitions, routes and status codes, never an order or a user.
//
// Each service has a registry of its own (New), not Prometheus's global
// one, so tests can run several services in one process. What sits on the
// order path binds its label values once per topic or route and allocates
// nothing per record.
package metrics

import (
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The kit's metric names: the contract deploy/prometheus's recording rules
// and Grafana dashboard are written against.
const (
	MessagesProduced    = "kafkakit_messages_produced_total"
	MessagesConsumed    = "kafkakit_messages_consumed_total"
	HandlerDuration     = "kafkakit_handler_duration_seconds"
	DeadLetters         = "kafkakit_dead_letters_total"
	ConsumerLag         = "kafkakit_consumer_lag"
	OutboxBacklog       = "kafkakit_outbox_backlog"
	HTTPRequests        = "kafkakit_http_requests_total"
	HTTPRequestDuration = "kafkakit_http_request_duration_seconds"
	SSEStreams          = "kafkakit_sse_streams"
	SSEEventsSent       = "kafkakit_sse_events_sent_total"
)

// Kind is a metric's Prometheus type.
type Kind string

const (
	Counter   Kind = "counter"
	Gauge     Kind = "gauge"
	Histogram Kind = "histogram"
)

// Metric describes one of the kit's metrics.
type Metric struct {
	Name   string
	Kind   Kind
	Labels []string
	Help   string
}

// Contract lists every kafkakit_ metric with its type and labels. The
// collectors are built from it, and deploy's tests hold the rules and the
// dashboard to it.
var Contract = []Metric{
	{MessagesProduced, Counter, []string{"topic"}, "Records the broker acknowledged, per topic."},
	{MessagesConsumed, Counter, []string{"topic", "group"}, "Records a consumer finished (applied or dead-lettered), per topic and consumer group (\"\" for a reader without a group)."},
	{HandlerDuration, Histogram, []string{"topic", "group", "outcome"}, "Time of one attempt at a record, by outcome: ok, retry or dead_letter."},
	{DeadLetters, Counter, []string{"topic", "group"}, "Records set aside on <topic>.dlq, per source topic and consumer group."},
	{ConsumerLag, Gauge, []string{"topic", "partition", "group"}, "End offset minus the reader's committed offset (or position, without a group), per partition it reads; refreshed every few seconds."},
	{OutboxBacklog, Gauge, []string{"service"}, "Records committed to the outbox and not yet acknowledged by the broker."},
	{HTTPRequests, Counter, []string{"route", "code"}, "HTTP requests answered, per route (the router's pattern) and status code."},
	{HTTPRequestDuration, Histogram, []string{"route"}, "Time to answer an HTTP request, per route; a stream counts until it ends."},
	{SSEStreams, Gauge, nil, "Server-Sent Event streams open now."},
	{SSEEventsSent, Counter, nil, "Server-Sent Events written to clients (heartbeats not counted)."},
}

// latencyBuckets suit both a handler's and a request's time: from half a
// millisecond (a record applied from memory) to ten seconds (a stuck one).
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// Metrics is one service's registry and the kit's collectors in it.
type Metrics struct {
	service string
	reg     *prometheus.Registry

	produced *prometheus.CounterVec
	consumed *prometheus.CounterVec
	handler  *prometheus.HistogramVec
	dead     *prometheus.CounterVec
	lag      *prometheus.GaugeVec
	backlog  *prometheus.GaugeVec
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// New returns the metrics of service (orders-api, ...) in a registry of
// their own, with the Go runtime and process collectors.
func New(service string) *Metrics {
	m := &Metrics{service: service, reg: prometheus.NewRegistry()}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, c := range Contract {
		switch c.Name {
		case MessagesProduced:
			m.produced = m.counterVec(c)
		case MessagesConsumed:
			m.consumed = m.counterVec(c)
		case HandlerDuration:
			m.handler = m.histogramVec(c)
		case DeadLetters:
			m.dead = m.counterVec(c)
		case ConsumerLag:
			m.lag = m.gaugeVec(c)
		case OutboxBacklog:
			m.backlog = m.gaugeVec(c)
		case HTTPRequests:
			m.requests = m.counterVec(c)
		case HTTPRequestDuration:
			m.duration = m.histogramVec(c)
		}
	}
	return m
}

func (m *Metrics) counterVec(c Metric) *prometheus.CounterVec {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: c.Name, Help: c.Help}, c.Labels)
	m.reg.MustRegister(v)
	return v
}

func (m *Metrics) gaugeVec(c Metric) *prometheus.GaugeVec {
	v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: c.Name, Help: c.Help}, c.Labels)
	m.reg.MustRegister(v)
	return v
}

func (m *Metrics) histogramVec(c Metric) *prometheus.HistogramVec {
	v := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: c.Name, Help: c.Help, Buckets: latencyBuckets}, c.Labels)
	m.reg.MustRegister(v)
	return v
}

// help is the help text of the contract metric name.
func help(name string) string {
	for _, c := range Contract {
		if c.Name == name {
			return c.Help
		}
	}
	return ""
}

// Registry is the service's registry, for a test to gather from.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in Prometheus's text format: GET /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		// One scrape at a time: a second one waits rather than doubling
		// the work on a busy service.
		MaxRequestsInFlight: 1,
		ErrorHandling:       promhttp.ContinueOnError,
	})
}

// SSE registers notifications-api's stream metrics: kafkakit_sse_streams
// reads open when scraped (nothing on the stream path), and the returned
// counter is kafkakit_sse_events_sent_total. Call it once: a second call
// panics, as registering a metric twice does.
func (m *Metrics) SSE(open func() float64) prometheus.Counter {
	sent := prometheus.NewCounter(prometheus.CounterOpts{Name: SSEEventsSent, Help: help(SSEEventsSent)})
	m.reg.MustRegister(sent, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: SSEStreams, Help: help(SSEStreams)}, open))
	return sent
}

// bound caches a value per label (a topic, a route), made on first use and
// read without a lock or an allocation afterwards: the map is replaced,
// never changed, when a label is added.
type bound[T any] struct {
	make func(label string) T
	mu   sync.Mutex
	m    atomic.Pointer[map[string]T]
}

func newBound[T any](make func(string) T) *bound[T] {
	b := &bound[T]{make: make}
	b.m.Store(&map[string]T{})
	return b
}

func (b *bound[T]) get(label string) T {
	if v, ok := (*b.m.Load())[label]; ok {
		return v
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	old := *b.m.Load()
	if v, ok := old[label]; ok {
		return v
	}
	next := make(map[string]T, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	v := b.make(label)
	next[label] = v
	b.m.Store(&next)
	return v
}
