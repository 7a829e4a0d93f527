package main

import (
	"encoding/json"
	"errors"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/kafkakit/kit/services/events"
)

// History holds the statuses seen for each order, in the order they were
// recorded, without repeats and never going backwards (see orderLog.moves).
// An SSE event id is a status's 1-based position in its order's history;
// every instance reads the same partitions in the same order and drops the
// same records, so ids agree between instances and Last-Event-ID resumes on
// any of them.
//
// Only statuses create history. A stream for an order without one (not
// created yet, or never) waits apart, in unknown, bounded in number: asking
// for made-up order ids cannot evict the history of real ones.
type History struct {
	mu     sync.Mutex
	orders map[string]*orderLog
	// fifo lists orders as their first status arrived; the oldest go first
	// once there are more than limits.Orders or they are older than
	// limits.MaxAge. An order someone follows is kept.
	fifo    []fifoEntry
	limits  HistoryLimits
	now     func() time.Time
	unknown map[string]waiters
	// unknownStreams counts the streams in unknown.
	unknownStreams int
}

// HistoryLimits bound what History keeps.
type HistoryLimits struct {
	// Orders is how many orders' statuses are kept (HISTORY_ORDERS).
	Orders int
	// MaxAge is how long an order is kept after its first status arrived
	// (HISTORY_MAX_AGE).
	MaxAge time.Duration
	// UnknownStreams is how many streams may wait for orders that have no
	// status yet (UNKNOWN_ORDER_STREAMS).
	UnknownStreams int
}

type orderLog struct {
	statuses []events.OrderStatus
	// highestSeq is the highest seq among statuses (0 while none had one).
	highestSeq int
	// spans[i] is the span in which statuses[i] was read, so the push of
	// a status to a browser joins the order's trace.
	spans []trace.SpanContext
	// encoded[i] is statuses[i] as JSON, encoded once for every stream
	// that follows the order.
	encoded [][]byte
	waiters waiters
}

type fifoEntry struct {
	orderID string
	at      time.Time
}

// errTooManyUnknown refuses a stream for an order without a status once
// UnknownStreams are waiting.
var errTooManyUnknown = errors.New("too many streams wait for orders this service has not seen")

// NewHistory returns an empty history bounded by limits.
func NewHistory(limits HistoryLimits) *History {
	return &History{orders: map[string]*orderLog{}, unknown: map[string]waiters{}, limits: limits, now: time.Now}
}

// Add records s unless it would not move its order on (see orderLog.moves),
// and wakes the order's streams, those that waited for its first status
// included. It reports whether s was recorded.
func (h *History) Add(s events.OrderStatus) bool { return h.AddTraced(s, trace.SpanContext{}) }

// AddTraced is Add for a status read in span sc.
func (h *History) AddTraced(s events.OrderStatus, sc trace.SpanContext) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	l := h.orders[s.OrderID]
	if l == nil {
		l = &orderLog{waiters: waiters{}}
		if w, ok := h.unknown[s.OrderID]; ok {
			l.waiters = w // they now follow a known order
			delete(h.unknown, s.OrderID)
			h.unknownStreams -= len(w)
		}
		h.orders[s.OrderID] = l
		now := h.now()
		h.fifo = append(h.fifo, fifoEntry{orderID: s.OrderID, at: now})
		h.evict(now)
	}
	if !l.moves(s) {
		return false
	}
	data, err := json.Marshal(s)
	if err != nil { // a struct of strings and numbers: never
		return false
	}
	l.statuses = append(l.statuses, s)
	l.spans = append(l.spans, sc)
	l.encoded = append(l.encoded, data)
	l.highestSeq = max(l.highestSeq, s.Seq)
	l.waiters.wake()
	return true
}

// moves reports whether s takes the order further than its statuses so far.
// A status whose seq (its position in the order's lifecycle) is not higher
// than the highest seen is stale or repeated — a producer's retry, a relay's
// resend, a redelivered reservation answered again — and would take a
// reader back, PAID to PROCESSING. A status the order already has is a
// repeat too: records written before seq existed carry none (0), and for
// them this is the only rule.
func (l *orderLog) moves(s events.OrderStatus) bool {
	if s.Seq > 0 && s.Seq <= l.highestSeq {
		return false
	}
	for _, seen := range l.statuses {
		if seen.Status == s.Status {
			return false
		}
	}
	return true
}

// Sweep forgets orders older than MaxAge that nobody follows; Add does the
// same, so this matters only while no status arrives.
func (h *History) Sweep() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.evict(h.now())
}

// evict drops the oldest orders while there are too many or they are too
// old, keeping any that someone follows. h.mu must be held.
func (h *History) evict(now time.Time) {
	cutoff := now.Add(-h.limits.MaxAge)
	for kept := 0; len(h.fifo) > kept; {
		oldest := h.fifo[0]
		if len(h.fifo) <= h.limits.Orders && !oldest.at.Before(cutoff) {
			return
		}
		h.fifo = h.fifo[1:]
		if len(h.orders[oldest.orderID].waiters) > 0 {
			// Still followed: keep it, as if it had just arrived, so it is
			// not looked at again on every Add.
			h.fifo = append(h.fifo, fifoEntry{orderID: oldest.orderID, at: now})
			kept++
			continue
		}
		delete(h.orders, oldest.orderID)
	}
}

// Subscribe registers interest in orderID before any history is read, so
// no status can fall between reading the history and waiting for news.
// The returned channel receives when there may be statuses past the last
// one read; cancel releases it. known says whether the order had a status;
// when not, the stream waits apart (see History), or is refused with
// errTooManyUnknown.
func (h *History) Subscribe(orderID string) (news <-chan struct{}, known bool, cancel func(), err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if l := h.orders[orderID]; l != nil {
		c := l.waiters.add()
		return c, true, func() { h.unsubscribe(orderID, c) }, nil
	}
	if h.unknownStreams >= h.limits.UnknownStreams {
		return nil, false, nil, errTooManyUnknown
	}
	w := h.unknown[orderID]
	if w == nil {
		w = waiters{}
		h.unknown[orderID] = w
	}
	c := w.add()
	h.unknownStreams++
	return c, false, func() { h.unsubscribe(orderID, c) }, nil
}

// unsubscribe removes c wherever it waits now: with the unknown orders, or
// with the order's log once its first status arrived.
func (h *History) unsubscribe(orderID string, c chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if w, ok := h.unknown[orderID]; ok {
		if _, in := w[c]; in {
			delete(w, c)
			h.unknownStreams--
			if len(w) == 0 {
				delete(h.unknown, orderID)
			}
			return
		}
	}
	if l := h.orders[orderID]; l != nil {
		delete(l.waiters, c)
	}
}

// Known reports whether orderID has a status in the history.
func (h *History) Known(orderID string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.orders[orderID] != nil
}

// Since returns the order's statuses after the first n (n is the id of the
// last event a client has).
func (h *History) Since(orderID string, n int) []events.OrderStatus {
	h.mu.Lock()
	defer h.mu.Unlock()
	l := h.orders[orderID]
	if l == nil || n >= len(l.statuses) {
		return nil
	}
	return append([]events.OrderStatus(nil), l.statuses[max(n, 0):]...)
}

// SinceEncoded returns the order's statuses after the first n as the JSON a
// stream sends, encoded once when each arrived, with the span each was read
// in. The slices are shared: read them only.
func (h *History) SinceEncoded(orderID string, n int) ([][]byte, []trace.SpanContext) {
	h.mu.Lock()
	defer h.mu.Unlock()
	l := h.orders[orderID]
	if l == nil || n >= len(l.statuses) {
		return nil, nil
	}
	n = max(n, 0)
	return append([][]byte(nil), l.encoded[n:]...), append([]trace.SpanContext(nil), l.spans[n:]...)
}
