package features

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cucumber/godog"

	"github.com/kafkakit/kit/harness"
	"github.com/kafkakit/kit/harness/broker"
	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/inspect"
	"github.com/kafkakit/kit/services/platform/stream"
)

// recoverTimeout bounds bringing a failed broker or instance back after a
// scenario: a broker restart, its replicas catching up, consumers rejoining.
const recoverTimeout = 3 * time.Minute

// takeover is what a consumer instance killed mid-stream left behind.
type takeover struct {
	service, victim string
	topic           string
	before, after   inspect.Group
	took            time.Duration
}

func failoverSteps(sc *godog.ScenarioContext) {
	sc.When(`^the shopper keeps ordering "([^"]*)" while the broker leading the new orders crashes$`, leaderCrashes)
	sc.Then(`^every order was accepted$`, func(ctx context.Context) error {
		_, err := scaleOf(ctx).accepted()
		return err
	})
	sc.When(`^the shopper keeps ordering "([^"]*)" while one (payment|stock) service instance crashes$`, instanceCrashes)
	sc.Then(`^the other (payment|stock) service instances took over its partitions$`, tookOver)
}

// failoverCluster is b as a cluster that can lose a broker and go on: one
// of several brokers (a single Kafka broker is a broker.Cluster too, of
// one).
func failoverCluster(b broker.Broker) (broker.Cluster, bool) {
	c, ok := b.(broker.Cluster)
	return c, ok && len(c.BrokerIDs()) > 1
}

// cluster is the stack's broker as a cluster whose brokers can fail one by
// one, or an error saying loudly why this broker cannot run the scenario.
func (w *world) cluster() (broker.Cluster, error) {
	c, ok := failoverCluster(w.stack.Broker())
	if !ok {
		return nil, fmt.Errorf("the %s broker is not a cluster whose brokers can fail one by one: run this scenario with BROKER=kafka-cluster (its tag @cluster keeps it off other brokers)", w.stack.Broker().Name())
	}
	return c, nil
}

// leaderCrashes kills (SIGKILL) the broker leading the first partition of
// the orders topic while orders flow, and waits until another broker leads
// it and every order accepted until then is on the topic: the order
// service's outbox held them through the election.
func leaderCrashes(ctx context.Context, sku string) error {
	w, s := the(ctx), scaleOf(ctx)
	c, err := w.cluster()
	if err != nil {
		return err
	}
	const topic, partition = events.TopicOrdersCreated, 0
	return w.placeStream(ctx, sku, fault{"kill the broker leading " + topic, func(ctx context.Context) error {
		was, err := c.Leader(ctx, topic, partition)
		if err != nil {
			return err
		}
		s.mu.Lock()
		s.killed = append(s.killed, was.Leader)
		s.mu.Unlock()
		began := time.Now()
		if err := c.KillBroker(was.Leader); err != nil {
			return err
		}
		var now broker.Partition
		err = eventually(ctx, fmt.Sprintf("no broker took over %s/%d from broker %d", topic, partition, was.Leader), func() (bool, error) {
			now, err = c.Leader(ctx, topic, partition)
			return err == nil && now.Leader >= 0 && now.Leader != was.Leader, err
		})
		if err != nil {
			return err
		}
		elected := time.Since(began)
		ids, _ := s.accepted() // those answered 201 so far; "every order was accepted" checks the rest
		if _, err := w.orders.WaitFor(ctx, func(recs []harness.Record) bool { return allKeyed(recs, ids) }); err != nil {
			return fmt.Errorf("the orders accepted before the new leader was elected never reached the topic: %w", err)
		}
		fmt.Printf("MEASURE leader kill: broker %d led %s/%d and was killed; broker %d led it %v later (in sync: %v); the %d orders accepted by then were all on the topic %v after the kill\n",
			was.Leader, topic, partition, now.Leader, elected.Round(10*time.Millisecond), now.ISR, len(ids), time.Since(began).Round(10*time.Millisecond))
		return nil
	}})
}

// allKeyed reports whether recs hold a record keyed by each of keys.
func allKeyed(recs []harness.Record, keys []string) bool {
	seen := map[string]bool{}
	for _, r := range recs {
		seen[r.Key] = true
	}
	for _, k := range keys {
		if !seen[k] {
			return false
		}
	}
	return true
}

// instanceCrashes kills (SIGKILL) the last instance of a service while
// orders flow, and waits until the others have settled into owning every
// partition it owned.
func instanceCrashes(ctx context.Context, sku, which string) error {
	w, s := the(ctx), scaleOf(ctx)
	service := servicesNamed[which]
	list := w.stack.Instances(service)
	if len(list) < 2 {
		return fmt.Errorf("%s runs %d instance(s); this scenario needs several (INSTANCES=%s)", service, len(list), scalingInstances)
	}
	victim := list[len(list)-1]
	return w.placeStream(ctx, sku, fault{"kill " + victim.Name(), func(ctx context.Context) error {
		before, err := w.shared(ctx, service, len(list))
		if err != nil {
			return err
		}
		began := time.Now()
		if err := w.takeDown(ctx, victim, (*harness.Instance).Kill); err != nil {
			return err
		}
		after, err := w.shared(ctx, service, len(list)-1)
		if err != nil {
			return fmt.Errorf("after %s was killed: %w", victim.Name(), err)
		}
		s.takeover = &takeover{service: service, victim: victim.Name(), topic: groups[service].topic,
			before: before, after: after, took: time.Since(began)}
		return nil
	}})
}

// tookOver checks what the crash left: one member fewer, and the members
// left own every partition, those of the killed member included.
func tookOver(ctx context.Context, which string) error {
	t := scaleOf(ctx).takeover
	if t == nil || t.service != servicesNamed[which] {
		return fmt.Errorf("no %s service instance crashed in this scenario", which)
	}
	var gone []string
	var orphaned []int
	for _, m := range t.before.Members {
		if !slices.ContainsFunc(t.after.Members, func(a inspect.Member) bool { return a.ID == m.ID }) {
			gone = append(gone, m.ID)
			orphaned = append(orphaned, ownedBy(m, t.topic)...)
		}
	}
	if len(t.after.Members) != len(t.before.Members)-1 || len(gone) == 0 {
		return fmt.Errorf("group %s went from %d members to %d (gone: %v); want the crashed one gone and the others left", t.after.ID, len(t.before.Members), len(t.after.Members), gone)
	}
	owners := map[int]string{}
	for _, m := range t.after.Members {
		for _, p := range ownedBy(m, t.topic) {
			owners[p] = m.ID
		}
	}
	for _, p := range orphaned {
		if owners[p] == "" {
			return fmt.Errorf("partition %d of %s, which %s owned, has no owner after the crash", p, t.topic, t.victim)
		}
	}
	fmt.Printf("MEASURE instance kill: %s killed (SIGKILL); its partitions %v of %s owned by the %d others %v later (session timeout %v)\n",
		t.victim, orphaned, t.topic, len(t.after.Members), t.took.Round(10*time.Millisecond), stream.SessionTimeout)
	return nil
}

// restoreScaled ends the scenario's followers and brings back whatever it
// took down — brokers first, back in sync, then instances — so that one
// failed scenario cannot fail the scenarios after it.
func restoreScaled(ctx context.Context, sc *godog.Scenario, _ error) (context.Context, error) {
	s, ok := ctx.Value(scalingKey{}).(*scaling)
	if !ok {
		return ctx, nil
	}
	s.stopFollows()
	w, ok := ctx.Value(worldKey{}).(*world)
	if !ok || (len(s.killed) == 0 && len(s.down) == 0) {
		return ctx, nil
	}
	restore, cancel := context.WithTimeout(context.WithoutCancel(ctx), recoverTimeout)
	defer cancel()
	var errs []error
	if len(s.killed) > 0 {
		began := time.Now()
		c, err := w.cluster()
		errs = append(errs, err)
		for _, id := range s.killed {
			if c != nil {
				errs = append(errs, c.RestartBroker(restore, id))
			}
		}
		if err := w.inSync(restore); err != nil {
			errs = append(errs, err)
		} else {
			fmt.Printf("MEASURE broker restart: brokers %v back and every partition fully in sync %v later\n", s.killed, time.Since(began).Round(10*time.Millisecond))
		}
		s.killed = nil
	}
	errs = append(errs, eachInstance(slices.Clone(s.down), func(in *harness.Instance) error {
		return w.bringBack(restore, in)
	}))
	errs = append(errs, w.allReady(restore))
	if err := errors.Join(errs...); err != nil {
		return ctx, fmt.Errorf("bring the stack back after %q: %w", sc.Name, err)
	}
	return ctx, nil
}

// inSync waits until every partition of every topic has all its replicas
// in sync again, so the next scenario may lose a broker too without
// falling under min.insync.replicas.
func (w *world) inSync(ctx context.Context) error {
	ins := inspect.New(w.stack.BrokerAddrs(), w.stack.KafkaDialer())
	defer ins.Close()
	var behind string
	err := eventually(ctx, "the cluster never got every replica back in sync", func() (bool, error) {
		cl, err := ins.Cluster(ctx)
		if err != nil {
			return false, err
		}
		for _, t := range cl.Topics {
			for _, p := range t.Partitions {
				if p.Leader < 0 || len(p.ISR) != len(p.Replicas) {
					behind = fmt.Sprintf("%s/%d: leader %d, replicas %v, in sync %v", t.Name, p.ID, p.Leader, p.Replicas, p.ISR)
					return false, nil
				}
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("%w (%s)", err, behind)
	}
	return nil
}
