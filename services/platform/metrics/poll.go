package metrics

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/kafkakit/kit/services/platform/inspect"
	"github.com/kafkakit/kit/services/platform/stream"
)

// Refresh is how often the gauges read from elsewhere (lag, outbox backlog)
// are brought up to date: often enough for a 5 s scrape, rarely enough to
// cost the broker and the database nothing that matters.
const Refresh = 2 * time.Second

// Position is where a reader stands in one partition.
type Position struct {
	Topic     string
	Partition int
	// Next is the next offset the reader will read (for a group: what it
	// committed); -1 when it has none yet.
	Next int64
	// End is the partition's end offset as the reader last saw it; -1 when
	// unknown. The broker's answer is preferred; this stands in when the
	// broker cannot be asked.
	End int64
}

// Assigned reads the positions of a group consumer: the partitions of its
// current generation with their committed offsets.
func Assigned(c interface{ Assignments() []stream.Assignment }) func() []Position {
	return func() []Position {
		as := c.Assignments()
		out := make([]Position, len(as))
		for i, a := range as {
			out[i] = Position{Topic: a.Topic, Partition: a.Partition, Next: a.Committed, End: a.HighWatermark}
		}
		return out
	}
}

// endOffsets asks a cluster for its partitions' offsets; *inspect.Client
// is one.
type endOffsets interface {
	Cluster(ctx context.Context, topics ...string) (inspect.Cluster, error)
}

// WatchLag keeps kafkakit_consumer_lag{group} up to date until ctx ends: at
// once and then every Refresh, the end offset of each partition positions
// names (asked of the brokers) minus the reader's position. A partition
// the reader no longer holds (a rebalance gave it to another instance)
// loses its series here; the instance that holds it now reports it.
func (m *Metrics) WatchLag(ctx context.Context, brokers []string, dialer *kafka.Dialer, group string, positions func() []Position) {
	client := inspect.New(brokers, dialer)
	defer client.Close()
	var l lagWatch
	every(ctx, Refresh, func(ctx context.Context) { l.refresh(ctx, m.lag, client, group, positions()) })
}

type lagWatch struct {
	shown map[[2]string]bool // topic, partition labels set last time
}

func (l *lagWatch) refresh(ctx context.Context, lag *prometheus.GaugeVec, ends endOffsets, group string, ps []Position) {
	var topics []string
	for _, p := range ps {
		if !slices.Contains(topics, p.Topic) {
			topics = append(topics, p.Topic)
		}
	}
	type offsets struct{ earliest, latest int64 }
	known := map[[2]string]offsets{}
	if len(topics) > 0 {
		ctx, cancel := context.WithTimeout(ctx, Refresh)
		c, err := ends.Cluster(ctx, topics...)
		cancel()
		if err == nil {
			for _, t := range c.Topics {
				for _, p := range t.Partitions {
					known[[2]string{t.Name, strconv.Itoa(p.ID)}] = offsets{p.Earliest, p.Latest}
				}
			}
		}
	}
	shown := map[[2]string]bool{}
	for _, p := range ps {
		key := [2]string{p.Topic, strconv.Itoa(p.Partition)}
		end, next := p.End, p.Next
		if o, ok := known[key]; ok {
			end = max(end, o.latest)
			if next < 0 {
				next = o.earliest // never committed: the whole partition waits
			}
		}
		if end < 0 || next < 0 {
			continue
		}
		lag.WithLabelValues(p.Topic, key[1], group).Set(float64(max(end-next, 0)))
		shown[key] = true
	}
	for key := range l.shown {
		if !shown[key] {
			lag.DeleteLabelValues(key[0], key[1], group)
		}
	}
	l.shown = shown
}

// WatchOutbox keeps kafkakit_outbox_backlog{service} up to date until ctx
// ends, at once and then every Refresh, from backlog (outbox.Outbox's
// Backlog counts the rows). A count that fails leaves the last value.
func (m *Metrics) WatchOutbox(ctx context.Context, backlog func(context.Context) (int, error)) {
	g := m.backlog.WithLabelValues(m.service)
	every(ctx, Refresh, func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, Refresh)
		defer cancel()
		if n, err := backlog(ctx); err == nil {
			g.Set(float64(n))
		}
	})
}

// every runs fn at once and then every d until ctx ends.
func every(ctx context.Context, d time.Duration, fn func(context.Context)) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		fn(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
