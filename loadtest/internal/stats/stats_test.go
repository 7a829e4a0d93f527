package stats

import (
	"math"
	"testing"
	"time"
)

// within reports whether got is within 0.1% of want: the precision of a
// histogram with three significant digits.
func within(got, want time.Duration) bool {
	return math.Abs(float64(got-want)) <= 0.001*float64(want)+float64(time.Microsecond)
}

func TestSummary(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name   string
		values func(record func(time.Duration))
		want   Summary
	}{
		{
			name: "1..1000 ms, one each",
			values: func(record func(time.Duration)) {
				for i := 1; i <= 1000; i++ {
					record(time.Duration(i) * ms)
				}
			},
			want: Summary{Count: 1000, Min: ms, Mean: 500500 * time.Microsecond, P50: 500 * ms, P90: 900 * ms, P99: 990 * ms, P999: 999 * ms, Max: 1000 * ms},
		},
		{
			name: "one stall among fast ones shows at p99.9 and max only",
			values: func(record func(time.Duration)) {
				for range 999 {
					record(2 * ms)
				}
				record(3 * time.Second)
			},
			want: Summary{Count: 1000, Min: 2 * ms, Mean: 4998 * time.Microsecond, P50: 2 * ms, P90: 2 * ms, P99: 2 * ms, P999: 2 * ms, Max: 3 * time.Second},
		},
		{
			name: "values below a microsecond count as one",
			values: func(record func(time.Duration)) {
				record(0)
				record(-time.Second)
			},
			want: Summary{Count: 2, Min: time.Microsecond, Mean: time.Microsecond, P50: time.Microsecond, P90: time.Microsecond, P99: time.Microsecond, P999: time.Microsecond, Max: time.Microsecond},
		},
		{
			name: "values beyond the range are clamped, not dropped",
			values: func(record func(time.Duration)) {
				record(time.Hour)
			},
			want: Summary{Count: 1, Min: Highest, Mean: Highest, P50: Highest, P90: Highest, P99: Highest, P999: Highest, Max: Highest},
		},
		{
			name:   "empty",
			values: func(func(time.Duration)) {},
			want:   Summary{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHistogram()
			tt.values(h.Record)
			got := h.Summary()
			if got.Count != tt.want.Count {
				t.Errorf("Count: got %d, want %d", got.Count, tt.want.Count)
			}
			for _, f := range []struct {
				name      string
				got, want time.Duration
			}{
				{"Min", got.Min, tt.want.Min}, {"Mean", got.Mean, tt.want.Mean},
				{"P50", got.P50, tt.want.P50}, {"P90", got.P90, tt.want.P90},
				{"P99", got.P99, tt.want.P99}, {"P999", got.P999, tt.want.P999},
				{"Max", got.Max, tt.want.Max},
			} {
				if !within(f.got, f.want) {
					t.Errorf("%s: got %v, want %v", f.name, f.got, f.want)
				}
			}
		})
	}
}

func TestDistribution(t *testing.T) {
	h := NewHistogram()
	for i := 1; i <= 10000; i++ {
		h.Record(time.Duration(i) * time.Microsecond * 10)
	}
	pts := h.Distribution(3, 1)
	want := []QuantilePoint{
		{0, 10 * time.Microsecond},
		{0.9, 90 * time.Millisecond},
		{0.99, 99 * time.Millisecond},
		{0.999, 99900 * time.Microsecond},
		{1, 100 * time.Millisecond},
	}
	if len(pts) != len(want) {
		t.Fatalf("points: got %d, want %d (%v)", len(pts), len(want), pts)
	}
	for i := range want {
		if math.Abs(pts[i].Quantile-want[i].Quantile) > 1e-9 || !within(pts[i].Value, want[i].Value) {
			t.Errorf("point %d: got %+v, want %+v", i, pts[i], want[i])
		}
	}
	if got := NewHistogram().Distribution(3, 10); got != nil {
		t.Errorf("empty Distribution: got %v, want nil", got)
	}
}

func TestRatioAndRate(t *testing.T) {
	ratios := []struct {
		a, b time.Duration
		want float64
	}{
		{3 * time.Millisecond, 2 * time.Millisecond, 1.5},
		{2 * time.Millisecond, 4 * time.Millisecond, 0.5},
		{time.Millisecond, 0, 0},
	}
	for _, tt := range ratios {
		if got := Ratio(tt.a, tt.b); got != tt.want {
			t.Errorf("Ratio(%v, %v): got %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
	rates := []struct {
		n    int64
		d    time.Duration
		want float64
	}{
		{6000, 30 * time.Second, 200},
		{5, 500 * time.Millisecond, 10},
		{5, 0, 0},
	}
	for _, tt := range rates {
		if got := Rate(tt.n, tt.d); got != tt.want {
			t.Errorf("Rate(%d, %v): got %v, want %v", tt.n, tt.d, got, tt.want)
		}
	}
}

func TestTimeline(t *testing.T) {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	tl := NewTimeline(start, time.Second)
	for i := range 100 {
		tl.Record(start.Add(time.Duration(i)*10*time.Millisecond), time.Duration(i+1)*time.Millisecond)
	}
	tl.Record(start.Add(2500*time.Millisecond), 7*time.Millisecond)
	got := tl.Points()
	want := []TimePoint{
		{Offset: 0, Count: 100, P50: 50 * time.Millisecond, P99: 99 * time.Millisecond, Max: 100 * time.Millisecond},
		{Offset: 2 * time.Second, Count: 1, P50: 7 * time.Millisecond, P99: 7 * time.Millisecond, Max: 7 * time.Millisecond},
	}
	if len(got) != len(want) {
		t.Fatalf("points: got %+v, want %+v", got, want)
	}
	for i := range want {
		// Two significant digits: within 1%.
		close := func(a, b time.Duration) bool { return math.Abs(float64(a-b)) <= 0.01*float64(b) }
		if got[i].Offset != want[i].Offset || got[i].Count != want[i].Count ||
			!close(got[i].P50, want[i].P50) || !close(got[i].P99, want[i].P99) || !close(got[i].Max, want[i].Max) {
			t.Errorf("point %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

// BenchmarkRecord is the per-order cost of recording a latency, with the
// order goroutines contending as they do under load.
func BenchmarkRecord(b *testing.B) {
	h := NewHistogram()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		d := 1500 * time.Microsecond
		for pb.Next() {
			h.Record(d)
			d += 37 * time.Microsecond
			if d > time.Second {
				d = time.Millisecond
			}
		}
	})
}

// BenchmarkTimelineRecord is the per-order cost of the plot's timeline.
func BenchmarkTimelineRecord(b *testing.B) {
	start := time.Now()
	tl := NewTimeline(start, time.Second)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		tl.Record(start.Add(time.Duration(i)*time.Millisecond), 3*time.Millisecond)
		i++
	}
}
