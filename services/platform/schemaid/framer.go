package schemaid

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// Framer frames the records a producer writes with the id of their topic's
// current schema. It registers (or looks up) each topic's schema once; until
// that succeeded it refuses to frame that topic's records, so nothing is
// ever produced unframed — a relay keeps them and retries.
type Framer struct {
	reg    *Registry
	topics []string

	mu  sync.RWMutex
	ids map[string]int
}

// NewFramer returns a framer of the records of topics, ids from reg.
func NewFramer(reg *Registry, topics ...string) *Framer {
	return &Framer{reg: reg, topics: slices.Clone(topics), ids: map[string]int{}}
}

// Ready registers every topic's schema not yet registered and says which
// failed: a service's readiness check, called at start and while not ready.
func (f *Framer) Ready(ctx context.Context) error {
	for _, t := range f.topics {
		if _, err := f.id(ctx, t); err != nil {
			return err
		}
	}
	return nil
}

// Frame returns value framed with topic's schema id, registering the
// schema first if it is not yet.
func (f *Framer) Frame(ctx context.Context, topic string, value []byte) ([]byte, error) {
	id, err := f.id(ctx, topic)
	if err != nil {
		return nil, err
	}
	return Frame(id, value), nil
}

func (f *Framer) id(ctx context.Context, topic string) (int, error) {
	f.mu.RLock()
	id, ok := f.ids[topic]
	f.mu.RUnlock()
	if ok {
		return id, nil
	}
	if !slices.Contains(f.topics, topic) {
		return 0, fmt.Errorf("frame %s: not a topic this producer writes (it writes %v)", topic, f.topics)
	}
	s, err := f.reg.Register(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("frame %s: %w", topic, err)
	}
	f.mu.Lock()
	f.ids[topic] = s.ID
	f.mu.Unlock()
	return s.ID, nil
}
