// Package pace schedules arrivals at a constant rate (an open model, as
// vegeta's pacer and wrk2 do): arrival i is due at start + i/rate whatever
// happened to the ones before it, and its latency is measured from that
// intended time, so a stall in the system under test or in the runner is
// counted, not hidden (coordinated omission).
package pace

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Phase is a stretch of constant-rate arrivals. Arrivals due during the first
// Warmup are sent but not measured.
type Phase struct {
	Name     string
	Rate     float64 // arrivals per second
	Warmup   time.Duration
	Duration time.Duration // measured time after Warmup
}

// Count is the number of arrivals in the phase, warm-up included.
func (p Phase) Count() int {
	if p.Rate <= 0 {
		return 0
	}
	return int(math.Floor(p.Rate*(p.Warmup+p.Duration).Seconds() + 1e-9))
}

// At is the intended offset of arrival i from the phase's start.
func (p Phase) At(i int) time.Duration {
	return time.Duration(float64(i) * float64(time.Second) / p.Rate)
}

// Measured reports whether arrival i falls after the warm-up.
func (p Phase) Measured(i int) bool { return p.At(i) >= p.Warmup }

// Ramp returns one phase per rate, each lasting step; the first one is
// preceded by warmup at its own rate.
func Ramp(rates []float64, warmup, step time.Duration) []Phase {
	phases := make([]Phase, len(rates))
	for i, r := range rates {
		phases[i] = Phase{Name: fmt.Sprintf("ramp %g/s", r), Rate: r, Duration: step}
	}
	if len(phases) > 0 {
		phases[0].Warmup = warmup
	}
	return phases
}

// ParseRates parses a comma-separated list of positive rates, "200,500,1000".
func ParseRates(s string) ([]float64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var rates []float64
	for f := range strings.SplitSeq(s, ",") {
		r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || r <= 0 || math.IsInf(r, 0) || math.IsNaN(r) {
			return nil, fmt.Errorf("rate %q: want a positive number", f)
		}
		rates = append(rates, r)
	}
	return rates, nil
}

// Arrival is one scheduled unit of work.
type Arrival struct {
	Seq      int
	Intended time.Time
	Measured bool
}

// Clock is the time source the pacer sleeps on; tests use a fake one.
type Clock interface {
	Now() time.Time
	// SleepUntil returns when t is reached or ctx is done.
	SleepUntil(ctx context.Context, t time.Time)
}

// RealClock is the wall clock. It sleeps on one timer, reset for each
// arrival rather than made anew (the pacer sleeps once per order), so one
// RealClock serves one sleeper at a time, as the pacer's loop is.
type RealClock struct {
	timer *time.Timer
}

// Now returns time.Now().
func (*RealClock) Now() time.Time { return time.Now() }

// SleepUntil sleeps until t or until ctx is done.
func (c *RealClock) SleepUntil(ctx context.Context, t time.Time) {
	d := time.Until(t)
	if d <= 0 {
		return
	}
	if c.timer == nil {
		c.timer = time.NewTimer(d)
	} else {
		c.timer.Reset(d) // since Go 1.23 a Reset timer delivers no stale tick
	}
	select {
	case <-c.timer.C:
	case <-ctx.Done():
		c.timer.Stop()
	}
}

// Options tunes Run.
type Options struct {
	// MaxInFlight caps the arrivals being worked on at once; an arrival due
	// while the cap is reached is not sent and counted in Unsent. 0 means no cap.
	MaxInFlight int
	// LateAfter is how far behind its intended time an arrival may be
	// dispatched before it counts as Late.
	LateAfter time.Duration
	Clock     Clock
}

// Counts are what the pacer itself observed, for measured arrivals only.
type Counts struct {
	Scheduled int   // measured arrivals due in the phase
	Sent      int   // dispatched to the work function
	Unsent    int   // not dispatched: in-flight cap reached or run cancelled
	Late      int   // dispatched more than LateAfter behind their intended time
	MaxLag    int64 // worst dispatch lag, nanoseconds
	Started   time.Time
	Ended     time.Time // when the last arrival was dispatched
}

// Pacer runs phases and reports progress counters that a status line can
// read while it runs.
type Pacer struct {
	opts     Options
	inFlight atomic.Int64
	sent     atomic.Int64
}

// New returns a Pacer.
func New(opts Options) *Pacer {
	if opts.Clock == nil {
		opts.Clock = &RealClock{}
	}
	return &Pacer{opts: opts}
}

// InFlight is the number of arrivals currently being worked on.
func (p *Pacer) InFlight() int64 { return p.inFlight.Load() }

// Sent is the number of arrivals dispatched so far, across phases.
func (p *Pacer) Sent() int64 { return p.sent.Load() }

// Run dispatches the phase's arrivals at their intended times, each to work
// on a goroutine of its own while it runs (an idle worker's, or a new one),
// and returns once every dispatched arrival's work
// returned. Cancelling ctx stops dispatching; the arrivals left count as
// unsent. A Pacer runs one phase at a time (its clock has one timer).
func (p *Pacer) Run(ctx context.Context, ph Phase, work func(context.Context, Arrival)) Counts {
	clock := p.opts.Clock
	var sem chan struct{}
	if p.opts.MaxInFlight > 0 {
		sem = make(chan struct{}, p.opts.MaxInFlight)
	}
	// Workers outlive their arrival and take the next one due while they
	// wait: a goroutine per arrival grew a fresh stack to an HTTP client's
	// depth every time (runtime.newstack was a tenth of the runner's CPU).
	// There are as many as arrivals were ever in flight at once.
	var wg sync.WaitGroup
	idle := make(chan Arrival)
	worker := func(a Arrival) {
		for {
			work(ctx, a)
			p.inFlight.Add(-1)
			if sem != nil {
				<-sem
			}
			wg.Done()
			var ok bool
			if a, ok = <-idle; !ok {
				return
			}
		}
	}
	n := ph.Count()
	c := Counts{Started: clock.Now()}
	for i := range n {
		a := Arrival{Seq: i, Intended: c.Started.Add(ph.At(i)), Measured: ph.Measured(i)}
		if a.Measured {
			c.Scheduled++
		}
		if ctx.Err() != nil {
			if a.Measured {
				c.Unsent++
			}
			continue
		}
		clock.SleepUntil(ctx, a.Intended)
		if ctx.Err() != nil {
			if a.Measured {
				c.Unsent++
			}
			continue
		}
		if sem != nil {
			select {
			case sem <- struct{}{}:
			default:
				if a.Measured {
					c.Unsent++
				}
				continue
			}
		}
		lag := clock.Now().Sub(a.Intended)
		if a.Measured {
			c.Sent++
			if lag > p.opts.LateAfter {
				c.Late++
			}
			c.MaxLag = max(c.MaxLag, int64(lag))
		}
		p.sent.Add(1)
		p.inFlight.Add(1)
		wg.Add(1)
		select {
		case idle <- a: // a worker that finished its last arrival takes it
		default:
			go worker(a)
		}
	}
	c.Ended = clock.Now()
	wg.Wait()
	close(idle)
	return c
}
