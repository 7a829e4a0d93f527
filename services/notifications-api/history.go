package main

import (
	"sync"

	"github.com/kafkakit/kit/services/events"
)

// History holds the statuses seen for each order, in the order they were
// recorded, without repeats. An SSE event id is a status's 1-based position
// in its order's history; every instance reads the same partitions in the
// same order, so ids agree between instances and Last-Event-ID resumes on
// any of them.
type History struct {
	mu     sync.Mutex
	orders map[string]*orderLog
	// fifo evicts the oldest orders beyond max, bounding memory.
	fifo []string
	max  int
}

type orderLog struct {
	statuses []events.OrderStatus
	waiters  waiters
}

// NewHistory keeps the statuses of at most maxOrders orders.
func NewHistory(maxOrders int) *History {
	return &History{orders: map[string]*orderLog{}, max: maxOrders}
}

// Add records s unless its order already has that status (a redelivered
// order writes its statuses again), and wakes the order's streams.
func (h *History) Add(s events.OrderStatus) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	l := h.log(s.OrderID)
	for _, seen := range l.statuses {
		if seen.Status == s.Status {
			return false
		}
	}
	l.statuses = append(l.statuses, s)
	l.waiters.wake()
	return true
}

// log returns the order's log, creating it. h.mu must be held.
func (h *History) log(orderID string) *orderLog {
	l := h.orders[orderID]
	if l != nil {
		return l
	}
	l = &orderLog{waiters: waiters{}}
	h.orders[orderID] = l
	h.fifo = append(h.fifo, orderID)
	for len(h.fifo) > h.max {
		oldest := h.fifo[0]
		h.fifo = h.fifo[1:]
		if len(h.orders[oldest].waiters) == 0 {
			delete(h.orders, oldest)
		} else {
			h.fifo = append(h.fifo, oldest) // still watched: keep it
			break
		}
	}
	return l
}

// Subscribe registers interest in orderID before any history is read, so
// no status can fall between reading the history and waiting for news.
// The returned channel receives when there may be statuses past the last
// one read; cancel releases it.
func (h *History) Subscribe(orderID string) (news <-chan struct{}, cancel func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	l := h.log(orderID)
	c := l.waiters.add()
	return c, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(l.waiters, c)
	}
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
