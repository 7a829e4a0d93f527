package stream

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
)

type topicPartition struct {
	topic     string
	partition int
}

// genRun consumes the assignment of one generation. Everything it tracks
// belongs to that generation: its commits go through that generation only,
// and once it has made its final commit it commits nothing more.
type genRun struct {
	c   *Consumer
	gen generation
	id  int32
	log *slog.Logger
	// handlers are the routes' handlers in their middleware (Consumer.chain),
	// by topic: a record's attempts, retries and dead letter are theirs.
	handlers map[string]Handler

	// work is the context of the handlers; a drain cancels it.
	work       context.Context
	cancelWork context.CancelFunc
	slots      chan struct{} // one per record being applied
	wake       chan struct{} // asks the committer for a commit
	inFlight   sync.WaitGroup
	cancelled  atomic.Int64 // records a drain abandoned

	mu      sync.Mutex
	parts   map[topicPartition]*partition
	lanes   map[string]*lane
	ready   map[topicPartition]int64 // next offset to commit, per partition that advanced
	revoked bool                     // the final commit is made: completions commit nothing
}

// partition follows the uncommitted window of one assigned partition.
type partition struct {
	tp        topicPartition
	start     int64   // where fetching begins (kafka.FirstOffset when never committed)
	pending   []int64 // fetched and not yet committable, in offset order
	done      map[int64]bool
	failing   map[int64]failure // pending records failing transiently
	last      int64             // highest offset fetched; -1 before the first
	committed int64             // next offset as last stored; -1 while unknown
	highWater int64             // -1 while unknown
	room      chan struct{}     // signalled when the window shrinks
	denied    string            // the broker's ACLs refuse the fetch (stream.Denied's words); "" otherwise
}

type job struct {
	msg  kafka.Message
	part *partition
}

// lane runs the jobs of one key in order.
type lane struct{ queue []job }

func newGenRun(c *Consumer, gen generation) *genRun {
	work, cancel := context.WithCancel(context.Background())
	g := &genRun{
		c:          c,
		gen:        gen,
		id:         gen.GenerationID(),
		log:        c.log.With("generation", gen.GenerationID()),
		work:       work,
		cancelWork: cancel,
		slots:      make(chan struct{}, c.cfg.MaxInFlight),
		wake:       make(chan struct{}, 1),
		parts:      map[topicPartition]*partition{},
		lanes:      map[string]*lane{},
		ready:      map[topicPartition]int64{},
	}
	g.handlers = make(map[string]Handler, len(c.routes))
	for topic, route := range c.routes {
		g.handlers[topic] = c.chain(route, g.log, g)
	}
	for topic, assigned := range gen.PartitionAssignments() {
		for _, a := range assigned {
			tp := topicPartition{topic, a.ID}
			committed := a.Offset
			if committed < 0 {
				committed = -1
			}
			g.parts[tp] = &partition{tp: tp, start: a.Offset, done: map[int64]bool{}, failing: map[int64]failure{},
				last: -1, committed: committed, highWater: -1, room: make(chan struct{}, 1)}
		}
	}
	return g
}

// run consumes until the generation ends or stop is done, then stops
// fetching, drains, and makes the generation's final commit.
func (g *genRun) run(stop, genCtx context.Context) {
	defer g.cancelWork()
	g.c.enter(g)

	fetchCtx, stopFetching := context.WithCancel(context.Background())
	var fetchers sync.WaitGroup
	for _, p := range g.sortedParts() {
		f := g.c.open(p.tp.topic, p.tp.partition, p.start)
		fetchers.Add(1)
		go func() {
			defer fetchers.Done()
			g.fetch(fetchCtx, p, f)
			if err := f.Close(); err != nil {
				g.log.Warn("closing a partition reader failed", "topic", p.tp.topic, "partition", p.tp.partition, "err", err)
			}
		}()
	}
	stopCommitting := make(chan struct{})
	committerDone := make(chan struct{})
	go func() {
		defer close(committerDone)
		g.commitLoop(stopCommitting)
	}()

	reason, drain := "generation ended", min(g.c.cfg.Drain, revokeDrain)
	select {
	case <-genCtx.Done():
	case <-stop.Done():
		reason, drain = "shutdown", g.c.cfg.Drain
	}
	stopFetching()
	fetchers.Wait()
	g.drain(drain)
	close(stopCommitting)
	<-committerDone
	err := g.finalCommit()
	g.c.leave(g)

	attrs := []any{"reason", reason, "partitions", g.describe(func(p *partition) string {
		if p.committed < 0 {
			return "@-"
		}
		return "@" + strconv.FormatInt(p.committed, 10)
	})}
	if n := g.cancelled.Load(); n > 0 {
		attrs = append(attrs, "cancelled", n)
	}
	if err != nil {
		attrs = append(attrs, "finalCommitErr", err)
		g.log.Warn("consumer generation ended; partitions revoked; final commit failed, records since the last commit will be redelivered", attrs...)
		return
	}
	g.log.Info("consumer generation ended; partitions revoked", attrs...)
}

// fetch reads one partition into lanes while its window has room.
func (g *genRun) fetch(ctx context.Context, p *partition, f partitionFetcher) {
	log := g.log.With("topic", p.tp.topic, "partition", p.tp.partition)
	delay := g.c.cfg.RetryMin
	var failures int
	var failLog logLimiter
	for {
		if !g.waitRoom(ctx, p) {
			return
		}
		m, err := f.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			// kafka-go reports a broker it cannot reach yet keeps trying
			// underneath, with a backoff of its own: a broker restart is no
			// reason to stop. The errors it queued meanwhile come out one
			// by one after it has reconnected, so a growing pause here
			// would hold the partition for a minute after a broker came
			// back (seen on a leader kill); a short fixed one only keeps a
			// failing fetch from spinning.
			failures++
			g.noteDenied(p, Denied(err, g.c.cfg.Principal))
			if failLog.allow(time.Now(), g.c.logEvery) {
				log.Warn("fetch failed; retrying", "failures", failures, "retryIn", delay.String(), "err", err)
			}
			if !sleep(ctx.Done(), delay) {
				return
			}
			continue
		}
		if failures > 0 {
			log.Info("fetching again", "failures", failures)
			failures, failLog = 0, logLimiter{}
			g.noteDenied(p, "")
		}
		g.dispatch(p, m)
	}
}

// waitRoom blocks while p's uncommitted window is full.
func (g *genRun) waitRoom(ctx context.Context, p *partition) bool {
	for {
		g.mu.Lock()
		full := len(p.pending) >= g.c.cfg.MaxUncommitted
		g.mu.Unlock()
		if !full {
			return true
		}
		select {
		case <-p.room:
		case <-ctx.Done():
			return false
		}
	}
}

// dispatch tracks m in its partition's window and queues it on its key's lane.
func (g *genRun) dispatch(p *partition, m kafka.Message) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if m.Offset <= p.last {
		// A reader never goes back within a generation; if it did, the
		// record is tracked already.
		g.log.Warn("record fetched twice in one generation; ignored", "topic", m.Topic, "partition", m.Partition, "offset", m.Offset)
		return
	}
	p.last = m.Offset
	p.pending = append(p.pending, m.Offset)
	if m.HighWaterMark > 0 {
		p.highWater = m.HighWaterMark
	}
	g.inFlight.Add(1)
	j := job{msg: m, part: p}
	// One lane per key within a partition: a key's records are ordered
	// there, and a stuck partition cannot hold up another through a key
	// that a differently hashing producer wrote to both.
	key := m.Topic + "\x00" + strconv.Itoa(m.Partition) + "\x00" + string(m.Key)
	if l, busy := g.lanes[key]; busy {
		l.queue = append(l.queue, j)
		return
	}
	l := &lane{queue: []job{j}}
	g.lanes[key] = l
	go g.runLane(key, l)
}

// runLane applies the jobs of one key in order until the lane is empty.
// Once a job is abandoned — the drain cancelled the generation's work before
// or while it ran — every later job of the key is abandoned too: running
// one would apply a key's later record before its earlier one, which only
// comes back on redelivery. A cancelled generation is checked before and
// after taking a slot, since select picks at random among ready cases.
func (g *genRun) runLane(key string, l *lane) {
	abandoned := false
	for {
		g.mu.Lock()
		if len(l.queue) == 0 {
			delete(g.lanes, key)
			g.mu.Unlock()
			return
		}
		j := l.queue[0]
		l.queue[0] = job{}
		l.queue = l.queue[1:]
		g.mu.Unlock()

		settled := false
		if !abandoned && g.work.Err() == nil {
			select {
			case g.slots <- struct{}{}:
				if g.work.Err() == nil {
					// Applied or dead-lettered; an error means the drain
					// cancelled the work first (see retry).
					settled = g.handlers[j.msg.Topic](g.work, j.msg) == nil
				}
				<-g.slots
			case <-g.work.Done():
			}
		}
		if settled {
			g.complete(j.part, j.msg)
		} else {
			abandoned = true
			g.cancelled.Add(1)
		}
		g.inFlight.Done()
	}
}

// complete marks m done and moves its partition's committable offset past
// every contiguous finished record, unless the generation is over.
func (g *genRun) complete(p *partition, m kafka.Message) {
	g.mu.Lock()
	if g.revoked {
		g.mu.Unlock()
		g.log.Warn("record finished after its generation ended; not committed, it will be redelivered",
			"topic", m.Topic, "partition", m.Partition, "offset", m.Offset)
		return
	}
	p.done[m.Offset] = true
	shrank := false
	for len(p.pending) > 0 && p.done[p.pending[0]] {
		head := p.pending[0]
		delete(p.done, head)
		p.pending = p.pending[1:]
		g.ready[p.tp] = head + 1
		shrank = true
	}
	g.mu.Unlock()
	if shrank {
		signal(p.room)
		signal(g.wake)
	}
}

// signal wakes a waiter on ch without blocking; signals coalesce.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// commitLoop commits whenever offsets advanced, at most once per
// CommitEvery, coalescing everything that finished in between.
func (g *genRun) commitLoop(stop <-chan struct{}) {
	pause := g.c.cfg.CommitEvery
	var failLog logLimiter
	for {
		select {
		case <-stop:
			return
		case <-g.wake:
		}
		if err := g.commit(); err != nil {
			if failLog.allow(time.Now(), g.c.logEvery) {
				g.log.Warn("commit failed; retrying", "err", err)
			}
			signal(g.wake)
			pause = min(pause*2, g.c.cfg.RetryMax)
		} else {
			pause = g.c.cfg.CommitEvery
		}
		if !sleep(stop, pause) {
			return
		}
	}
}

// commit stores the offsets that advanced since the last commit, through
// this generation, and returns once the coordinator has them.
func (g *genRun) commit() error {
	g.mu.Lock()
	if len(g.ready) == 0 {
		g.mu.Unlock()
		return nil
	}
	taken := g.ready
	g.ready = map[topicPartition]int64{}
	g.mu.Unlock()

	offsets := map[string]map[int]int64{}
	for tp, off := range taken {
		if offsets[tp.topic] == nil {
			offsets[tp.topic] = map[int]int64{}
		}
		offsets[tp.topic][tp.partition] = off
	}
	err := g.gen.CommitOffsets(offsets)

	g.mu.Lock()
	defer g.mu.Unlock()
	for tp, off := range taken {
		switch {
		case err == nil:
			g.parts[tp].committed = max(g.parts[tp].committed, off)
		case g.ready[tp] < off:
			// Not stored: offer it again unless a newer one is waiting.
			g.ready[tp] = off
		}
	}
	if err != nil {
		return fmt.Errorf("commit in generation %d: %w", g.id, err)
	}
	return nil
}

// finalCommit makes the generation's last commit; afterwards nothing that
// finishes commits.
func (g *genRun) finalCommit() error {
	g.mu.Lock()
	g.revoked = true
	g.mu.Unlock()
	return g.commit()
}

// drain waits up to limit for in-flight records, then cancels the rest and
// gives them a short grace to return. Records still running after that
// finish outside the generation and are not committed.
func (g *genRun) drain(limit time.Duration) {
	idle := make(chan struct{})
	go func() {
		g.inFlight.Wait()
		close(idle)
	}()
	if !sleep(idle, limit) {
		return
	}
	g.cancelWork()
	if !sleep(idle, g.c.cancelGrace) {
		return
	}
	g.log.Error("handlers ignore cancellation; their records will not be committed and will be redelivered",
		"grace", g.c.cancelGrace.String())
}

func (g *genRun) sortedParts() []*partition {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.sortedPartsLocked()
}

func (g *genRun) sortedPartsLocked() []*partition {
	out := make([]*partition, 0, len(g.parts))
	for _, p := range g.parts {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].tp.topic != out[j].tp.topic {
			return out[i].tp.topic < out[j].tp.topic
		}
		return out[i].tp.partition < out[j].tp.partition
	})
	return out
}

// describe lists the assignment per topic for the log, each partition
// followed by detail(p): "orders.created[0 1 2] orders.status[0]".
func (g *genRun) describe(detail func(*partition) string) string {
	parts := g.sortedParts()
	if len(parts) == 0 {
		return "none"
	}
	var b strings.Builder
	for i, p := range parts {
		switch {
		case i == 0:
			b.WriteString(p.tp.topic + "[")
		case parts[i-1].tp.topic != p.tp.topic:
			b.WriteString("] " + p.tp.topic + "[")
		default:
			b.WriteString(" ")
		}
		g.mu.Lock()
		d := detail(p)
		g.mu.Unlock()
		b.WriteString(strconv.Itoa(p.tp.partition) + d)
	}
	b.WriteString("]")
	return b.String()
}
