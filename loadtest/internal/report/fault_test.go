package report

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// faultedRamp is a ramp of two rates, each step run without and then with
// a fault: the fault sustains 500/s no better than the stack did 1000/s.
func faultedRamp() *Result {
	const fault = "stock-service:broker:latency=50ms"
	step := func(rate, p50, p99, cpu float64, fault string) Phase {
		return Phase{Name: "ramp", Rate: rate, DurationS: 10, Sent: int64(rate * 10), Completed: int64(rate * 10), AchievedRate: rate,
			LatencyMS: Latency{P50: p50, P99: p99, Max: p99 + 1}, CPU: &CPU{StackMSPerOrder: cpu}, Fault: fault}
	}
	return &Result{StepP99LimitMS: 50, Steps: []Phase{
		step(500, 4, 9, 1.5, ""), step(500, 56, 70, 1.9, fault),
		step(1000, 5, 20, 1.2, ""), step(1000, 60, 90, 1.6, fault),
	}}
}

func TestAFaultedStepIsNotTheKnee(t *testing.T) {
	r := faultedRamp()
	// A 100 ms step limit: every step, faulted or not, is sustained.
	best := MarkSustained(r.Steps, 100*time.Millisecond, 0.95)
	for i, s := range r.Steps {
		if s.Sustained == nil || !*s.Sustained {
			t.Errorf("step %d (%g/s, fault %q): not marked sustained", i, s.Rate, s.Fault)
		}
	}
	if best == nil || *best != 1000 {
		t.Fatalf("max sustained: got %v, want 1000", best)
	}
	// At 50 ms the faulted steps are not sustained, and the knee stays the
	// stack's own.
	r.Steps[2].LatencyMS.P99 = 60
	best = MarkSustained(r.Steps, 50*time.Millisecond, 0.95)
	if best == nil || *best != 500 {
		t.Fatalf("max sustained with 1000/s clean over the limit: got %v, want 500 (not a faulted step's rate)", best)
	}
	r.Steps[0].LatencyMS.P99 = 60
	r.Steps[1].LatencyMS.P99 = 10 // a faulted step that happens to pass
	if best = MarkSustained(r.Steps, 50*time.Millisecond, 0.95); *best != 0 {
		t.Errorf("max sustained with only a faulted step within the limit: got %v, want 0", *best)
	}
}

func TestAFaultedStepIsReportedBesideTheStepWithoutIt(t *testing.T) {
	r := faultedRamp()
	var table, md bytes.Buffer
	if err := r.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteMarkdown(&md, nil); err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"table": table.String(), "markdown": md.String()} {
		for _, want := range []string{
			"ramp 500,1000 orders/s, each step also under stock-service:broker:latency=50ms",
			"500 +fault", "1000 +fault",
			"p50 without", "CPU ms/order with",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("%s lacks %q:\n%s", name, want, out)
			}
		}
	}
	// One comparison row per rate: rate, p50 without and with, p99
	// without and with, CPU without and with, never final under the fault.
	wantRows := [][]string{
		{"500", "4.00", "56.0", "9.00", "70.0", "1.500", "1.900", "0"},
		{"1000", "5.00", "60.0", "20.0", "90.0", "1.200", "1.600", "0"},
	}
	rows := r.faultRows()
	if len(rows) != 3 {
		t.Fatalf("comparison rows: got %d, want a header and 2:\n%v", len(rows), rows)
	}
	for i, want := range wantRows {
		if got := strings.Join(rows[i+1], " "); got != strings.Join(want, " ") {
			t.Errorf("row %d: got %q, want %q", i+1, got, strings.Join(want, " "))
		}
	}
	// A ramp without a fault prints no comparison.
	var plain bytes.Buffer
	clean := &Result{Steps: []Phase{r.Steps[0], r.Steps[2]}}
	if err := clean.WriteTable(&plain); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(plain.String(), "without") || strings.Contains(plain.String(), "+fault") {
		t.Errorf("a ramp without a fault mentions one:\n%s", plain.String())
	}
}
