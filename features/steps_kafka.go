package features

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cucumber/godog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkakit/kit/harness"
)

// kafkaSteps are the steps of kafka_basics.feature: Kafka itself, as the
// lessons in docs/learn show it. They talk to the broker with franz-go,
// a client independent of the kafka-go the services use, on a topic and
// groups of the scenario's own.
func kafkaSteps(sc *godog.ScenarioContext) {
	sc.Given(`^a topic of its own with (\d+) partitions$`, aTopicOfItsOwn)
	sc.When(`^(\d+) records with one key are written, between (\d+) records with other keys$`, oneKeyAmongOthers)
	sc.Then(`^the records with that key are all in one partition$`, oneKeyOnePartition)
	sc.Then(`^a consumer reads the records with that key in the order they were written$`, oneKeyReadInOrder)
	sc.Step(`^(\d+) consumers (?:join|in) one group on the topic$`, consumersJoin)
	sc.Then(`^each partition is owned by exactly one of them, and (each of them owns one|one of them owns none)$`, partitionsShared)
	sc.When(`^one of them leaves the group$`, oneLeaves)
	sc.Then(`^the one that stays owns all (\d+) partitions$`, oneOwnsAll)
	sc.Then(`^each record written now is read once, by the owner of its partition$`, readByOwners)
	sc.Given(`^(\d+) records were written to the topic$`, recordsWritten)
	sc.When(`^a consumer of a new group starts from the earliest offset$`, newGroupFromEarliest)
	sc.Then(`^it reads all (\d+) records, each partition in the order written$`, readsAll)
	sc.Given(`^a consumer of a new group read (\d+) of them, committed them and stopped$`, readCommitStop)
	sc.When(`^a consumer of the same group starts$`, sameGroupStarts)
	sc.Then(`^it reads the other (\d+) records and none of the first (\d+) again$`, readsTheRest)
	sc.After(func(ctx context.Context, _ *godog.Scenario, err error) (context.Context, error) {
		if k, ok := ctx.Value(kafkaKey{}).(*kafkaWorld); ok {
			k.close()
		}
		return ctx, err
	})
}

// kafkaWorld is a kafka_basics scenario's state, in its context.
type kafkaWorld struct {
	addrs      []string
	admin      *kadm.Client
	topic      string
	partitions int32
	groups     int // groups made so far, for unique names

	written []*kgo.Record // in the order written, with partition and offset
	key     string        // the one key of the ordering scenario

	group     string
	consumers []*consumer
	owners    map[int32]*consumer // partition -> owner, as the coordinator said
	firstRead []*kgo.Record       // what a stopped consumer read and committed
}

type kafkaKey struct{}

func kafkaOf(ctx context.Context) *kafkaWorld { return ctx.Value(kafkaKey{}).(*kafkaWorld) }

func aTopicOfItsOwn(ctx context.Context, partitions int) (context.Context, error) {
	w := the(ctx)
	addrs := w.stack.BrokerAddrs()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
	if err != nil {
		return ctx, err
	}
	k := &kafkaWorld{addrs: addrs, admin: kadm.NewClient(cl), topic: "learn.basics." + w.token, partitions: int32(partitions)}
	ctx = context.WithValue(ctx, kafkaKey{}, k)
	setup, cancel := within(ctx)
	defer cancel()
	brokers, err := k.admin.ListBrokers(setup)
	if err != nil {
		return ctx, fmt.Errorf("list brokers: %w", err)
	}
	// As many copies as the cluster allows, up to the kit's three.
	replicas := int16(min(len(brokers), 3))
	resp, err := k.admin.CreateTopic(setup, k.partitions, replicas, nil, k.topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return ctx, fmt.Errorf("create topic %s: %w", k.topic, err)
	}
	return ctx, eventually(setup, "the topic's partitions never all had a leader", func() (bool, error) {
		md, err := k.admin.Metadata(setup, k.topic)
		if err != nil {
			return false, err
		}
		t := md.Topics[k.topic]
		if t.Err != nil || int32(len(t.Partitions)) != k.partitions {
			return false, t.Err
		}
		for _, p := range t.Partitions {
			if p.Leader < 0 || p.Err != nil {
				return false, p.Err
			}
		}
		return true, nil
	})
}

// close stops the scenario's consumers and deletes its groups and topic.
func (k *kafkaWorld) close() {
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	for _, c := range k.consumers {
		c.close()
	}
	var groups []string
	for i := range k.groups {
		groups = append(groups, k.groupName(i+1))
	}
	_, _ = k.admin.DeleteGroups(ctx, groups...)
	_, _ = k.admin.DeleteTopics(ctx, k.topic)
	k.admin.Close()
}

func (k *kafkaWorld) groupName(n int) string { return k.topic + ".group-" + strconv.Itoa(n) }

// newGroup names a group no one has used.
func (k *kafkaWorld) newGroup() string {
	k.groups++
	return k.groupName(k.groups)
}

// write produces records one at a time, each acknowledged by every in-sync
// replica before the next is sent, so the order written is the order given.
// A record with a key goes where the key hashes (events.Partition, as the
// services' producers do); one without goes to the partition it names.
func (k *kafkaWorld) write(ctx context.Context, recs ...*kgo.Record) error {
	byKey, err := kgo.NewClient(kgo.SeedBrokers(k.addrs...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(harness.KeyPartitioner{}))
	if err != nil {
		return err
	}
	defer byKey.Close()
	byPartition, err := kgo.NewClient(kgo.SeedBrokers(k.addrs...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		return err
	}
	defer byPartition.Close()
	for _, r := range recs {
		r.Topic = k.topic
		client := byPartition
		if r.Key != nil {
			client = byKey
		}
		if err := client.ProduceSync(ctx, r).FirstErr(); err != nil {
			return fmt.Errorf("write to %s: %w", k.topic, err)
		}
		k.written = append(k.written, r)
	}
	return nil
}

func oneKeyAmongOthers(ctx context.Context, n, others int) error {
	k := kafkaOf(ctx)
	k.key = "the-key-" + the(ctx).token
	var recs []*kgo.Record
	for i := range max(n, others) {
		if i < n {
			recs = append(recs, &kgo.Record{Key: []byte(k.key), Value: fmt.Appendf(nil, "%s #%d", k.key, i+1)})
		}
		if i < others {
			other := fmt.Sprintf("other-key-%d", i+1)
			recs = append(recs, &kgo.Record{Key: []byte(other), Value: []byte(other)})
		}
	}
	ctx, cancel := within(ctx)
	defer cancel()
	return k.write(ctx, recs...)
}

// withKey returns the written records with the scenario's one key, in the
// order written.
func (k *kafkaWorld) withKey() []*kgo.Record {
	var out []*kgo.Record
	for _, r := range k.written {
		if string(r.Key) == k.key {
			out = append(out, r)
		}
	}
	return out
}

func oneKeyOnePartition(ctx context.Context) error {
	k := kafkaOf(ctx)
	parts := map[int32]int{}
	for _, r := range k.withKey() {
		parts[r.Partition]++
	}
	if len(parts) != 1 {
		return fmt.Errorf("the records with one key landed in %d partitions (partition: records) %v, want one", len(parts), parts)
	}
	return nil
}

func oneKeyReadInOrder(ctx context.Context) error {
	k := kafkaOf(ctx)
	c, err := k.startConsumer(k.newGroup())
	if err != nil {
		return err
	}
	ctx, cancel := within(ctx)
	defer cancel()
	read, err := c.waitFor(ctx, len(k.written))
	if err != nil {
		return err
	}
	var got, want []string
	for _, r := range read {
		if string(r.Key) == k.key {
			got = append(got, string(r.Value))
		}
	}
	for _, r := range k.withKey() {
		want = append(want, string(r.Value))
	}
	if !slices.Equal(got, want) {
		return fmt.Errorf("the consumer read the key's records as\n  %q\nwant them as written:\n  %q", got, want)
	}
	return nil
}

func consumersJoin(ctx context.Context, n int) error {
	k := kafkaOf(ctx)
	k.group = k.newGroup()
	for range n {
		if _, err := k.startConsumer(k.group); err != nil {
			return err
		}
	}
	ctx, cancel := within(ctx)
	defer cancel()
	return k.awaitStable(ctx, n)
}

// awaitStable waits until the coordinator describes the group as stable
// with the running consumers as its members and every partition owned,
// and notes who owns what.
func (k *kafkaWorld) awaitStable(ctx context.Context, members int) error {
	var last string
	err := eventually(ctx, "the group never settled", func() (bool, error) {
		owners, state, n, err := k.describe(ctx)
		if err != nil {
			return false, err
		}
		last = fmt.Sprintf("state %s, %d members, owners %v", state, n, ownerIndexes(owners, k.consumers))
		if state != "Stable" || n != members || len(owners) != int(k.partitions) {
			return false, nil
		}
		for _, c := range owners {
			if c == nil {
				return false, nil // a member the consumers do not know yet
			}
		}
		k.owners = owners
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("%w (last: %s)", err, last)
	}
	return nil
}

// describe asks the group's coordinator who owns which partition of the
// topic, the group's state and its number of members; an owner not among
// the scenario's running consumers is nil, and a member that is not makes
// the state say so.
func (k *kafkaWorld) describe(ctx context.Context) (map[int32]*consumer, string, int, error) {
	described, err := k.admin.DescribeGroups(ctx, k.group)
	if err != nil {
		return nil, "", 0, err
	}
	g, ok := described[k.group]
	if !ok || g.Err != nil {
		return nil, "", 0, fmt.Errorf("describe group %s: %v", k.group, g.Err)
	}
	byMember := map[string]*consumer{}
	for _, c := range k.consumers {
		if id, _ := c.client.GroupMetadata(); id != "" && !c.closed {
			byMember[id] = c
		}
	}
	owners := map[int32]*consumer{}
	running := 0
	for _, m := range g.Members {
		if byMember[m.MemberID] != nil {
			running++
		}
		a, ok := m.Assigned.AsConsumer()
		if !ok {
			continue
		}
		for _, t := range a.Topics {
			if t.Topic != k.topic {
				continue
			}
			for _, p := range t.Partitions {
				owners[p] = byMember[m.MemberID]
			}
		}
	}
	if running != len(g.Members) {
		return owners, g.State + " (with members that are gone)", len(g.Members), nil
	}
	return owners, g.State, len(g.Members), nil
}

// ownerIndexes shows an ownership map as partition -> consumer number.
func ownerIndexes(owners map[int32]*consumer, consumers []*consumer) map[int32]int {
	out := map[int32]int{}
	for p, c := range owners {
		out[p] = slices.Index(consumers, c) + 1
	}
	return out
}

func partitionsShared(ctx context.Context, how string) error {
	k := kafkaOf(ctx)
	owned := map[*consumer]int{}
	for _, c := range k.owners {
		owned[c]++
	}
	var idle int
	for _, c := range k.consumers {
		switch owned[c] {
		case 0:
			idle++
		case 1:
		default:
			return fmt.Errorf("consumer %d owns %d partitions, want one at most: %v", slices.Index(k.consumers, c)+1, owned[c], ownerIndexes(k.owners, k.consumers))
		}
	}
	want := 0
	if how == "one of them owns none" {
		want = 1
	}
	if idle != want {
		return fmt.Errorf("%d consumers own no partition, want %d: %v", idle, want, ownerIndexes(k.owners, k.consumers))
	}
	return nil
}

func oneLeaves(ctx context.Context) error {
	k := kafkaOf(ctx)
	k.consumers[0].close() // Close leaves the group: no session timeout to wait for
	ctx, cancel := within(ctx)
	defer cancel()
	return k.awaitStable(ctx, 1)
}

func oneOwnsAll(ctx context.Context, n int) error {
	k := kafkaOf(ctx)
	stays := k.consumers[1]
	if len(k.owners) != n {
		return fmt.Errorf("%d partitions have an owner, want %d", len(k.owners), n)
	}
	for p, c := range k.owners {
		if c != stays {
			return fmt.Errorf("partition %d is owned by consumer %d, want the one that stays", p, slices.Index(k.consumers, c)+1)
		}
	}
	return nil
}

// readByOwners writes two records to every partition and checks that each
// is read by exactly one consumer, the partition's owner, and that the
// group did not rebalance meanwhile (else ownership would be moot).
func readByOwners(ctx context.Context) error {
	k := kafkaOf(ctx)
	ctx, cancel := within(ctx)
	defer cancel()
	before := map[*consumer]int{}
	for _, c := range k.consumers {
		before[c] = len(c.records())
	}
	var recs []*kgo.Record
	for p := range k.partitions {
		for i := range 2 {
			recs = append(recs, &kgo.Record{Partition: p, Value: fmt.Appendf(nil, "p%d-%d", p, i)})
		}
	}
	if err := k.write(ctx, recs...); err != nil {
		return err
	}
	readers := map[string][]int{} // value -> consumers that read it
	err := eventually(ctx, "the records written were not all read", func() (bool, error) {
		clear(readers)
		for i, c := range k.consumers {
			for _, r := range c.records()[before[c]:] {
				readers[string(r.Value)] = append(readers[string(r.Value)], i+1)
			}
		}
		return len(readers) == len(recs), nil
	})
	if err != nil {
		return fmt.Errorf("%w: read so far (value: consumers) %v", err, readers)
	}
	owners, state, _, err := k.describe(ctx)
	if err != nil {
		return err
	}
	if state != "Stable" || !maps.Equal(owners, k.owners) {
		return fmt.Errorf("the group rebalanced while the records were read: now %s, owners %v, were %v", state, ownerIndexes(owners, k.consumers), ownerIndexes(k.owners, k.consumers))
	}
	var problems []string
	for _, r := range recs {
		owner := slices.Index(k.consumers, k.owners[r.Partition]) + 1
		if got := readers[string(r.Value)]; !slices.Equal(got, []int{owner}) {
			problems = append(problems, fmt.Sprintf("%s (partition %d) was read by consumers %v, want by its owner %d only", r.Value, r.Partition, got, owner))
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "\n"))
	}
	return nil
}

func recordsWritten(ctx context.Context, n int) error {
	k := kafkaOf(ctx)
	var recs []*kgo.Record
	for i := range n {
		key := fmt.Sprintf("key-%d", i+1)
		recs = append(recs, &kgo.Record{Key: []byte(key), Value: []byte("record " + strconv.Itoa(i+1))})
	}
	ctx, cancel := within(ctx)
	defer cancel()
	return k.write(ctx, recs...)
}

func newGroupFromEarliest(ctx context.Context) error {
	k := kafkaOf(ctx)
	_, err := k.startConsumer(k.newGroup())
	return err
}

func readsAll(ctx context.Context, n int) error {
	k := kafkaOf(ctx)
	ctx, cancel := within(ctx)
	defer cancel()
	read, err := k.consumers[len(k.consumers)-1].waitFor(ctx, n)
	if err != nil {
		return err
	}
	return k.sameRecords(read, k.written)
}

// sameRecords checks that read holds each of want once, and every
// partition's records in offset order.
func (k *kafkaWorld) sameRecords(read, want []*kgo.Record) error {
	next := map[int32]int64{}
	seen := map[string]int{}
	for _, r := range read {
		seen[string(r.Value)]++
		if r.Offset < next[r.Partition] {
			return fmt.Errorf("partition %d was read out of order: offset %d after %d", r.Partition, r.Offset, next[r.Partition]-1)
		}
		next[r.Partition] = r.Offset + 1
	}
	var problems []string
	for _, r := range want {
		if seen[string(r.Value)] != 1 {
			problems = append(problems, fmt.Sprintf("%q read %d times", r.Value, seen[string(r.Value)]))
		}
	}
	if len(read) != len(want) || len(problems) > 0 {
		return fmt.Errorf("read %d records, want %d, each once: %s", len(read), len(want), strings.Join(problems, "; "))
	}
	return nil
}

func readCommitStop(ctx context.Context, n int) error {
	k := kafkaOf(ctx)
	k.group = k.newGroup()
	client, err := kgo.NewClient(k.consumerOpts(k.group)...)
	if err != nil {
		return err
	}
	defer client.Close() // leaves the group
	ctx, cancel := within(ctx)
	defer cancel()
	for len(k.firstRead) < n {
		fetches := client.PollRecords(ctx, n-len(k.firstRead))
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("read %d of %d records: %w", len(k.firstRead), n, err)
		}
		if errs := fetches.Errors(); len(errs) > 0 {
			return fmt.Errorf("poll: %v", errs[0].Err)
		}
		k.firstRead = append(k.firstRead, fetches.Records()...)
	}
	// Commit what was read, and nothing beyond it that the client fetched.
	if err := client.CommitRecords(ctx, k.firstRead...); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func sameGroupStarts(ctx context.Context) error {
	k := kafkaOf(ctx)
	_, err := k.startConsumer(k.group)
	return err
}

func readsTheRest(ctx context.Context, rest, first int) error {
	k := kafkaOf(ctx)
	if len(k.firstRead) != first {
		return fmt.Errorf("the first consumer read %d records, want %d", len(k.firstRead), first)
	}
	ctx, cancel := within(ctx)
	defer cancel()
	read, err := k.consumers[len(k.consumers)-1].waitFor(ctx, rest)
	if err != nil {
		return err
	}
	firsts := map[string]bool{}
	for _, r := range k.firstRead {
		firsts[string(r.Value)] = true
	}
	var want []*kgo.Record
	for _, r := range k.written {
		if !firsts[string(r.Value)] {
			want = append(want, r)
		}
	}
	return k.sameRecords(read, want)
}

// consumerOpts are a group consumer's: a new group starts at the earliest
// offset, nothing is committed unless a step says so, and the member
// leaves the group when closed. The range balancer deals every partition
// out in each rebalance, as the services' kafka-go groups do; franz-go's
// default, cooperative-sticky, moves partitions over two rebalances, and
// the group is Stable in between with one member owning them all.
func (k *kafkaWorld) consumerOpts(group string) []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(k.addrs...),
		kgo.ConsumerGroup(group),
		kgo.Balancers(kgo.RangeBalancer()),
		kgo.ConsumeTopics(k.topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.FetchMaxWait(100 * time.Millisecond),
	}
}

// consumer is a member of a group that keeps what it reads.
type consumer struct {
	client *kgo.Client
	closed bool

	mu   sync.Mutex
	recs []*kgo.Record
	news chan struct{}
	err  error

	stop context.CancelFunc
	done chan struct{}
}

// startConsumer starts a member of group reading the scenario's topic, one
// of the scenario's consumers (closed with it).
func (k *kafkaWorld) startConsumer(group string) (*consumer, error) {
	client, err := kgo.NewClient(k.consumerOpts(group)...)
	if err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	c := &consumer{client: client, news: make(chan struct{}, 1), stop: stop, done: make(chan struct{})}
	go c.run(ctx)
	k.consumers = append(k.consumers, c)
	return c, nil
}

func (c *consumer) run(ctx context.Context) {
	defer close(c.done)
	for {
		fetches := c.client.PollFetches(ctx)
		if ctx.Err() != nil {
			return
		}
		c.mu.Lock()
		c.recs = append(c.recs, fetches.Records()...)
		fetches.EachError(func(topic string, p int32, err error) { c.err = fmt.Errorf("%s/%d: %w", topic, p, err) })
		c.mu.Unlock()
		select {
		case c.news <- struct{}{}:
		default:
		}
	}
}

func (c *consumer) records() []*kgo.Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.recs)
}

// waitFor returns the first n records the consumer read, once it has.
func (c *consumer) waitFor(ctx context.Context, n int) ([]*kgo.Record, error) {
	for {
		if recs := c.records(); len(recs) >= n {
			return recs, nil
		}
		select {
		case <-c.news:
		case <-ctx.Done():
			c.mu.Lock()
			defer c.mu.Unlock()
			return nil, fmt.Errorf("the consumer read %d records, want %d (last fetch error: %v): %w", len(c.recs), n, c.err, ctx.Err())
		}
	}
}

// close stops polling and closes the client, which leaves the group.
func (c *consumer) close() {
	if c.closed {
		return
	}
	c.closed = true
	c.stop()
	<-c.done
	c.client.Close()
}
