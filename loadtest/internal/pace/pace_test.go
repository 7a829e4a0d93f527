package pace

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"
)

// fakeClock jumps to the requested time when asked to sleep, plus a lag the
// test chooses per intended time, so the pacer's arithmetic is tested without
// real waiting.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	lag     func(t time.Time) time.Duration
	onSleep func(t time.Time)
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) SleepUntil(_ context.Context, t time.Time) {
	if c.onSleep != nil {
		c.onSleep(t)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.Before(c.now) {
		return // already behind: no sleep, so no extra stall either
	}
	c.now = t
	if c.lag != nil {
		c.now = c.now.Add(c.lag(t))
	}
}

var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func TestPhaseSchedule(t *testing.T) {
	tests := []struct {
		name         string
		phase        Phase
		wantCount    int
		wantAt       map[int]time.Duration
		wantMeasured map[int]bool
	}{
		{
			name:      "200/s for 1s",
			phase:     Phase{Rate: 200, Duration: time.Second},
			wantCount: 200,
			wantAt:    map[int]time.Duration{0: 0, 1: 5 * time.Millisecond, 199: 995 * time.Millisecond},
		},
		{
			name:         "warm-up is scheduled but not measured",
			phase:        Phase{Rate: 10, Warmup: time.Second, Duration: 2 * time.Second},
			wantCount:    30,
			wantAt:       map[int]time.Duration{10: time.Second},
			wantMeasured: map[int]bool{0: false, 9: false, 10: true, 29: true},
		},
		{
			name:      "fractional rate",
			phase:     Phase{Rate: 0.5, Duration: 10 * time.Second},
			wantCount: 5,
			wantAt:    map[int]time.Duration{1: 2 * time.Second, 4: 8 * time.Second},
		},
		{
			name:      "3000/s: no drift over a minute",
			phase:     Phase{Rate: 3000, Duration: time.Minute},
			wantCount: 180000,
			wantAt:    map[int]time.Duration{179999: time.Minute - time.Second/3000},
		},
		{
			name:      "zero rate schedules nothing",
			phase:     Phase{Rate: 0, Duration: time.Second},
			wantCount: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.phase.Count(); got != tt.wantCount {
				t.Errorf("Count: got %d, want %d", got, tt.wantCount)
			}
			for i, want := range tt.wantAt {
				if got := tt.phase.At(i); (got - want).Abs() > time.Microsecond {
					t.Errorf("At(%d): got %v, want %v", i, got, want)
				}
			}
			for i, want := range tt.wantMeasured {
				if got := tt.phase.Measured(i); got != want {
					t.Errorf("Measured(%d): got %v, want %v", i, got, want)
				}
			}
		})
	}
}

func TestParseRates(t *testing.T) {
	tests := []struct {
		in      string
		want    []float64
		wantErr bool
	}{
		{in: "200,500,1000", want: []float64{200, 500, 1000}},
		{in: " 200 , 2.5 ", want: []float64{200, 2.5}},
		{in: "", want: nil},
		{in: "200,,500", wantErr: true},
		{in: "200,-1", wantErr: true},
		{in: "fast", wantErr: true},
		{in: "0", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseRates(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseRates(%q) error: got %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseRates(%q): got %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestRamp(t *testing.T) {
	got := Ramp([]float64{200, 500}, 5*time.Second, 10*time.Second)
	want := []Phase{
		{Name: "ramp 200/s", Rate: 200, Warmup: 5 * time.Second, Duration: 10 * time.Second},
		{Name: "ramp 500/s", Rate: 500, Duration: 10 * time.Second},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Ramp: got %+v, want %+v", got, want)
	}
}

func TestRunDispatchesAtIntendedTimes(t *testing.T) {
	clock := &fakeClock{now: epoch}
	p := New(Options{Clock: clock, LateAfter: 10 * time.Millisecond})
	var mu sync.Mutex
	got := map[int]time.Duration{}
	measured := 0
	c := p.Run(context.Background(), Phase{Rate: 100, Warmup: 100 * time.Millisecond, Duration: time.Second}, func(_ context.Context, a Arrival) {
		mu.Lock()
		defer mu.Unlock()
		got[a.Seq] = a.Intended.Sub(epoch)
		if a.Measured {
			measured++
		}
	})
	if len(got) != 110 {
		t.Fatalf("dispatched: got %d, want 110", len(got))
	}
	for i, d := range got {
		if want := time.Duration(i) * 10 * time.Millisecond; d != want {
			t.Errorf("arrival %d intended at: got %v, want %v", i, d, want)
		}
	}
	if measured != 100 {
		t.Errorf("measured arrivals: got %d, want 100", measured)
	}
	want := Counts{Scheduled: 100, Sent: 100, Started: epoch, Ended: epoch.Add(1090 * time.Millisecond)}
	if c != want {
		t.Errorf("Counts: got %+v, want %+v", c, want)
	}
	if p.Sent() != 110 || p.InFlight() != 0 {
		t.Errorf("progress: got sent %d in flight %d, want 110 and 0", p.Sent(), p.InFlight())
	}
}

func TestRunCountsLateDispatches(t *testing.T) {
	// Every tenth arrival is dispatched 50ms behind; as the schedule does not
	// move, the arrivals due meanwhile go out late too, at once (open model).
	clock := &fakeClock{now: epoch}
	clock.lag = func(t time.Time) time.Duration {
		if t.Sub(epoch)%(100*time.Millisecond) == 0 {
			return 50 * time.Millisecond
		}
		return 0
	}
	p := New(Options{Clock: clock, LateAfter: 20 * time.Millisecond})
	c := p.Run(context.Background(), Phase{Rate: 100, Duration: time.Second}, func(context.Context, Arrival) {})
	// At 10ms spacing, a 50ms stall makes the stalled arrival 50ms late, the
	// next 40ms and the one after 30ms late: 3 over 20ms per stall, 10 stalls.
	if c.Late != 30 {
		t.Errorf("Late: got %d, want 30", c.Late)
	}
	if c.MaxLag != int64(50*time.Millisecond) {
		t.Errorf("MaxLag: got %v, want 50ms", time.Duration(c.MaxLag))
	}
	if c.Sent != 100 || c.Unsent != 0 {
		t.Errorf("Sent/Unsent: got %d/%d, want 100/0", c.Sent, c.Unsent)
	}
}

func TestRunCountsUnsentAtInFlightCap(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ph := Phase{Rate: 10, Duration: time.Second}
	last := epoch.Add(ph.At(ph.Count() - 1))
	clock := &fakeClock{now: epoch, onSleep: func(t time.Time) {
		if t.Equal(last) {
			cancel()
		}
	}}
	p := New(Options{Clock: clock, MaxInFlight: 1})
	// The first arrival holds the only slot until the run is cancelled at the
	// last arrival, which is therefore not sent either.
	c := p.Run(ctx, ph, func(ctx context.Context, _ Arrival) { <-ctx.Done() })
	if c.Scheduled != 10 || c.Sent != 1 || c.Unsent != 9 {
		t.Errorf("Scheduled/Sent/Unsent: got %d/%d/%d, want 10/1/9", c.Scheduled, c.Sent, c.Unsent)
	}
}

// BenchmarkRun measures the pacer's own cost per arrival.
func BenchmarkRun(b *testing.B) {
	clock := &fakeClock{now: epoch}
	p := New(Options{Clock: clock, LateAfter: time.Millisecond})
	b.ReportAllocs()
	b.ResetTimer()
	p.Run(context.Background(), Phase{Rate: 1e6, Duration: time.Duration(b.N) * time.Microsecond}, func(context.Context, Arrival) {})
}

// deep uses about as much stack as an HTTP round trip does (~8 KB).
//
//go:noinline
func deep(n int) byte {
	var pad [512]byte
	pad[n%len(pad)] = byte(n)
	if n == 0 {
		return pad[0]
	}
	return deep(n-1) + pad[n%len(pad)]
}

// BenchmarkRunDeepWork is the pacer's cost per arrival when the work needs
// a stack as deep as placing an order: new goroutines grow theirs each time.
func BenchmarkRunDeepWork(b *testing.B) {
	clock := &fakeClock{now: epoch}
	p := New(Options{Clock: clock, LateAfter: time.Millisecond})
	b.ReportAllocs()
	b.ResetTimer()
	p.Run(context.Background(), Phase{Rate: 1e6, Duration: time.Duration(b.N) * time.Microsecond}, func(context.Context, Arrival) { deep(14) })
}
