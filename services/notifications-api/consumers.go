package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/kafkakit/kit/services/platform/httpx"
	"github.com/kafkakit/kit/services/platform/inspect"
)

// groupLister is the part of *inspect.Client the consumers snapshot uses.
type groupLister interface {
	Groups(ctx context.Context, ids ...string) ([]inspect.Group, error)
}

// Consumers keeps a snapshot of every consumer group on the cluster (the
// kit's own and any other, such as a learner's `kit tail -group`) for the
// page's Consumers panel: members, who owns which partition, committed and
// end offsets, lag. A goroutine refreshes it every second, so a request
// never reaches the broker, however many pages poll.
type Consumers struct {
	source groupLister
	every  time.Duration
	log    *slog.Logger
	now    func() time.Time

	mu      sync.Mutex
	body    []byte    // the last snapshot as JSON; nil before the first
	at      time.Time // when its groups were read
	failing bool      // the last refresh failed
	shapes  map[string]string
	changes map[string]time.Time
}

// NewConsumers returns a snapshot of source's groups, refreshed every
// interval once Run runs.
func NewConsumers(source groupLister, every time.Duration, log *slog.Logger) *Consumers {
	return &Consumers{source: source, every: every, log: log, now: time.Now, shapes: map[string]string{}, changes: map[string]time.Time{}}
}

// consumersSnapshot is the body of GET /consumers.
type consumersSnapshot struct {
	// At is when the groups were read.
	At     time.Time       `json:"at"`
	Groups []consumerGroup `json:"groups"`
	// Error is set while refreshing fails (the broker is down): the groups
	// are the last ones read, at At.
	Error string `json:"error,omitempty"`
}

// consumerGroup is a group as inspect describes it (groupId, state,
// members with their assignments, partitions with committed, end, lag and
// memberId), and when this instance last saw its assignment change.
type consumerGroup struct {
	inspect.Group
	// RebalancedAt is the first snapshot that showed the group's current
	// members and assignments, when they differ from the one before: the
	// page marks a rebalance with it. Absent until a change was seen.
	RebalancedAt *time.Time `json:"rebalancedAt,omitempty"`
}

// Run refreshes the snapshot until ctx ends.
func (c *Consumers) Run(ctx context.Context) error {
	tick := time.NewTicker(c.every)
	defer tick.Stop()
	for {
		c.refresh(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

func (c *Consumers) refresh(parent context.Context) {
	ctx, cancel := context.WithTimeout(parent, max(c.every, 5*time.Second))
	defer cancel()
	groups, err := c.source.Groups(ctx)
	if parent.Err() != nil {
		return // shutting down
	}
	now := c.now().UTC()
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		if !c.failing {
			c.log.Warn("cannot read the consumer groups; /consumers keeps the last snapshot", "err", err)
		}
		c.failing = true
		if c.body != nil {
			c.encode(consumersSnapshot{At: c.at, Groups: c.last(), Error: fmt.Sprintf("cannot read the consumer groups since %s", now.Format(time.RFC3339))})
		}
		return
	}
	if c.failing {
		c.log.Info("reading the consumer groups again")
	}
	c.failing = false
	snap := consumersSnapshot{At: now, Groups: make([]consumerGroup, 0, len(groups))}
	for _, g := range groups {
		shape := assignmentShape(g)
		if prev, ok := c.shapes[g.ID]; ok && prev != shape {
			c.changes[g.ID] = now
		}
		c.shapes[g.ID] = shape
		cg := consumerGroup{Group: g}
		if t, ok := c.changes[g.ID]; ok {
			cg.RebalancedAt = &t
		}
		snap.Groups = append(snap.Groups, cg)
	}
	c.at = now
	c.encode(snap)
}

// last decodes the groups of the current snapshot (only when a refresh
// failed, to keep them next to the error).
func (c *Consumers) last() []consumerGroup {
	var s consumersSnapshot
	_ = json.Unmarshal(c.body, &s)
	return s.Groups
}

func (c *Consumers) encode(s consumersSnapshot) {
	body, err := json.Marshal(s)
	if err != nil {
		c.log.Error("encode the consumers snapshot", "err", err)
		return
	}
	c.body = append(body, '\n')
}

// assignmentShape is a group's members and what each owns, as one string
// that changes exactly when a rebalance changed them.
func assignmentShape(g inspect.Group) string {
	var b strings.Builder
	for _, m := range g.Members { // inspect sorts members and assignments
		fmt.Fprintf(&b, "%s:", m.ID)
		for _, a := range m.Assignments {
			fmt.Fprintf(&b, "%s%v;", a.Topic, a.Partitions)
		}
		b.WriteByte('|')
	}
	return b.String()
}

// handleConsumers answers GET /consumers with the latest snapshot.
func handleConsumers(c *Consumers) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		body := c.body
		c.mu.Unlock()
		if body == nil {
			w.Header().Set("Retry-After", "1")
			httpx.Encode(w, http.StatusServiceUnavailable, httpx.Errorf(http.StatusServiceUnavailable, "the consumer groups have not been read yet"))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	})
}
