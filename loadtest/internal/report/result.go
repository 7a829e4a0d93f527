// Package report turns a run's measurements into what people and CI read:
// latest.json, a terminal table, a Markdown report and PNG plots, and checks
// them against thresholds.
package report

import (
	"github.com/kafkakit/kit/loadtest/internal/hops"

	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/kafkakit/kit/loadtest/internal/stats"
)

// Latency is a distribution's headline figures in milliseconds.
type Latency struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p999"`
	Max   float64 `json:"max"`
}

// Ms converts d to milliseconds rounded to the microsecond.
func Ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

// LatencyOf converts a summary to milliseconds.
func LatencyOf(s stats.Summary) Latency {
	return Latency{Count: s.Count, Mean: Ms(s.Mean), P50: Ms(s.P50), P90: Ms(s.P90), P99: Ms(s.P99), P999: Ms(s.P999), Max: Ms(s.Max)}
}

// Phase is one constant-rate stretch of orders: the main run or a ramp step.
type Phase struct {
	Name         string  `json:"name"`
	Rate         float64 `json:"rate"`
	DurationS    float64 `json:"duration_s"`
	Scheduled    int64   `json:"scheduled"`
	Sent         int64   `json:"sent"`
	Accepted     int64   `json:"accepted"`
	Completed    int64   `json:"completed"`
	Paid         int64   `json:"paid"`
	Failed       int64   `json:"failed"`
	Errors       int64   `json:"errors"`
	Unsent       int64   `json:"unsent"`     // never sent: runner at its in-flight cap, or cancelled
	Late         int64   `json:"late"`       // sent more than late_after_ms behind their intended time
	Unfinished   int64   `json:"unfinished"` // sent but never seen PAID/FAILED (errors included)
	MaxLagMS     float64 `json:"max_send_lag_ms"`
	AchievedRate float64 `json:"achieved_rate"` // completed orders per second of the phase

	ErrorsByKind  map[string]int64  `json:"errors_by_kind"`
	ErrorExamples map[string]string `json:"error_examples,omitempty"`

	LatencyMS  Latency `json:"latency_ms"`  // intended send -> PAID/FAILED seen on the stream
	AcceptedMS Latency `json:"accepted_ms"` // intended send -> 201
	CreatedMS  Latency `json:"created_ms"`  // intended send -> CREATED seen on the stream

	// Sustained is set on ramp steps: p99 within the step threshold, at least
	// 95% of the target rate achieved, nothing unsent or unfinished.
	Sustained *bool `json:"sustained,omitempty"`

	// CPU is what every process used over the measured window, per order.
	CPU *CPU `json:"cpu,omitempty"`

	// Fault is the network fault held on the stack's links during the
	// step (the load runner's -fault, SERVICE:LINK:FAULT); the step before
	// it ran at the same rate without it. "" for a step without one.
	Fault string `json:"fault,omitempty"`
}

// Floor is a relay's measurement: one hop per topic an order crosses.
type Floor struct {
	// Producer is how the relay's producers send (floor.Producer) and
	// ProducerDesc says it in words.
	Producer     string   `json:"producer"`
	ProducerDesc string   `json:"producer_desc"`
	Hops         int      `json:"hops"`
	Topics       []string `json:"topics"`
	// Replication is the relay's topics' replication factor.
	Replication int     `json:"replication,omitempty"`
	MaxWaitMS   float64 `json:"reader_max_wait_ms"`
	// Slices is how many turns the measured time was cut into, taken in
	// alternation with the other relays and the main run.
	Slices       int               `json:"slices,omitempty"`
	Rate         float64           `json:"rate"`
	DurationS    float64           `json:"duration_s"`
	Sent         int64             `json:"sent"`
	Received     int64             `json:"received"`
	Lost         int64             `json:"lost"`
	Unsent       int64             `json:"unsent"`
	Late         int64             `json:"late"`
	ErrorsByKind map[string]int64  `json:"errors_by_kind"`
	Examples     map[string]string `json:"error_examples,omitempty"`
	LatencyMS    Latency           `json:"latency_ms"`
	// CPU is per relayed record.
	CPU *CPU `json:"cpu,omitempty"`
	// PipelineRatio is the pipeline's percentiles over this relay's.
	PipelineRatio *Ratios `json:"pipeline_ratio,omitempty"`
}

// Check is one threshold and how the run fared against it.
type Check struct {
	Name  string  `json:"name"`
	Op    string  `json:"op"` // "<=" or ">="
	Limit float64 `json:"limit"`
	Value float64 `json:"value"`
	OK    bool    `json:"ok"`
}

// Result is latest.json. The fields up to max_sustained_rate are the stable
// shape other tools read; the rest is detail.
type Result struct {
	Broker           string   `json:"broker"`
	Rate             float64  `json:"rate"`
	DurationS        float64  `json:"duration_s"`
	Sent             int64    `json:"sent"`
	Completed        int64    `json:"completed"`
	Errors           int64    `json:"errors"`
	LatencyMS        Latency  `json:"latency_ms"`
	FloorMS          *Latency `json:"floor_ms"`
	RatioP50         *float64 `json:"ratio_p50"`
	RatioP99         *float64 `json:"ratio_p99"`
	MaxSustainedRate *float64 `json:"max_sustained_rate"`

	Target       string            `json:"target"` // "harness" or "running"
	StartedAt    time.Time         `json:"started_at"`
	WarmupS      float64           `json:"warmup_s"`
	PaymentDelay string            `json:"payment_delay,omitempty"`
	LateAfterMS  float64           `json:"late_after_ms"`
	URLs         map[string]string `json:"urls,omitempty"`
	Scheduled    int64             `json:"scheduled"`
	Unsent       int64             `json:"unsent"`
	Late         int64             `json:"late"`
	Unfinished   int64             `json:"unfinished"`
	AchievedRate float64           `json:"achieved_rate"`
	ErrorsByKind map[string]int64  `json:"errors_by_kind"`
	AcceptedMS   Latency           `json:"accepted_ms"`
	CreatedMS    Latency           `json:"created_ms"`
	RatioP90     *float64          `json:"ratio_p90,omitempty"`
	RatioP999    *float64          `json:"ratio_p999,omitempty"`
	Main         *Phase            `json:"main,omitempty"`
	// Floor is the honest floor the ratios are computed against: each
	// record produced the moment it is ready.
	Floor *Floor `json:"floor,omitempty"`
	// References are the same relay with other producers, measured in the
	// same run: reference lines, not the floor; the pipeline's ratios to
	// them are detail.
	References []Floor `json:"floor_references,omitempty"`
	Stack      Stack   `json:"stack"`
	// Hops splits the main run's orders into the hops they crossed, from
	// their records' timestamps.
	Hops *hops.Breakdown `json:"hops,omitempty"`
	// Idle is what each process used while no order and no relay ran:
	// the background (polls, heartbeats, timers, a JVM's housekeeping)
	// that every per-order figure includes, more at low rates.
	Idle           *CPU     `json:"idle,omitempty"`
	Steps          []Phase  `json:"steps,omitempty"`
	StepP99LimitMS float64  `json:"step_p99_limit_ms,omitempty"`
	Thresholds     []Check  `json:"thresholds"`
	Passed         bool     `json:"passed"`
	Warnings       []string `json:"warnings,omitempty"`
	// RunnerProfile is the runner's own CPU profile (-cpuprofile), "" when
	// none was taken: where the runner's CPU per order goes.
	RunnerProfile string `json:"runner_cpu_profile,omitempty"`
}

// SetMain copies the main phase's figures to the top-level fields. Set it
// before the floors: their ratios are to it.
func (r *Result) SetMain(p Phase) {
	r.Main = &p
	r.Rate, r.DurationS = p.Rate, p.DurationS
	r.Sent, r.Completed, r.Errors = p.Sent, p.Completed, p.Errors
	r.Scheduled, r.Unsent, r.Late, r.Unfinished = p.Scheduled, p.Unsent, p.Late, p.Unfinished
	r.AchievedRate, r.ErrorsByKind = p.AchievedRate, p.ErrorsByKind
	r.LatencyMS, r.AcceptedMS, r.CreatedMS = p.LatencyMS, p.AcceptedMS, p.CreatedMS
}

// Ratios are the pipeline's percentiles over a floor's.
type Ratios struct {
	P50  *float64 `json:"p50"`
	P90  *float64 `json:"p90"`
	P99  *float64 `json:"p99"`
	P999 *float64 `json:"p999"`
}

func ratiosOf(l, fl Latency) Ratios {
	return Ratios{P50: ratio(l.P50, fl.P50), P90: ratio(l.P90, fl.P90), P99: ratio(l.P99, fl.P99), P999: ratio(l.P999, fl.P999)}
}

// SetFloor records the honest floor and the pipeline's ratios to it.
func (r *Result) SetFloor(f Floor) {
	r.Floor = &f
	fl := f.LatencyMS
	r.FloorMS = &fl
	if r.Main == nil {
		return
	}
	q := ratiosOf(r.LatencyMS, fl)
	r.RatioP50, r.RatioP90, r.RatioP99, r.RatioP999 = q.P50, q.P90, q.P99, q.P999
	r.Floor.PipelineRatio = &q
}

// AddReference records a reference relay, and the pipeline's ratios to it
// once the main run is in.
func (r *Result) AddReference(f Floor) {
	if r.Main != nil {
		q := ratiosOf(r.LatencyMS, f.LatencyMS)
		f.PipelineRatio = &q
	}
	r.References = append(r.References, f)
}

// floors are the honest floor then the references.
func (r *Result) floors() []*Floor {
	var out []*Floor
	if r.Floor != nil {
		out = append(out, r.Floor)
	}
	for i := range r.References {
		out = append(out, &r.References[i])
	}
	return out
}

// ratio returns a/b rounded to two decimals, nil when either is missing.
func ratio(a, b float64) *float64 {
	if a <= 0 || b <= 0 {
		return nil
	}
	v := math.Round(a/b*100) / 100
	return &v
}

// WriteJSON writes v as indented JSON to path, creating its directory.
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	return writeFile(path, append(b, '\n'))
}

func writeFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
