package report

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kafkakit/kit/loadtest/internal/proc"
	"github.com/kafkakit/kit/loadtest/internal/stats"
)

func ptr[T any](v T) *T { return &v }

func TestMarkSustained(t *testing.T) {
	step := func(rate, achieved, p99 float64, unsent, unfinished int64) Phase {
		return Phase{Rate: rate, AchievedRate: achieved, Completed: 100, Unsent: unsent, Unfinished: unfinished, LatencyMS: Latency{P99: p99}}
	}
	tests := []struct {
		name  string
		steps []Phase
		want  *float64
		flags []bool
	}{
		{
			name:  "knee between 1000 and 2000",
			steps: []Phase{step(500, 500, 5, 0, 0), step(1000, 998, 20, 0, 0), step(2000, 1990, 80, 0, 0)},
			want:  ptr(1000.0), flags: []bool{true, true, false},
		},
		{
			name:  "achieved under 95% of the target is not sustained",
			steps: []Phase{step(500, 500, 5, 0, 0), step(1000, 940, 5, 0, 0)},
			want:  ptr(500.0), flags: []bool{true, false},
		},
		{
			name:  "exactly 95% and exactly at the limit is sustained",
			steps: []Phase{step(1000, 950, 50, 0, 0)},
			want:  ptr(1000.0), flags: []bool{true},
		},
		{
			name:  "unsent or unfinished orders fail a step",
			steps: []Phase{step(500, 500, 5, 1, 0), step(1000, 1000, 5, 0, 1)},
			want:  ptr(0.0), flags: []bool{false, false},
		},
		{
			name:  "a later step may pass after a failed one: the highest passing counts",
			steps: []Phase{step(500, 500, 60, 0, 0), step(1000, 1000, 10, 0, 0)},
			want:  ptr(1000.0), flags: []bool{false, true},
		},
		{
			name: "no ramp, no figure",
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := MarkSustained(tt.steps, 50*time.Millisecond, 0.95)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("max sustained: got %v, want %v", deref(got), deref(tt.want))
			}
			for i, want := range tt.flags {
				if g := tt.steps[i].Sustained; g == nil || *g != want {
					t.Errorf("step %d sustained: got %v, want %v", i, yesNo(g), want)
				}
			}
		})
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestSetFloorRatios(t *testing.T) {
	tests := []struct {
		name             string
		pipe, floor      Latency
		wantP50, wantP99 *float64
	}{
		{"1.5x and 2x", Latency{P50: 3.75, P99: 8}, Latency{P50: 2.5, P99: 4}, ptr(1.5), ptr(2.0)},
		{"rounded to two decimals", Latency{P50: 1, P99: 1}, Latency{P50: 3, P99: 3}, ptr(0.33), ptr(0.33)},
		{"no floor figure, no ratio", Latency{P50: 1, P99: 1}, Latency{}, nil, nil},
		{"no pipeline figure, no ratio", Latency{}, Latency{P50: 1, P99: 1}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Result
			r.SetMain(Phase{LatencyMS: tt.pipe})
			r.SetFloor(Floor{LatencyMS: tt.floor})
			if !reflect.DeepEqual(r.RatioP50, tt.wantP50) || !reflect.DeepEqual(r.RatioP99, tt.wantP99) {
				t.Errorf("ratios: got p50 %v p99 %v, want %v %v", deref(r.RatioP50), deref(r.RatioP99), deref(tt.wantP50), deref(tt.wantP99))
			}
		})
	}
}

func TestEvaluate(t *testing.T) {
	th := Thresholds{MaxRatioP50: 1.5, MaxRatioP99: 2, MaxP99: 50 * time.Millisecond, MaxNotFinalRatio: 0, MinSustainedRate: 2000}
	tests := []struct {
		name       string
		result     Result
		thresholds Thresholds
		wantFailed []string
	}{
		{
			name:       "all met",
			result:     Result{Main: &Phase{}, Scheduled: 100, RatioP50: ptr(1.2), RatioP99: ptr(1.9), LatencyMS: Latency{P99: 9}, MaxSustainedRate: ptr(3000.0)},
			thresholds: th,
		},
		{
			name:       "ratios, p99 and knee missed",
			result:     Result{Main: &Phase{}, Scheduled: 100, RatioP50: ptr(1.6), RatioP99: ptr(2.5), LatencyMS: Latency{P99: 51}, MaxSustainedRate: ptr(1000.0)},
			thresholds: th,
			wantFailed: []string{"ratio_p50", "ratio_p99", "p99_ms", "max_sustained_rate"},
		},
		{
			name:       "an order that never finished fails a strict run",
			result:     Result{Main: &Phase{}, Scheduled: 100, Unfinished: 1, RatioP50: ptr(1.0), RatioP99: ptr(1.0)},
			thresholds: Thresholds{MaxRatioP50: 1.5, MaxRatioP99: 2},
			wantFailed: []string{"not_final_ratio"},
		},
		{
			name:       "unsent orders count against the allowance",
			result:     Result{Main: &Phase{}, Scheduled: 1000, Unsent: 20},
			thresholds: Thresholds{MaxNotFinalRatio: 0.01},
			wantFailed: []string{"not_final_ratio"},
		},
		{
			name:       "a ratio threshold without a floor fails",
			result:     Result{Main: &Phase{}, Scheduled: 1},
			thresholds: Thresholds{MaxRatioP50: 1.5, MaxNotFinalRatio: -1},
			wantFailed: []string{"ratio_p50 (no floor measured)"},
		},
		{
			name:       "zero limits are not checked",
			result:     Result{Main: &Phase{}, Scheduled: 1, RatioP50: ptr(9.0), RatioP99: ptr(9.0)},
			thresholds: Thresholds{MaxNotFinalRatio: -1},
		},
		{
			name:       "ramp only: no knee found",
			result:     Result{},
			thresholds: th,
			wantFailed: []string{"max_sustained_rate"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.result
			Evaluate(&r, tt.thresholds)
			var failed []string
			for _, c := range r.Thresholds {
				if !c.OK {
					failed = append(failed, c.Name)
				}
			}
			if !reflect.DeepEqual(failed, tt.wantFailed) {
				t.Errorf("failed checks: got %v, want %v", failed, tt.wantFailed)
			}
			if r.Passed != (len(tt.wantFailed) == 0) {
				t.Errorf("Passed: got %v, want %v", r.Passed, len(tt.wantFailed) == 0)
			}
		})
	}
}

// TestJSONShape pins the keys other tools read from latest.json.
func TestJSONShape(t *testing.T) {
	var r Result
	r.Broker = "embedded"
	r.SetMain(Phase{Rate: 200, DurationS: 30, Sent: 6000, Completed: 6000, LatencyMS: Latency{P50: 3, P90: 4, P99: 6, P999: 9, Max: 12}})
	r.SetFloor(Floor{LatencyMS: Latency{P50: 2, P99: 4}})
	r.MaxSustainedRate = ptr(2000.0)
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"broker": "embedded", "rate": 200.0, "duration_s": 30.0, "sent": 6000.0, "completed": 6000.0, "errors": 0.0,
		"ratio_p50": 1.5, "ratio_p99": 1.5, "max_sustained_rate": 2000.0,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %v, want %v", k, got[k], v)
		}
	}
	for obj, keys := range map[string][]string{"latency_ms": {"p50", "p90", "p99", "p999", "max"}, "floor_ms": {"p50", "p99"}} {
		m, ok := got[obj].(map[string]any)
		if !ok {
			t.Errorf("%s: got %T, want an object", obj, got[obj])
			continue
		}
		for _, k := range keys {
			if _, ok := m[k]; !ok {
				t.Errorf("%s.%s missing", obj, k)
			}
		}
	}
}

func TestWriteTableAndMarkdown(t *testing.T) {
	r := Result{Broker: "embedded", Target: "harness", LateAfterMS: 10, StepP99LimitMS: 50}
	r.SetMain(Phase{Rate: 200, DurationS: 20, Scheduled: 4000, Sent: 4000, Completed: 3999, Paid: 3999, Errors: 1, Unfinished: 1,
		ErrorsByKind: map[string]int64{"post: http 503": 1}, ErrorExamples: map[string]string{"post: http 503": "POST /orders: 503"},
		LatencyMS: Latency{Count: 3999, P50: 3.2, P99: 7.5}})
	r.SetFloor(Floor{Producer: "client", Hops: 3, Topics: []string{"a", "b", "c"}, LatencyMS: Latency{Count: 4000, P50: 2.5, P99: 4},
		CPU: &CPU{Processes: []ProcessCPU{{Name: "broker", Kind: "broker", MSPerOrder: 0.1}, {Name: "runner", Kind: "runner", MSPerOrder: 0.2}}, RelayMSPerRecord: 0.3, CoresBusy: 0.06}})
	r.AddReference(Floor{Producer: "writer-linger", Hops: 3, LatencyMS: Latency{Count: 4000, P50: 3.2, P99: 5}})
	r.Main.CPU = &CPU{Processes: []ProcessCPU{{Name: "runner", Kind: "runner", MSPerOrder: 0.4}, {Name: "orders-api", Kind: "service", MSPerOrder: 0.5},
		{Name: "broker", Kind: "broker", MSPerOrder: 0.25}}, StackMSPerOrder: 0.75, CoresBusy: 0.23,
		Machine: &proc.Machine{CPUs: 2, BusyCores: 1.5, StealCores: 0.05, CPUPressure: 0.42, LoadAvg1: 7.5}, OthersCores: 1.27}
	r.Steps = []Phase{{Name: "ramp 500/s", Rate: 500, AchievedRate: 500, Sustained: ptr(true)}}
	r.MaxSustainedRate = ptr(500.0)
	r.Stack = Stack{StartedBy: "the runner, through the harness", Broker: "embedded", Processes: []proc.Process{{Name: "orders-api", PID: 42, Command: "orders-api", Found: "spawned"}},
		Env: map[string]map[string]string{"orders-api": {"LOG_LEVEL": "warn"}}, Output: map[string]string{"orders-api": "a pipe"}, Warnings: []string{"LOG_LEVEL is loud"}}
	Evaluate(&r, Thresholds{MaxRatioP50: 1.5, MaxRatioP99: 2, MaxNotFinalRatio: 0})
	var table, md bytes.Buffer
	if err := r.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteMarkdown(&md, []string{"latency.png"}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"PAID/FAILED seen on stream", "floor: 3-hop relay, client", "reference: 3-hop relay, writer-linger", "1.28x", "1.88x",
		"pipeline / writer-linger relay  1.00x", `"post: http 503": 1`, "max sustained rate: 500", "FAIL  not_final_ratio", "result: FAIL",
		"3-hop relay a -> b -> c", "process  floor  200/s", "orders-api      ?  0.500", "stack total (broker included)         0.750",
		"floor relay (broker + runner) per record  0.300", "stack: the runner, through the harness; broker: embedded",
		"LOG_LEVEL=warn; log to a pipe", "warning: LOG_LEVEL is loud",
		"cores busy, other processes      ?   1.27", "CPU pressure (time a task waited)      ?    42%", "load average, 1 min      ?    7.5"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	for _, want := range []string{"# Load test", "| PAID/FAILED seen on stream | 3.20 |", "**pipeline / floor** | 1.28x", "| post: http 503 | 1 | POST /orders: 503 |", "![latency.png](latency.png)", "Max sustained rate: 500",
		"| process | floor | 200/s |", "| orders-api | ? | 0.500 |", "## Stack", "| orders-api | 42 | orders-api | spawned | LOG_LEVEL=warn | a pipe |"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md.String())
		}
	}
}

func TestPlots(t *testing.T) {
	dir := t.TempDir()
	h := stats.NewHistogram()
	start := time.Now()
	tl := stats.NewTimeline(start, time.Second)
	for i := range 3000 {
		d := time.Duration(1000+i) * time.Microsecond
		h.Record(d)
		tl.Record(start.Add(time.Duration(i)*time.Millisecond), d)
	}
	lat := filepath.Join(dir, "latency.png")
	if err := PlotTimeline(lat, "t", Series{Name: "PAID", Points: tl.Points()}, []HLine{{"floor p99", 2}}); err != nil {
		t.Fatal(err)
	}
	pct := filepath.Join(dir, "percentiles.png")
	if err := PlotPercentiles(pct, "p", []Curve{{"PAID", h.Distribution(3, 10)}, {"empty", nil}}, 3); err != nil {
		t.Fatal(err)
	}
	cpuPlot := filepath.Join(dir, "cpu.png")
	r := Result{Main: &Phase{Rate: 200, CPU: &CPU{Processes: []ProcessCPU{{Name: "orders-api", Kind: "service", MSPerOrder: 0.5}, {Name: "runner", Kind: "runner", MSPerOrder: 0.3}}}},
		Steps: []Phase{{Rate: 500, CPU: &CPU{Processes: []ProcessCPU{{Name: "orders-api", Kind: "service", MSPerOrder: 0.4}}}}}}
	if err := r.PlotCPU(cpuPlot); err != nil {
		t.Fatal(err)
	}
	if err := (&Result{}).PlotCPU(filepath.Join(dir, "none.png")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "none.png")); !os.IsNotExist(err) {
		t.Errorf("cpu plot without CPU figures: got %v, want no file", err)
	}
	for _, p := range []string{lat, pct, cpuPlot} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, []byte("\x89PNG")) {
			t.Errorf("%s: not a PNG", p)
		}
	}
}

func TestCPUOf(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	procs := []proc.Process{
		{Name: "orders-api", Kind: proc.KindService}, {Name: "broker", Kind: proc.KindBroker},
		{Name: "zookeeper", Kind: proc.KindBroker}, {Name: "runner", Kind: proc.KindRunner}, {Name: "gone", Kind: proc.KindService},
	}
	u := proc.Usage{Start: start, End: start.Add(10 * time.Second),
		ByName: map[string]time.Duration{"orders-api": 2 * time.Second, "broker": time.Second, "zookeeper": 100 * time.Millisecond, "runner": 3 * time.Second},
		Errors: map[string]string{"gone": "pid 9: no such process"}}
	tests := []struct {
		name  string
		floor bool
		check func(t *testing.T, c *CPU)
	}{
		{"an order phase: the stack apart from the runner", false, func(t *testing.T, c *CPU) {
			if c.StackMSPerOrder != 1.55 || c.BrokerMSPerOrder != 0.55 || c.RunnerMSPerOrder != 1.5 || c.RelayMSPerRecord != 0 {
				t.Errorf("got stack %v broker %v runner %v relay %v, want 1.55 0.55 1.5 0", c.StackMSPerOrder, c.BrokerMSPerOrder, c.RunnerMSPerOrder, c.RelayMSPerRecord)
			}
		}},
		{"a floor: the relay is the broker and the runner", true, func(t *testing.T, c *CPU) {
			if c.RelayMSPerRecord != 2.05 {
				t.Errorf("relay: got %v, want 2.05", c.RelayMSPerRecord)
			}
		}},
		{"cores busy and what is missing", false, func(t *testing.T, c *CPU) {
			if c.CoresBusy != 0.61 || c.Missing["gone"] == "" || len(c.Processes) != 4 {
				t.Errorf("got cores %v missing %v processes %d, want 0.61, gone, 4", c.CoresBusy, c.Missing, len(c.Processes))
			}
			if p := c.Processes[0]; p.Name != "orders-api" || p.MS != 2000 || p.MSPerOrder != 1 || p.Cores != 0.2 {
				t.Errorf("orders-api: got %+v", p)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := CPUOf(u, procs, 2000, tt.floor)
			if c == nil {
				t.Fatal("got nil")
			}
			tt.check(t, c)
		})
	}
	if c := CPUOf(proc.Usage{}, procs, 2000, false); c != nil {
		t.Errorf("a window that never started: got %+v, want nil", c)
	}
}

// TestCPUPerInstance: a service that runs more than once has a row per
// instance and one summing them, in the table and in latest.json.
func TestCPUPerInstance(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	procs := []proc.Process{
		{Name: "orders-api", Kind: proc.KindService},
		{Name: "orders-processor#1", Kind: proc.KindService}, {Name: "orders-processor#2", Kind: proc.KindService},
		{Name: "postgres", Kind: proc.KindDatabase, Tree: true}, {Name: "runner", Kind: proc.KindRunner},
	}
	u := proc.Usage{Start: start, End: start.Add(10 * time.Second), ByName: map[string]time.Duration{
		"orders-api": time.Second, "orders-processor#1": 600 * time.Millisecond, "orders-processor#2": 400 * time.Millisecond,
		"postgres": 2 * time.Second, "runner": time.Second}}
	c := CPUOf(u, procs, 1000, false)
	want := []ServiceCPU{{Service: "orders-processor", Instances: 2, MSPerOrder: 1, Cores: 0.1}}
	if !reflect.DeepEqual(c.PerService, want) {
		t.Errorf("per service: got %+v, want %+v", c.PerService, want)
	}
	if c.StackMSPerOrder != 4 {
		t.Errorf("stack: got %v ms per order, want 4 (the database counts in the stack)", c.StackMSPerOrder)
	}
	r := Result{Broker: "embedded", Target: "harness", Main: &Phase{Rate: 100, CPU: c}}
	r.Stack = Stack{StartedBy: "the runner", Broker: "embedded", Shape: &Shape{
		Instances: []ServiceCount{{"orders-api", 1}, {"stock-service", 2}, {"orders-processor", 2}, {"notifications-api", 2}}, DB: "postgres", Broker: "embedded"}}
	var table bytes.Buffer
	if err := r.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"orders-processor#2  0.400", "orders-processor, 2 instances summed  1.000", "postgres  2.000",
		"shape: orders-api 1, stock-service 2, orders-processor 2, notifications-api 2 instances; DB postgres; broker embedded",
		"broker embedded (harness); orders-api 1, stock-service 2"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	if got := ServiceOf("notifications-api#3"); got != "notifications-api" {
		t.Errorf("ServiceOf: got %q", got)
	}
}

func TestNineLabel(t *testing.T) {
	for n, want := range map[float64]string{1: "90%", 2: "99%", 3: "99.9%", 4: "99.99%"} {
		if got := nineLabel(n); got != want {
			t.Errorf("nineLabel(%v): got %q, want %q", n, got, want)
		}
	}
}

func TestLogTicks(t *testing.T) {
	var labels []string
	for _, tk := range (logTicks{}).Ticks(1.5, 60) {
		if tk.Label != "" {
			labels = append(labels, tk.Label)
		}
	}
	if want := []string{"2", "5", "10", "20", "50"}; !reflect.DeepEqual(labels, want) {
		t.Errorf("labels: got %v, want %v", labels, want)
	}
}
