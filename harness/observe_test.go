package harness_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/kafkakit/kit/harness"
	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/metrics"
)

// series is one scraped sample: its labels (but the target's) and value.
type series struct {
	labels map[string]string
	value  float64
}

// scrape reads a service's /metrics as Prometheus would, with a Host that
// is no name of the service (a scraper reaches a pod by its address), and
// returns every kafkakit_ series by metric name.
func scrape(ctx context.Context, t *testing.T, url string) map[string][]series {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "10.1.2.3:9999"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s/metrics with Host %s = %d, want 200", url, req.Host, resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s/metrics: %v", url, err)
	}
	out := map[string][]series{}
	for name, f := range families {
		if !strings.HasPrefix(name, "kafkakit_") {
			continue
		}
		for _, m := range f.Metric {
			s := series{labels: map[string]string{}}
			for _, l := range m.Label {
				s.labels[l.GetName()] = l.GetValue()
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				s.value = m.Counter.GetValue()
			case dto.MetricType_GAUGE:
				s.value = m.Gauge.GetValue()
			case dto.MetricType_HISTOGRAM:
				s.value = float64(m.Histogram.GetSampleCount())
			}
			out[name] = append(out[name], s)
		}
	}
	return out
}

// sample is the value of name's series whose labels include want (pairs),
// 0 when there is none.
func sample(scraped map[string][]series, name string, want ...string) float64 {
	for _, s := range scraped[name] {
		match := true
		for i := 0; i < len(want); i += 2 {
			if s.labels[want[i]] != want[i+1] {
				match = false
			}
		}
		if match {
			return s.value
		}
	}
	return 0
}

// expectation is a count a scrape must show once the orders have flowed.
type expectation struct {
	service string
	metric  string
	labels  []string
	want    float64
}

func (e expectation) String() string {
	return fmt.Sprintf("%s %s%v", e.service, e.metric, e.labels)
}

// TestMetricsCountTheOrdersPlacedAndOneOrderIsOneTrace starts the real
// services on the embedded broker, places three orders — paid, declined by
// payment, out of stock — and scrapes every service: the counters moved by
// exactly what those orders cause, lag and outbox backlog come back to 0,
// and each order's records on every topic carry one trace id of its own.
func TestMetricsCountTheOrdersPlacedAndOneOrderIsOneTrace(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	stack, err := harness.Start(ctx, harness.Options{ServiceEnv: map[string]string{"PAYMENT_DELAY": "0"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stack.Close(context.Background()) })

	topics := []string{events.TopicOrdersCreated, events.TopicStockReservations, events.TopicOrdersStatus, events.TopicInventoryUpdated}
	tails := map[string]*harness.Tail{}
	for _, topic := range topics {
		tail, err := stack.Kafka().Tail(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(tail.Close)
		tails[topic] = tail
	}

	c := stack.Client()
	if err := c.Seed(ctx, map[string]int{"METRICS-BOOK": 5, "METRICS-LAMP": 1}); err != nil {
		t.Fatal(err)
	}
	placed := map[string][]events.Status{}
	for _, o := range []struct {
		order harness.OrderRequest
		want  []events.Status
	}{
		{harness.OrderRequest{UserID: "metrics", Items: []harness.Item{{SKU: "METRICS-BOOK", Qty: 1}}, Total: 10, Currency: "EUR"},
			[]events.Status{events.StatusCreated, events.StatusProcessing, events.StatusPaid}},
		{harness.OrderRequest{UserID: "metrics", Items: []harness.Item{{SKU: "METRICS-BOOK", Qty: 1}}, Total: 1500, Currency: "EUR"},
			[]events.Status{events.StatusCreated, events.StatusProcessing, events.StatusFailed}},
		{harness.OrderRequest{UserID: "metrics", Items: []harness.Item{{SKU: "METRICS-LAMP", Qty: 2}}, Total: 10, Currency: "EUR"},
			[]events.Status{events.StatusCreated, events.StatusFailed}},
	} {
		id, resp, err := c.PlaceOrder(ctx, o.order)
		if err != nil || id == "" {
			t.Fatalf("place order: %v (%d %s)", err, resp.Status, resp.Body)
		}
		if got := statusesOf(ctx, t, c, id); !slices.Equal(got, o.want) {
			t.Fatalf("order %s: statuses %v, want %v", id, got, o.want)
		}
		placed[id] = o.want
	}

	// What three orders cause: 3 orders.created; 3 reservations; 3+3+2
	// statuses; inventory updates for the two reserved orders and the
	// declined one's release. notifications-api reads statuses without a
	// group and pushed each once, to one follower.
	const statuses = 8
	want := []expectation{
		{harness.OrdersAPI, metrics.MessagesProduced, []string{"topic", events.TopicOrdersCreated}, 3},
		{harness.OrdersAPI, metrics.HTTPRequests, []string{"route", "POST /orders", "code", "201"}, 3},
		{harness.StockService, metrics.MessagesConsumed, []string{"topic", events.TopicOrdersCreated, "group", events.GroupStockService}, 3},
		{harness.StockService, metrics.MessagesConsumed, []string{"topic", events.TopicOrdersStatus, "group", events.GroupStockService}, statuses},
		{harness.StockService, metrics.MessagesProduced, []string{"topic", events.TopicStockReservations}, 3},
		{harness.StockService, metrics.MessagesProduced, []string{"topic", events.TopicInventoryUpdated}, 3},
		{harness.StockService, metrics.HTTPRequests, []string{"route", "POST /seed", "code", "200"}, 1},
		{harness.StockService, metrics.HandlerDuration, []string{"topic", events.TopicOrdersCreated, "group", events.GroupStockService, "outcome", "ok"}, 3},
		{harness.OrdersProcessor, metrics.MessagesConsumed, []string{"topic", events.TopicStockReservations, "group", events.GroupOrdersProcessor}, 3},
		{harness.OrdersProcessor, metrics.MessagesProduced, []string{"topic", events.TopicOrdersStatus}, statuses},
		{harness.NotificationsAPI, metrics.MessagesConsumed, []string{"topic", events.TopicOrdersStatus, "group", ""}, statuses},
		{harness.NotificationsAPI, metrics.SSEEventsSent, nil, statuses},
	}
	// Wait until every count has been reached and lag, backlog and open
	// streams are back to 0 (the gauges are refreshed every few seconds),
	// then hold the counts to exactly what was caused.
	var scraped map[string]map[string][]series
	var pending []string
	for {
		scraped = map[string]map[string][]series{}
		for _, name := range harness.Services {
			scraped[name] = scrape(ctx, t, stack.URL(name))
		}
		pending = pending[:0]
		for _, e := range want {
			if sample(scraped[e.service], e.metric, e.labels...) < e.want {
				pending = append(pending, e.String())
			}
		}
		for _, name := range []string{harness.StockService, harness.OrdersProcessor, harness.NotificationsAPI} {
			lags := scraped[name][metrics.ConsumerLag]
			if len(lags) == 0 {
				pending = append(pending, name+" reports no consumer lag")
			}
			for _, s := range lags {
				if s.value != 0 {
					pending = append(pending, fmt.Sprintf("%s lag %v = %v", name, s.labels, s.value))
				}
			}
		}
		for _, name := range []string{harness.OrdersAPI, harness.StockService} {
			if v, ok := one(scraped[name][metrics.OutboxBacklog]); !ok || v != 0 {
				pending = append(pending, fmt.Sprintf("%s outbox backlog %v (reported: %v)", name, v, ok))
			}
		}
		if v, ok := one(scraped[harness.NotificationsAPI][metrics.SSEStreams]); !ok || v != 0 {
			pending = append(pending, fmt.Sprintf("notifications-api open streams %v (reported: %v)", v, ok))
		}
		if len(pending) == 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("metrics never settled: %s", strings.Join(pending, "; "))
		case <-time.After(200 * time.Millisecond):
		}
	}
	for _, e := range want {
		if got := sample(scraped[e.service], e.metric, e.labels...); got != e.want {
			t.Errorf("%s = %v, want exactly %v", e, got, e.want)
		}
	}
	for _, name := range []string{harness.StockService, harness.OrdersProcessor} {
		for _, s := range scraped[name][metrics.DeadLetters] {
			if s.value != 0 {
				t.Errorf("%s: %v dead letters %v, want none", name, s.value, s.labels)
			}
		}
	}
	for name, families := range scraped {
		for _, s := range families[metrics.HTTPRequests] {
			if strings.Contains(s.labels["route"], "/orders/") && !strings.Contains(s.labels["route"], "{") {
				t.Errorf("%s: raw path %q as a route label", name, s.labels["route"])
			}
		}
	}

	checkOneTracePerOrder(ctx, t, tails, placed)
}

// one is the value of the only series of a metric.
func one(ss []series) (float64, bool) {
	if len(ss) != 1 {
		return 0, false
	}
	return ss[0].value, true
}

// checkOneTracePerOrder holds every record of each order, on every topic
// it crossed, to one trace id, different from the other orders', and to a
// timestamp of when it was sent.
func checkOneTracePerOrder(ctx context.Context, t *testing.T, tails map[string]*harness.Tail, placed map[string][]events.Status) {
	t.Helper()
	records := map[string][]harness.Record{}
	for topic, tail := range tails {
		want := map[string]int{}
		for id, statuses := range placed {
			switch topic {
			case events.TopicOrdersStatus:
				want[id] = len(statuses)
			case events.TopicInventoryUpdated:
				if statuses[1] == events.StatusProcessing { // reserved: a take, and for a failed one a give-back
					want[id] = 1 + map[bool]int{true: 1}[statuses[2] == events.StatusFailed]
				}
			default:
				want[id] = 1
			}
		}
		recs, err := tail.WaitFor(ctx, func(recs []harness.Record) bool {
			got := map[string]int{}
			for _, r := range recs {
				got[orderOf(r)]++
			}
			for id, n := range want {
				if got[id] < n {
					return false
				}
			}
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			records[orderOf(r)] = append(records[orderOf(r)], r)
		}
	}
	traces := map[string]string{}
	for id := range placed {
		var trace string
		seen := map[string]bool{}
		for _, r := range records[id] {
			seen[r.Topic] = true
			tp := r.Headers["traceparent"]
			parts := strings.Split(tp, "-")
			if len(parts) != 4 || len(parts[1]) != 32 {
				t.Errorf("order %s: %s/%d@%d has traceparent %q, want a W3C trace context", id, r.Topic, r.Partition, r.Offset, tp)
				continue
			}
			if trace == "" {
				trace = parts[1]
			} else if parts[1] != trace {
				t.Errorf("order %s: %s record in trace %s, the order's other records in %s", id, r.Topic, parts[1], trace)
			}
			if age := time.Since(r.Timestamp); age < 0 || age > 10*time.Minute {
				t.Errorf("order %s: %s record stamped %v, want the time it was sent", id, r.Topic, r.Timestamp)
			}
		}
		for _, topic := range events.OrderPath {
			if !seen[topic] {
				t.Errorf("order %s: no record on %s", id, topic)
			}
		}
		if other, dup := traces[trace]; dup && trace != "" {
			t.Errorf("orders %s and %s share trace %s", id, other, trace)
		}
		traces[trace] = id
	}
}

// orderOf is the order a record belongs to: its key, or for an inventory
// update (keyed by SKU) the orderId in its value.
func orderOf(r harness.Record) string {
	if r.Topic != events.TopicInventoryUpdated {
		return r.Key
	}
	var u events.InventoryUpdated
	_ = json.Unmarshal(r.Value, &u)
	return u.OrderID
}
