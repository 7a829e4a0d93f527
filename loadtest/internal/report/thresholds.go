package report

import "time"

// Thresholds are the limits a run is held to; a zero limit is not checked.
type Thresholds struct {
	MaxRatioP50       float64       // pipeline p50 / floor p50
	MaxRatioP99       float64       // pipeline p99 / floor p99
	MaxP99            time.Duration // pipeline p99, absolute
	MaxNotFinalRatio  float64       // (unsent + unfinished) / scheduled; negative disables
	StepP99           time.Duration // a ramp step is sustained only under this p99
	MinSustainedRate  float64       // highest sustained ramp step, orders/s
	SustainedFraction float64       // achieved / target rate a sustained step needs (0.95)
}

// MarkSustained decides which ramp steps were sustained and returns the
// highest sustained rate, nil when there were no steps.
func MarkSustained(steps []Phase, stepP99 time.Duration, fraction float64) *float64 {
	if len(steps) == 0 {
		return nil
	}
	best := 0.0
	for i := range steps {
		s := &steps[i]
		ok := s.Completed > 0 &&
			s.Unsent == 0 && s.Unfinished == 0 &&
			s.AchievedRate >= fraction*s.Rate &&
			(stepP99 <= 0 || s.LatencyMS.P99 <= Ms(stepP99))
		s.Sustained = &ok
		// A step under a fault says what the fault costs; the knee is the
		// stack's without one.
		if ok && s.Rate > best && s.Fault == "" {
			best = s.Rate
		}
	}
	return &best
}

// Evaluate checks r against t, filling r.Thresholds and r.Passed.
func Evaluate(r *Result, t Thresholds) {
	var checks []Check
	le := func(name string, value, limit float64) {
		checks = append(checks, Check{Name: name, Op: "<=", Limit: limit, Value: value, OK: value <= limit})
	}
	if r.Main != nil {
		if t.MaxRatioP50 > 0 {
			if r.RatioP50 != nil {
				le("ratio_p50", *r.RatioP50, t.MaxRatioP50)
			} else {
				checks = append(checks, Check{Name: "ratio_p50 (no floor measured)", Op: "<=", Limit: t.MaxRatioP50})
			}
		}
		if t.MaxRatioP99 > 0 {
			if r.RatioP99 != nil {
				le("ratio_p99", *r.RatioP99, t.MaxRatioP99)
			} else {
				checks = append(checks, Check{Name: "ratio_p99 (no floor measured)", Op: "<=", Limit: t.MaxRatioP99})
			}
		}
		if t.MaxP99 > 0 {
			le("p99_ms", r.LatencyMS.P99, Ms(t.MaxP99))
		}
		if t.MaxNotFinalRatio >= 0 {
			notFinal := 0.0
			if r.Scheduled > 0 {
				notFinal = float64(r.Unsent+r.Unfinished) / float64(r.Scheduled)
			} else {
				notFinal = 1 // nothing scheduled is not a pass
			}
			le("not_final_ratio", notFinal, t.MaxNotFinalRatio)
		}
	}
	if t.MinSustainedRate > 0 {
		v := 0.0
		if r.MaxSustainedRate != nil {
			v = *r.MaxSustainedRate
		}
		checks = append(checks, Check{Name: "max_sustained_rate", Op: ">=", Limit: t.MinSustainedRate, Value: v, OK: v >= t.MinSustainedRate})
	}
	r.Thresholds = checks
	r.Passed = true
	for _, c := range checks {
		if !c.OK {
			r.Passed = false
		}
	}
}
