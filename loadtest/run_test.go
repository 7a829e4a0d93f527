package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/kafkakit/kit/loadtest/internal/floor"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(t *testing.T, c config)
		wantErr string
	}{
		{
			name: "no flags: standard profile on a harness stack, embedded broker",
			check: func(t *testing.T, c config) {
				if c.target != "harness" || c.broker != "embedded" || c.rate != 200 || !c.floor ||
					!reflect.DeepEqual(c.floorProducers, []floor.Producer{floor.ProduceClient, floor.ProduceWriterLinger}) || c.floorPrefix != "loadtest.floor" ||
					!reflect.DeepEqual(c.ramp, []float64{500, 1000, 1500, 2000, 2500}) || c.thresholds.MinSustainedRate != 2000 {
					t.Errorf("got %+v", c)
				}
			},
		},
		{
			name: "BROKER=kafka picks the real broker",
			env:  map[string]string{"BROKER": "kafka"},
			check: func(t *testing.T, c config) {
				if c.broker != "kafka" || c.target != "harness" {
					t.Errorf("got broker %q target %q, want kafka harness", c.broker, c.target)
				}
			},
		},
		{
			name: "a scaled stack on PostgreSQL and the cluster",
			args: []string{"-instances", "orders-processor=2,stock-service=2,notifications-api=2", "-db", "postgres", "-broker", "kafka-cluster"},
			check: func(t *testing.T, c config) {
				want := map[string]int{"orders-processor": 2, "stock-service": 2, "notifications-api": 2}
				if !reflect.DeepEqual(c.instances, want) || c.db != "postgres" || c.broker != "kafka-cluster" || c.target != "harness" || c.floorReplicas != 0 {
					t.Errorf("got instances %v db %q broker %q target %q floor replication %d", c.instances, c.db, c.broker, c.target, c.floorReplicas)
				}
			},
		},
		{
			name: "-security sasl_ssl locks the stack the runner starts down",
			args: []string{"-security", "sasl_ssl"},
			check: func(t *testing.T, c config) {
				if c.security != "sasl_ssl" || c.target != "harness" {
					t.Errorf("got security %q target %q", c.security, c.target)
				}
			},
		},
		{
			name: "SECURITY from the environment, as make passes it",
			env:  map[string]string{"SECURITY": "sasl_ssl"},
			check: func(t *testing.T, c config) {
				if c.security != "sasl_ssl" {
					t.Errorf("got security %q", c.security)
				}
			},
		},
		{name: "an unknown -security", args: []string{"-security", "tls"}, wantErr: "-security"},
		{name: "-security on a running stack", args: []string{"-security", "sasl_ssl", "-brokers", "b:9093"}, wantErr: "-security locks down"},
		{
			name: "the shape from the environment, as make passes it",
			env:  map[string]string{"DB": "postgres", "INSTANCES": "orders-api=2"},
			check: func(t *testing.T, c config) {
				if c.db != "postgres" || c.instances["orders-api"] != 2 {
					t.Errorf("got db %q instances %v", c.db, c.instances)
				}
			},
		},
		{
			name: "a URL flag means a running stack",
			args: []string{"-orders-url", "http://o:1", "-brokers", "b1:9093, b2:9093"},
			check: func(t *testing.T, c config) {
				if c.target != "running" || !reflect.DeepEqual(c.brokers, []string{"b1:9093", "b2:9093"}) {
					t.Errorf("got target %q brokers %q", c.target, c.brokers)
				}
			},
		},
		{
			name: "no ramp: no knee threshold; no rate: no floor",
			args: []string{"-ramp", "", "-rate", "300"},
			check: func(t *testing.T, c config) {
				if c.ramp != nil || c.thresholds.MinSustainedRate != 0 || !c.floor {
					t.Errorf("got ramp %v min sustained %v floor %v", c.ramp, c.thresholds.MinSustainedRate, c.floor)
				}
			},
		},
		{
			name: "ramp only",
			args: []string{"-rate", "0", "-ramp", "100,200"},
			check: func(t *testing.T, c config) {
				if c.floor || len(c.ramp) != 2 {
					t.Errorf("got floor %v ramp %v", c.floor, c.ramp)
				}
			},
		},
		{
			name: "-pids names processes by pid or by port, and means a running stack",
			args: []string{"-pids", "zookeeper=:2181, broker=4242", "-notifications-pid", "77"},
			check: func(t *testing.T, c config) {
				want := map[string]string{"zookeeper": ":2181", "broker": "4242", "notifications-api": "77"}
				if c.target != "running" || !reflect.DeepEqual(c.pids, want) {
					t.Errorf("got target %q pids %v, want running %v", c.target, c.pids, want)
				}
			},
		},
		{
			name: "the services' producer as the only reference line",
			args: []string{"-floor-producers", "client, stream"},
			check: func(t *testing.T, c config) {
				if !reflect.DeepEqual(c.floorProducers, []floor.Producer{floor.ProduceClient, floor.ProduceStream}) || !c.floor {
					t.Errorf("got producers %q floor %v", c.floorProducers, c.floor)
				}
			},
		},
		{
			name: "no producers, no floor",
			args: []string{"-floor-producers", ""},
			check: func(t *testing.T, c config) {
				if c.floor {
					t.Errorf("got floor on with no producers")
				}
			},
		},
		{name: "a pid that is not a number", args: []string{"-pids", "broker=kafka"}, wantErr: "want a pid or :port"},
		{name: "a pair without a value", args: []string{"-debug-urls", "orders-api"}, wantErr: "want name=value"},
		{name: "unknown floor producer", args: []string{"-floor-producers", "client,hash"}, wantErr: "-floor-producers"},
		{name: "a profile longer than a slice of the main run", args: []string{"-profile", "10s", "-duration", "20s", "-slices", "4"}, wantErr: "-profile"},
		{name: "slices of nothing", args: []string{"-duration", "20ms", "-slices", "4"}, wantErr: "-slices"},
		{name: "nothing to run", args: []string{"-rate", "0", "-ramp", ""}, wantErr: "nothing to run"},
		{name: "bad ramp", args: []string{"-ramp", "100,x"}, wantErr: "-ramp"},
		{name: "bad mode", args: []string{"-mode", "soak"}, wantErr: "-mode"},
		{name: "unknown broker", env: map[string]string{"BROKER": "redpanda"}, wantErr: "the harness starts embedded, kafka or kafka-cluster"},
		{name: "an instance count out of range", args: []string{"-instances", "orders-processor=0"}, wantErr: "-instances"},
		{name: "instances of no such service", args: []string{"-instances", "payments=2"}, wantErr: "no such service"},
		{name: "an unknown database", env: map[string]string{"DB": "mysql"}, wantErr: "-db"},
		{name: "two stock-services on SQLite", args: []string{"-instances", "stock-service=2"}, wantErr: "needs -db postgres"},
		{name: "a running stack's shape is its own", args: []string{"-orders-url", "http://o:1", "-instances", "orders-processor=2"}, wantErr: "shape a stack the runner starts"},
		{name: "total over the payment limit", args: []string{"-total", "1500"}, wantErr: "-total"},
		{name: "payment delay on a running stack", args: []string{"-target", "running", "-payment-delay", "1s"}, wantErr: "-payment-delay"},
		{name: "stray argument", args: []string{"now"}, wantErr: "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseConfig(append([]string{"loadtest"}, tt.args...), env(tt.env), io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error: got %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestExitCode(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{nil, 0},
		{flag.ErrHelp, 0},
		{errThresholds, 99},
		{fmt.Errorf("wrapped: %w", errThresholds), 99},
		{errors.New("broker unreachable"), 1},
	}
	for _, tt := range tests {
		if got := exitCode(tt.err, io.Discard); got != tt.want {
			t.Errorf("exitCode(%v): got %d, want %d", tt.err, got, tt.want)
		}
	}
}

// fakeServices is one server standing in for orders-api, notifications-api
// and stock-service. With unavailable set, every order gets a 503.
func fakeServices(t *testing.T, unavailable bool) *httptest.Server {
	t.Helper()
	var n atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("POST /seed", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("POST /orders", func(w http.ResponseWriter, r *http.Request) {
		if unavailable {
			w.Header().Set("Retry-After", "1")
			http.Error(w, `{"error":"kafka unavailable"}`, http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"orderId":"o-%d"}`, n.Add(1))
	})
	mux.HandleFunc("GET /events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		id := r.URL.Query().Get("orderId")
		for i, s := range []string{"CREATED", "PROCESSING", "PAID"} {
			fmt.Fprintf(w, "id: %d\nevent: status\ndata: {\"orderId\":%q,\"status\":%q}\n\n", i+1, id, s)
		}
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestRunAgainstRunningStack(t *testing.T) {
	tests := []struct {
		name        string
		unavailable bool
		wantErr     error
		wantSent    float64
		wantDone    float64
		wantErrors  float64
	}{
		{name: "every order PAID", wantSent: 40, wantDone: 40},
		{name: "503s are counted and miss the threshold", unavailable: true, wantErr: errThresholds, wantSent: 40, wantDone: 0, wantErrors: 40},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := fakeServices(t, tt.unavailable)
			// A broker that answers: the hop breakdown after the run reads
			// the order topics, and an address that speaks no Kafka made it
			// wait out its timeout (40 s a case).
			cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(cluster.Close)
			out := t.TempDir()
			args := []string{"loadtest", "-orders-url", srv.URL, "-notifications-url", srv.URL, "-stock-url", srv.URL,
				"-processor-url", srv.URL, "-brokers", strings.Join(cluster.ListenAddrs(), ","), "-floor=false", "-idle", "100ms", "-rate", "40", "-duration", "1s", "-warmup", "250ms", "-ramp", "",
				"-max-ratio-p50", "0", "-max-ratio-p99", "0", "-out", out}
			var stdout, stderr bytes.Buffer
			err = run(context.Background(), args, env(nil), &stdout, &stderr)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("run: got %v, want %v\n%s", err, tt.wantErr, stderr.String())
			}
			b, err := os.ReadFile(filepath.Join(out, "latest.json"))
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if got["broker"] != "external" || got["sent"] != tt.wantSent || got["completed"] != tt.wantDone || got["errors"] != tt.wantErrors {
				t.Errorf("latest.json: got broker %v sent %v completed %v errors %v, want external %v %v %v",
					got["broker"], got["sent"], got["completed"], got["errors"], tt.wantSent, tt.wantDone, tt.wantErrors)
			}
			// The runner reads CPU time of the processes it found by their
			// ports (here: this test process serves every URL) and says so.
			stack, _ := got["stack"].(map[string]any)
			if started, _ := stack["started_by"].(string); !strings.Contains(started, "already running") {
				t.Errorf("latest.json stack.started_by: got %q, want it to say the stack was already running", started)
			}
			main, _ := got["main"].(map[string]any)
			cpu, _ := main["cpu"].(map[string]any)
			names := map[string]bool{}
			procs, _ := cpu["processes"].([]any)
			for _, p := range procs {
				names[p.(map[string]any)["name"].(string)] = true
			}
			if !names["runner"] || len(names) != 2 {
				t.Errorf("latest.json main.cpu.processes: got %v, want the runner and one service (every URL is this process's port, counted once)", names)
			}
			if idle, _ := got["idle"].(map[string]any); idle == nil || idle["processes"] == nil {
				t.Errorf("latest.json idle: got %v, want every process's CPU with no load", got["idle"])
			}
			files := []string{"report.md", "latency.png", "percentiles.png", "cpu.png"}
			if tt.wantDone == 0 {
				files = files[:1] // no latency, no plots
			}
			for _, f := range files {
				if _, err := os.Stat(filepath.Join(out, f)); err != nil {
					t.Errorf("%s: %v", f, err)
				}
			}
			if !strings.Contains(stdout.String(), "result: ") {
				t.Errorf("stdout lacks the table:\n%s", stdout.String())
			}
		})
	}
}

// TestRunMeasuresTheFloorInSlices runs both default relays on an in-process
// broker, taking turns with the orders: each sends its whole measured share,
// and the report has the floor, the reference line and their ratios.
func TestRunMeasuresTheFloorInSlices(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	srv := fakeServices(t, false)
	out := t.TempDir()
	args := []string{"loadtest", "-orders-url", srv.URL, "-notifications-url", srv.URL, "-stock-url", srv.URL, "-processor-url", srv.URL,
		"-brokers", strings.Join(cluster.ListenAddrs(), ","), "-rate", "40", "-duration", "1s", "-slices", "2", "-warmup", "250ms",
		"-broker-warmup", "0s", "-idle", "0s", "-ramp", "", "-max-ratio-p50", "0", "-max-ratio-p99", "0", "-out", out}
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), args, env(nil), &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	b, err := os.ReadFile(filepath.Join(out, "latest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Sent  int64 `json:"sent"`
		Floor struct {
			Producer      string         `json:"producer"`
			Topics        []string       `json:"topics"`
			Hops          int            `json:"hops"`
			Slices        int            `json:"slices"`
			Sent          int64          `json:"sent"`
			Received      int64          `json:"received"`
			PipelineRatio map[string]any `json:"pipeline_ratio"`
		} `json:"floor"`
		References []struct {
			Producer string   `json:"producer"`
			Topics   []string `json:"topics"`
			Sent     int64    `json:"sent"`
			Received int64    `json:"received"`
			// Lost, Unsent and the errors say where a missing record went.
			Lost     int64             `json:"lost"`
			Unsent   int64             `json:"unsent"`
			Errors   map[string]int64  `json:"errors_by_kind"`
			Examples map[string]string `json:"error_examples"`
		} `json:"floor_references"`
		RatioP50 *float64 `json:"ratio_p50"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	f := got.Floor
	if f.Producer != "client" || f.Hops != 3 || f.Slices != 2 || f.Sent != 40 || f.Received != 40 || f.PipelineRatio == nil {
		t.Errorf("floor: got %+v, want client, 3 hops, 2 slices, 40 sent and received, with ratios", f)
	}
	if len(got.References) != 1 || got.References[0].Producer != "writer-linger" || got.References[0].Sent != 40 || got.References[0].Received != 40 {
		t.Errorf("references: got %+v, want writer-linger with 40 sent and received", got.References)
	} else if got.References[0].Topics[0] == f.Topics[0] {
		t.Errorf("the relays share topic %s: each would forward the other's records", f.Topics[0])
	}
	if got.Sent != 40 || got.RatioP50 == nil {
		t.Errorf("main: got sent %d ratio %v, want 40 and a ratio", got.Sent, got.RatioP50)
	}
}

func TestRunReportsAnUnreachableStack(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := run(ctx, []string{"loadtest", "-orders-url", url, "-notifications-url", url, "-out", t.TempDir()}, env(nil), io.Discard, io.Discard)
	if err == nil || errors.Is(err, errThresholds) || !strings.Contains(err.Error(), "not ready") {
		t.Errorf("got %v, want a tool error saying the stack is not ready", err)
	}
}
