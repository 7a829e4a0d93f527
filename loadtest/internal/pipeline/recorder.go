package pipeline

import (
	"sort"
	"sync"
	"sync/atomic"

	"github.com/kafkakit/kit/loadtest/internal/hops"
	"github.com/kafkakit/kit/loadtest/internal/pace"
	"github.com/kafkakit/kit/loadtest/internal/stats"
)

// Recorder collects the outcomes of one phase's measured orders.
type Recorder struct {
	Accepted *stats.Histogram // intended -> 201
	Created  *stats.Histogram // intended -> CREATED seen
	Final    *stats.Histogram // intended -> PAID/FAILED seen

	timeline *stats.Timeline // final latency by intended time, whole run

	completed atomic.Int64
	errored   atomic.Int64

	mu       sync.Mutex
	orders   []hops.Order // measured orders that reached a final status
	accepted int64
	paid     int64
	failed   int64
	errors   map[string]int64
	examples map[string]string
}

// NewRecorder returns a Recorder that also feeds timeline, which may be shared
// by the recorders of several phases, or nil.
func NewRecorder(timeline *stats.Timeline) *Recorder {
	return &Recorder{
		Accepted: stats.NewHistogram(),
		Created:  stats.NewHistogram(),
		Final:    stats.NewHistogram(),
		timeline: timeline,
		errors:   map[string]int64{},
		examples: map[string]string{},
	}
}

// Record adds one order's outcome; warm-up orders are ignored.
func (r *Recorder) Record(a pace.Arrival, o Outcome) {
	if !a.Measured {
		return
	}
	if o.Accepted > 0 {
		r.Accepted.Record(o.Accepted)
	}
	if o.Created > 0 {
		r.Created.Record(o.Created)
	}
	if o.Final > 0 {
		r.Final.Record(o.Final)
		if r.timeline != nil {
			r.timeline.Record(a.Intended, o.Final)
		}
		r.completed.Add(1)
	}
	if o.ErrKind != "" {
		r.errored.Add(1)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if o.Final > 0 && o.OrderID != "" {
		r.orders = append(r.orders, hops.Order{ID: o.OrderID, Intended: a.Intended, Accepted: o.Accepted, Final: o.Final})
	}
	if o.Accepted > 0 {
		r.accepted++
	}
	switch o.Status {
	case StatusPaid:
		r.paid++
	case StatusFailed:
		r.failed++
	}
	if o.ErrKind != "" {
		r.errors[o.ErrKind]++
		if _, ok := r.examples[o.ErrKind]; !ok && o.Err != nil {
			r.examples[o.ErrKind] = o.Err.Error()
		}
	}
}

// Orders returns what was seen of each measured order that reached a final
// status, for the hop breakdown.
func (r *Recorder) Orders() []hops.Order {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hops.Order(nil), r.orders...)
}

// Completed is the number of measured orders that reached a final status so far.
func (r *Recorder) Completed() int64 { return r.completed.Load() }

// Errored is the number of measured orders that ended in an error so far.
func (r *Recorder) Errored() int64 { return r.errored.Load() }

// Counts are a phase's order counts.
type Counts struct {
	Accepted int64            // got a 201
	Paid     int64            // PAID seen
	Failed   int64            // FAILED seen
	Errors   map[string]int64 // by kind
	Examples map[string]string
}

// Completed is Paid + Failed.
func (c Counts) Completed() int64 { return c.Paid + c.Failed }

// ErrorTotal sums Errors.
func (c Counts) ErrorTotal() int64 {
	var n int64
	for _, v := range c.Errors {
		n += v
	}
	return n
}

// ErrorKinds returns the error kinds, most frequent first.
func (c Counts) ErrorKinds() []string {
	kinds := make([]string, 0, len(c.Errors))
	for k := range c.Errors {
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(i, j int) bool {
		if c.Errors[kinds[i]] != c.Errors[kinds[j]] {
			return c.Errors[kinds[i]] > c.Errors[kinds[j]]
		}
		return kinds[i] < kinds[j]
	})
	return kinds
}

// Counts returns a copy of the counters.
func (r *Recorder) Counts() Counts {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := Counts{Accepted: r.accepted, Paid: r.paid, Failed: r.failed, Errors: map[string]int64{}, Examples: map[string]string{}}
	for k, v := range r.errors {
		c.Errors[k] = v
	}
	for k, v := range r.examples {
		c.Examples[k] = v
	}
	return c
}
