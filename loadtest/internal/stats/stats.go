// Package stats records latencies in HDR histograms (microsecond resolution,
// three significant digits) and derives the figures the reports print:
// percentiles, ratios to a floor, per-second timelines.
package stats

import (
	"math"
	"sort"
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Highest is the largest latency a histogram tells apart; longer ones are
// recorded as Highest. No order waits that long: the runner gives up sooner.
const Highest = 10 * time.Minute

// Histogram is a concurrency-safe latency histogram.
type Histogram struct {
	mu sync.Mutex
	h  *hdrhistogram.Histogram
}

// NewHistogram returns an empty histogram from 1µs to Highest, 3 significant digits.
func NewHistogram() *Histogram {
	return &Histogram{h: newHDR(3)}
}

func newHDR(digits int) *hdrhistogram.Histogram {
	return hdrhistogram.New(1, Highest.Microseconds(), digits)
}

func toMicros(d time.Duration) int64 {
	us := d.Microseconds()
	switch {
	case us < 1:
		return 1
	case us > Highest.Microseconds():
		return Highest.Microseconds()
	}
	return us
}

// Record adds one latency. Values outside 1µs..Highest are clamped.
func (h *Histogram) Record(d time.Duration) {
	v := toMicros(d)
	h.mu.Lock()
	_ = h.h.RecordValue(v) // cannot fail: v is in range
	h.mu.Unlock()
}

// Count is the number of recorded values.
func (h *Histogram) Count() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.h.TotalCount()
}

// Quantile returns the value at quantile q (0..1), 0 when empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return quantile(h.h, q)
}

func quantile(h *hdrhistogram.Histogram, q float64) time.Duration {
	if h.TotalCount() == 0 {
		return 0
	}
	return time.Duration(h.ValueAtPercentile(q*100)) * time.Microsecond
}

// Summary returns the histogram's headline figures.
func (h *Histogram) Summary() Summary {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.h.TotalCount() == 0 {
		return Summary{}
	}
	return Summary{
		Count: h.h.TotalCount(),
		Min:   time.Duration(h.h.Min()) * time.Microsecond,
		Mean:  time.Duration(h.h.Mean() * float64(time.Microsecond)),
		P50:   quantile(h.h, 0.50),
		P90:   quantile(h.h, 0.90),
		P99:   quantile(h.h, 0.99),
		P999:  quantile(h.h, 0.999),
		Max:   time.Duration(h.h.Max()) * time.Microsecond,
	}
}

// Summary holds a distribution's headline figures.
type Summary struct {
	Count                               int64
	Min, Mean, P50, P90, P99, P999, Max time.Duration
}

// QuantilePoint is one point of a percentile distribution curve.
type QuantilePoint struct {
	Quantile float64
	Value    time.Duration
}

// Distribution returns the value at quantiles spread evenly on the
// 1/(1-q) log scale HdrHistogram plots use, from q=0 up to q=1-10^-nines,
// steps per decade, plus the maximum at q=1.
func (h *Histogram) Distribution(nines float64, steps int) []QuantilePoint {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.h.TotalCount() == 0 {
		return nil
	}
	var pts []QuantilePoint
	for i := 0; float64(i) <= nines*float64(steps); i++ {
		q := 1 - math.Pow(10, -float64(i)/float64(steps))
		pts = append(pts, QuantilePoint{Quantile: q, Value: quantile(h.h, q)})
	}
	return append(pts, QuantilePoint{Quantile: 1, Value: time.Duration(h.h.Max()) * time.Microsecond})
}

// Ratio returns a/b, or 0 when b is 0 (no floor to compare with).
func Ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Rate returns n per second over d, or 0 when d is not positive.
func Rate(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// Timeline buckets latencies by when they were intended, one histogram per
// interval (two significant digits, enough for a plot).
type Timeline struct {
	mu      sync.Mutex
	start   time.Time
	width   time.Duration
	buckets map[int64]*hdrhistogram.Histogram
}

// NewTimeline returns a timeline starting at start with buckets width wide.
func NewTimeline(start time.Time, width time.Duration) *Timeline {
	return &Timeline{start: start, width: width, buckets: map[int64]*hdrhistogram.Histogram{}}
}

// Record adds latency d of an event intended at at.
func (t *Timeline) Record(at time.Time, d time.Duration) {
	i := int64(at.Sub(t.start) / t.width)
	v := toMicros(d)
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.buckets[i]
	if b == nil {
		b = newHDR(2)
		t.buckets[i] = b
	}
	_ = b.RecordValue(v)
}

// TimePoint summarises one bucket of a Timeline.
type TimePoint struct {
	Offset        time.Duration // bucket start from the timeline's start
	Count         int64
	P50, P99, Max time.Duration
}

// Points returns the non-empty buckets in time order.
func (t *Timeline) Points() []TimePoint {
	t.mu.Lock()
	defer t.mu.Unlock()
	keys := make([]int64, 0, len(t.buckets))
	for k := range t.buckets {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	pts := make([]TimePoint, len(keys))
	for i, k := range keys {
		b := t.buckets[k]
		pts[i] = TimePoint{
			Offset: time.Duration(k) * t.width,
			Count:  b.TotalCount(),
			P50:    quantile(b, 0.5),
			P99:    quantile(b, 0.99),
			Max:    time.Duration(b.Max()) * time.Microsecond,
		}
	}
	return pts
}
