package features

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cucumber/godog"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkakit/kit/harness"
	"github.com/kafkakit/kit/harness/broker"
	"github.com/kafkakit/kit/harness/netfault"
	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/metrics"
)

// A broker cut from the other brokers, on a cluster whose brokers reach
// one another through proxies (FAULTS=1 on kafka-cluster): each broker has
// one proxy in front of its inter-broker listener, which carries
// everything the other brokers send it. Cutting broker X's is a cut
// INBOUND to X only:
//   - the followers on the other brokers cannot fetch from X, so X, which
//     leads some partitions, drops them from those partitions' in-sync
//     replicas after replica.lag.time.max.ms (10 s on such a cluster);
//     it tells the controller, whose own link is whole;
//   - the controller cannot send X requests (X's metadata goes stale);
//   - what X sends goes on: its followers keep fetching from the others,
//     so X stays in sync for the partitions they lead, and X answers
//     every client (the services on their own listeners, the harness on
//     the main one) and ZooKeeper, so nobody holds X for dead.
// With acks=all and min.insync.replicas=2, X refuses the writes to its
// partitions (NOT_ENOUGH_REPLICAS) once alone in sync, and holds those
// that came before (waiting for followers that cannot fetch); the writers'
// outboxes keep them until X takes them, once the followers are back.
//
// X is never the controller: cut inbound, the controller could not
// hear X's own report that its followers fell behind (it goes to the
// controller's link, X's own), and the in-sync replicas would never shrink.

// brokerCut is what one broker cut from the others did.
type brokerCut struct {
	broker, controller int32
	led                []string // "orders.created/1", ... the kit partitions it led
	topic              string
	partition          int32 // the partition of topic it led, whose ISR is watched
	lasted             time.Duration

	mu          sync.Mutex
	changed     chan struct{} // a new sample
	began       time.Time
	isr         []int32 // the latest in-sync replicas of topic/partition
	replicas    int
	fewest      []int32 // the fewest in sync seen
	shrunkAfter time.Duration
	healedAt    time.Time
	regrewAfter time.Duration // after the heal
	maxBacklog  float64       // outbox backlog of every service, at most
	refused     refused       // writes the services logged refused for too few in sync
	samples     int
	lastErr     error
}

func brokerCutSteps(sc *godog.ScenarioContext) {
	sc.When(`^the shopper keeps ordering "([^"]*)" while a broker leading new orders is cut from the other brokers for (\d+) seconds while clients still reach it$`, orderWhileBrokerCut)
	sc.Then(`^that broker's partitions had too few replicas in sync to take a write while it was cut off, their writes held or refused, until the other brokers caught up$`, brokerCutHeldWrites)
}

// How the services' writer (kafka-go) names, in the warnings their relays
// log (one per key they hold back), the refusals NOT_ENOUGH_REPLICAS (the
// leader took nothing) and NOT_ENOUGH_REPLICAS_AFTER_APPEND (it had
// written the records, then found itself alone in sync: sent again, they
// are on the topic twice, which the readers' ledgers absorb).
const (
	notEnoughReplicas            = "Not Enough Replicas"
	notEnoughReplicasAfterAppend = "Not Enough Replicas After Append"
)

// orderWhileBrokerCut runs the careful shopper's stream and, once orders
// flow, cuts a broker leading a partition of the new orders from the other
// brokers for the step's seconds; it returns once that broker's partition
// has all its replicas in sync again.
func orderWhileBrokerCut(ctx context.Context, sku, seconds string) error {
	w, n, s := the(ctx), networkOf(ctx), scaleOf(ctx)
	lasts, err := strconv.Atoi(seconds)
	if err != nil || lasts <= 0 {
		return fmt.Errorf("%q seconds: want a whole number above zero", seconds)
	}
	if _, err := w.cluster(); err != nil {
		return err
	}
	links := w.stack.Links()
	if links == nil {
		return errors.New("the stack has no proxied links: start it with FAULTS=1 (make features-cluster does)")
	}
	cut := &brokerCut{topic: events.TopicOrdersCreated, lasted: time.Duration(lasts) * time.Second, changed: make(chan struct{}, 1)}
	n.cut = cut
	s.careful = true
	return w.placeStream(ctx, sku, fault{"cut a broker from the other brokers", func(ctx context.Context) error {
		if err := cut.pick(ctx, w.stack.Broker()); err != nil {
			return err
		}
		name := netfault.LinkName(netfault.Brokers, "broker-"+strconv.Itoa(int(cut.broker)))
		refusedBefore := refusals(w.stack)
		cut.began = time.Now()
		if err := links.Apply(name, netfault.Fault{Kind: netfault.Cut}); err != nil {
			return err
		}
		n.mu.Lock()
		n.broken[name] = true
		n.mu.Unlock()
		fmt.Printf("NETWORK fault applied: broker %d cut from the other brokers for %v while clients still reach it (%s, inbound: their fetches and the controller's requests); it leads %s; the controller is broker %d\n",
			cut.broker, cut.lasted, name, strings.Join(cut.led, ", "), cut.controller)
		watching, stopWatching := context.WithCancel(ctx)
		watched := make(chan struct{})
		go func() {
			defer close(watched)
			cut.watch(watching, w)
		}()
		defer func() { stopWatching(); <-watched }()

		// The cut lasts as long as the step says; within it, the
		// broker must find itself alone in sync.
		shrink, cancel := context.WithDeadline(ctx, cut.began.Add(cut.lasted))
		err := cut.await(shrink, func() bool { return len(cut.fewest) > 0 && len(cut.fewest) < minInSync })
		cancel()
		if err != nil && ctx.Err() == nil {
			err = fmt.Errorf("%s/%d, led by broker %d, still had %v in sync %v after the cut (replica.lag.time.max.ms is 10 s on a cluster with FAULTS=1): %w",
				cut.topic, cut.partition, cut.broker, cut.current(), cut.lasted, err)
		}
		if err != nil {
			return err
		}
		select {
		case <-time.After(time.Until(cut.began.Add(cut.lasted))): // the fault's own length, as the step says
		case <-ctx.Done():
			return ctx.Err()
		}
		if err := links.Heal(name); err != nil {
			return err
		}
		n.mu.Lock()
		delete(n.broken, name)
		n.mu.Unlock()
		cut.mu.Lock()
		cut.healedAt = time.Now()
		cut.mu.Unlock()
		fmt.Printf("NETWORK healed: broker %d reachable by the other brokers again after %v\n", cut.broker, time.Since(cut.began).Round(100*time.Millisecond))

		regrow, cancel := context.WithTimeout(ctx, recoverTimeout)
		defer cancel()
		err = cut.await(regrow, func() bool { return cut.replicas > 0 && len(cut.isr) == cut.replicas })
		cut.mu.Lock()
		cut.refused = refusals(w.stack).since(refusedBefore)
		cut.mu.Unlock()
		if err != nil {
			return fmt.Errorf("the other brokers never caught up on %s/%d once broker %d's link healed (in sync: %v): %w", cut.topic, cut.partition, cut.broker, cut.current(), err)
		}
		fmt.Printf("NETWORK outcome: %s\n", cut.report())
		return nil
	}})
}

// minInSync is min.insync.replicas on the cluster: fewer in sync, and a
// write with acks=all is refused.
const minInSync = 2

// pick chooses the broker to cut: the leader of the lowest partition of
// the new orders that is not the controller (see the note above), and
// notes what it leads.
func (cut *brokerCut) pick(ctx context.Context, b broker.Broker) error {
	m, err := metadataOf(ctx, b, b.Addrs()[0], topicNames())
	if err != nil {
		return err
	}
	cut.controller, cut.broker = m.ControllerID, -1
	for _, t := range m.Topics {
		if t.Topic == nil || *t.Topic != cut.topic {
			continue
		}
		slices.SortFunc(t.Partitions, func(a, b kmsg.MetadataResponseTopicPartition) int { return int(a.Partition - b.Partition) })
		for _, p := range t.Partitions {
			if p.Leader >= 0 && p.Leader != m.ControllerID {
				cut.broker, cut.partition = p.Leader, p.Partition
				break
			}
		}
	}
	if cut.broker < 0 {
		return fmt.Errorf("the controller, broker %d, leads every partition of %s: no other broker leads new orders to cut off", m.ControllerID, cut.topic)
	}
	for _, t := range m.Topics {
		for _, p := range t.Partitions {
			if p.Leader == cut.broker && t.Topic != nil {
				cut.led = append(cut.led, fmt.Sprintf("%s/%d", *t.Topic, p.Partition))
			}
		}
	}
	slices.Sort(cut.led)
	return nil
}

// watch samples, until ctx ends, the in-sync replicas of the watched
// partition as the controller knows them (the cut broker's own metadata
// is stale: the controller cannot update it) and the services' outbox
// backlog, and prints each change of the in-sync replicas. Sampling is
// observation, at a fixed pace; await waits on what it sees.
func (cut *brokerCut) watch(ctx context.Context, w *world) {
	addr := w.stack.Broker().Addrs()[cut.controller]
	client := w.stack.ClientOn(1)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		m, err := metadataOf(ctx, w.stack.Broker(), addr, []string{cut.topic})
		var isr []int32
		replicas := 0
		if err == nil {
			isr, replicas, err = partitionISR(m, cut.topic, cut.partition)
		}
		backlog := 0.0
		for _, service := range []string{harness.OrdersAPI, harness.StockService, harness.OrdersProcessor} {
			if resp, err := client.Get(ctx, service, "/metrics"); err == nil {
				backlog += metricSum(string(resp.Body), metrics.OutboxBacklog)
			}
		}
		cut.mu.Lock()
		cut.samples++
		cut.maxBacklog = max(cut.maxBacklog, backlog)
		if err != nil {
			cut.lastErr = err
		} else {
			if !slices.Equal(isr, cut.isr) {
				at := time.Since(cut.began).Round(100 * time.Millisecond)
				fmt.Printf("NETWORK in sync for %s/%d (led by broker %d): %d of %d %v, %v after the cut; outbox backlog %.0f\n",
					cut.topic, cut.partition, cut.broker, len(isr), replicas, isr, at, backlog)
			}
			cut.isr, cut.replicas = isr, replicas
			if cut.fewest == nil || len(isr) < len(cut.fewest) {
				cut.fewest = isr
				if len(isr) < minInSync {
					cut.shrunkAfter = time.Since(cut.began)
				}
			}
			if !cut.healedAt.IsZero() && cut.regrewAfter == 0 && len(isr) == replicas {
				cut.regrewAfter = time.Since(cut.healedAt)
			}
		}
		cut.mu.Unlock()
		select {
		case cut.changed <- struct{}{}:
		default:
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// await waits until cond, read under the lock, holds on a sample, or ctx
// ends.
func (cut *brokerCut) await(ctx context.Context, cond func() bool) error {
	for {
		cut.mu.Lock()
		ok, last := cond(), cut.lastErr
		cut.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), last)
		case <-cut.changed:
		}
	}
}

func (cut *brokerCut) current() []int32 {
	cut.mu.Lock()
	defer cut.mu.Unlock()
	return slices.Clone(cut.isr)
}

// report says what the cluster did while the broker was cut off.
func (cut *brokerCut) report() string {
	cut.mu.Lock()
	defer cut.mu.Unlock()
	return fmt.Sprintf("broker %d cut from the other brokers for %v: %s/%d fell to %d in sync %v after %v (min.insync.replicas %d) and was back to %d of %d %v after the heal; %s; outbox backlog at most %.0f (%d samples)",
		cut.broker, cut.lasted, cut.topic, cut.partition, len(cut.fewest), cut.fewest, cut.shrunkAfter.Round(100*time.Millisecond), minInSync,
		len(cut.isr), cut.replicas, cut.regrewAfter.Round(100*time.Millisecond), cut.refused, cut.maxBacklog, cut.samples)
}

// brokerCutHeldWrites: while it was cut off, the broker was left alone in
// sync for its partition, so acks=all writes to it were refused or held
// (the relays' refusals, the outboxes' backlog), and once the link healed
// the other brokers caught up. That none was lost the checks after it say.
func brokerCutHeldWrites(ctx context.Context) error {
	cut := networkOf(ctx).cut
	if cut == nil {
		return errors.New("no broker was cut from the others in this scenario")
	}
	cut.mu.Lock()
	shrunk, regrew, ref, backlog := len(cut.fewest) > 0 && len(cut.fewest) < minInSync, cut.replicas > 0 && len(cut.isr) == cut.replicas, cut.refused, cut.maxBacklog
	cut.mu.Unlock()
	switch {
	case !shrunk:
		return fmt.Errorf("broker %d's partition kept enough replicas in sync while cut off: %s", cut.broker, cut.report())
	case !regrew:
		return fmt.Errorf("broker %d's partition never had every replica in sync again: %s", cut.broker, cut.report())
	case ref.total() == 0 && backlog == 0:
		return fmt.Errorf("no write waited nor was refused while broker %d was alone in sync: the orders went around it? %s", cut.broker, cut.report())
	}
	fmt.Printf("NETWORK held: %s; up to %.0f records waiting in the outboxes while broker %d was cut off\n", ref, backlog, cut.broker)
	return nil
}

// refused counts the refusals for too few replicas in sync that the
// services have logged so far: before the leader wrote anything, and
// after (see notEnoughReplicasAfterAppend).
type refused struct{ before, afterAppend int }

func refusals(s *harness.Stack) refused {
	var r refused
	for _, service := range harness.Services {
		logs := s.Logs(service)
		after := strings.Count(logs, notEnoughReplicasAfterAppend)
		r.afterAppend += after
		r.before += strings.Count(logs, notEnoughReplicas) - after
	}
	return r
}

func (r refused) since(then refused) refused {
	return refused{r.before - then.before, r.afterAppend - then.afterAppend}
}

func (r refused) total() int { return r.before + r.afterAppend }

func (r refused) String() string {
	return fmt.Sprintf("%d writes refused NOT_ENOUGH_REPLICAS and %d NOT_ENOUGH_REPLICAS_AFTER_APPEND (the relays' warnings, one per key held back)", r.before, r.afterAppend)
}

// topicNames are the kit's topics, dead-letter topics included.
func topicNames() []string {
	var out []string
	for _, t := range broker.KitTopics() {
		out = append(out, t.Name)
	}
	return out
}

// metadataOf asks the broker at addr itself (not whichever one a client
// would pick) for the metadata of topics, on the harness's own listener.
func metadataOf(ctx context.Context, b broker.Broker, addr string, topics []string) (*kmsg.MetadataResponse, error) {
	cl, err := kgo.NewClient(append(broker.ClientOpts(b), kgo.SeedBrokers(addr), kgo.DialTimeout(time.Second))...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	req := kmsg.NewPtrMetadataRequest()
	for _, t := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(t)
		req.Topics = append(req.Topics, rt)
	}
	ask, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := cl.SeedBrokers()[0].Request(ask, req)
	if err != nil {
		return nil, fmt.Errorf("metadata from %s: %w", addr, err)
	}
	return resp.(*kmsg.MetadataResponse), nil
}

// partitionISR is topic/partition's in-sync replicas, sorted, and how many
// replicas it has, in m.
func partitionISR(m *kmsg.MetadataResponse, topic string, partition int32) ([]int32, int, error) {
	for _, t := range m.Topics {
		if t.Topic == nil || *t.Topic != topic {
			continue
		}
		for _, p := range t.Partitions {
			if p.Partition == partition {
				isr := slices.Clone(p.ISR)
				slices.Sort(isr)
				return isr, len(p.Replicas), nil
			}
		}
	}
	return nil, 0, fmt.Errorf("the metadata names no %s/%d", topic, partition)
}
