package prometheus

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kafkakit/kit/services/platform/metrics"
)

func TestConfigHasAJobPerServiceAndTheRules(t *testing.T) {
	got := Config(Options{
		Targets: map[string][]string{"orders-api": {"127.0.0.1:8081", "127.0.0.1:8181"}, "notifications-api": {"127.0.0.1:8083"}},
		Rules:   "/kit/deploy/prometheus/rules.yml",
	})
	for _, want := range []string{
		"scrape_interval: 5s",
		`rule_files:` + "\n" + `  - "/kit/deploy/prometheus/rules.yml"`,
		`- job_name: "notifications-api"` + "\n    static_configs:\n      - targets: [\"127.0.0.1:8083\"]\n  - job_name: \"orders-api\"",
		`targets: ["127.0.0.1:8081", "127.0.0.1:8181"]`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("config lacks %q:\n%s", want, got)
		}
	}
}

// A real Prometheus (Debian's) scrapes a service's /metrics and evaluates
// the kit's recording rules over it.
func TestPrometheusScrapesAndRecords(t *testing.T) {
	if _, err := Find(); err != nil {
		t.Skipf("SKIP prometheus server: %v", err)
	}
	m := metrics.New("orders-api")
	produce := m.Producer(writerFunc(func(context.Context, ...kafka.Message) error { return nil }), "orders.created")
	service := httptest.NewServer(m.Handler())
	t.Cleanup(service.Close)
	if err := produce.WriteMessages(context.Background(), kafka.Message{}, kafka.Message{}); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rules, err := filepath.Abs(filepath.Join("..", "..", "deploy", "prometheus", "rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Start(ctx, Options{
		Targets:        map[string][]string{"orders-api": {strings.TrimPrefix(service.URL, "http://")}},
		Rules:          rules,
		ScrapeInterval: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })

	for _, q := range []struct{ query, want string }{
		{`kafkakit_messages_produced_total{job="orders-api",topic="orders.created"}`, "2"},
		{`topic:kafkakit_messages_produced:rate1m{topic="orders.created"}`, "0"}, // recorded: two scrapes, no change
	} {
		for {
			got, err := query(ctx, s.URL(), q.query)
			if err == nil && got == q.want {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("%s = %q (%v), want %s", q.query, got, err, q.want)
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
}

// query asks Prometheus for an instant vector of one sample and returns its
// value.
func query(ctx context.Context, base, q string) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/query?query="+url.QueryEscape(q), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var body struct {
		Data struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return "", err
	}
	if len(body.Data.Result) != 1 {
		return "", errors.New("not one sample")
	}
	v, _ := body.Data.Result[0].Value[1].(string)
	return v, nil
}

type writerFunc func(ctx context.Context, msgs ...kafka.Message) error

func (f writerFunc) WriteMessages(ctx context.Context, msgs ...kafka.Message) error {
	return f(ctx, msgs...)
}
