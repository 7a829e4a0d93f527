package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"
)

// EventWriter produces inventory events; *kafka.Writer is one.
type EventWriter interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Relay produces the outbox's inventory events in commit order, keyed by
// SKU, and deletes them once the broker acknowledged them. If the service
// dies in between, they are produced again on restart: a duplicate event is
// possible, a lost one is not.
type Relay struct {
	Store  *Store
	Events EventWriter
	Log    *slog.Logger
	// Batch is the most events sent in one produce call.
	Batch int
	kick  chan struct{}
}

// NewRelay returns a relay; call Kick after each commit that queued events.
func NewRelay(store *Store, w EventWriter, log *slog.Logger) *Relay {
	return &Relay{Store: store, Events: w, Log: log, Batch: 500, kick: make(chan struct{}, 1)}
}

// Kick wakes the relay without blocking.
func (r *Relay) Kick() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Run relays until ctx is done. The ticker covers events left from a
// previous run and retries after a failure.
func (r *Relay) Run(ctx context.Context) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		for {
			sent, err := r.flush(ctx)
			if err != nil {
				if ctx.Err() == nil {
					r.Log.Warn("inventory events not produced yet; retrying", "err", err)
				}
				break
			}
			if sent < r.Batch {
				break
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-r.kick:
		case <-tick.C:
		}
	}
}

func (r *Relay) flush(ctx context.Context) (int, error) {
	pending, err := r.Store.PendingEvents(ctx, r.Batch)
	if err != nil || len(pending) == 0 {
		return 0, err
	}
	msgs := make([]kafka.Message, len(pending))
	for i, e := range pending {
		msgs[i] = kafka.Message{Key: []byte(e.SKU), Value: e.Value}
	}
	if err := r.Events.WriteMessages(ctx, msgs...); err != nil {
		return 0, err
	}
	return len(pending), r.Store.DeleteEvents(ctx, pending[len(pending)-1].Seq)
}
