// Package txn shows Kafka transactions at work on scratch topics, with
// franz-go (kafka-go, which the services use, has no transactions): what a
// read_committed and a read_uncommitted consumer see of a committed and of
// an aborted transaction, a zombie producer fenced by its successor with the
// same transactional.id, and a read-process-write whose input offsets are
// committed in the transaction that writes its output.
//
// `kit txn` prints it for docs/learn/10-exactly-once.md;
// features/exactly_once.feature proves it on every build. Every topic is
// one partition, so offsets alone tell the order of everything written,
// commit and abort markers included.
package txn

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Isolation is what a consumer reads of transactions: everything written
// (read_uncommitted, the default of every client), or only what committed
// transactions wrote (read_committed).
type Isolation int

const (
	ReadUncommitted Isolation = iota
	ReadCommitted
)

func (i Isolation) String() string {
	if i == ReadCommitted {
		return "read_committed"
	}
	return "read_uncommitted"
}

func (i Isolation) level() kgo.IsolationLevel {
	if i == ReadCommitted {
		return kgo.ReadCommitted()
	}
	return kgo.ReadUncommitted()
}

// Record is what a consumer was handed: a record a producer wrote, or a
// marker the broker wrote to end a transaction (consumers normally never
// see markers; Read asks to, so the lesson can show them).
type Record struct {
	Offset int64
	Value  string
	// Marker is "COMMIT" or "ABORT" for a transaction's end marker, ""
	// for a record a producer wrote.
	Marker string
}

func (r Record) String() string {
	if r.Marker != "" {
		return fmt.Sprintf("offset %d: %s marker", r.Offset, r.Marker)
	}
	return fmt.Sprintf("offset %d: %s", r.Offset, r.Value)
}

// Values are the values of the records a producer wrote, markers left out.
func Values(rs []Record) []string {
	var out []string
	for _, r := range rs {
		if r.Marker == "" {
			out = append(out, r.Value)
		}
	}
	return out
}

// Offsets are the offsets of rs.
func Offsets(rs []Record) []int64 {
	var out []int64
	for _, r := range rs {
		out = append(out, r.Offset)
	}
	return out
}

// Fenced reports whether err is the broker refusing a producer because a
// newer one with its transactional.id started: PRODUCER_FENCED from the
// transaction coordinator, INVALID_PRODUCER_EPOCH from a partition leader.
func Fenced(err error) bool {
	return errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch)
}

// Lab is a cluster with scratch topics and groups of its own, deleted by
// Close.
type Lab struct {
	brokers []string
	signIn  []kgo.Opt // TLS and SASL for a locked-down broker
	cl      *kgo.Client
	admin   *kadm.Client
	topics  []string
	groups  []string
}

// NewLab connects to brokers (host:port), signing in with signIn (TLS and
// SASL options) when the broker is locked down.
func NewLab(brokers []string, signIn ...kgo.Opt) (*Lab, error) {
	cl, err := kgo.NewClient(append(slices.Clone(signIn), kgo.SeedBrokers(brokers...))...)
	if err != nil {
		return nil, fmt.Errorf("txn: client of %v: %w", brokers, err)
	}
	return &Lab{brokers: brokers, signIn: signIn, cl: cl, admin: kadm.NewClient(cl)}, nil
}

// with is the options of one of the lab's clients: its sign-in, its brokers
// and opts.
func (l *Lab) with(opts ...kgo.Opt) []kgo.Opt {
	return slices.Concat(l.signIn, []kgo.Opt{kgo.SeedBrokers(l.brokers...)}, opts)
}

// Close deletes the lab's topics and groups unless keep, and disconnects.
func (l *Lab) Close(ctx context.Context, keep bool) error {
	defer l.cl.Close()
	if keep {
		return nil
	}
	var errs []error
	if len(l.groups) > 0 {
		if _, err := l.admin.DeleteGroups(ctx, l.groups...); err != nil {
			errs = append(errs, fmt.Errorf("delete groups %v: %w", l.groups, err))
		}
	}
	if len(l.topics) > 0 {
		if _, err := l.admin.DeleteTopics(ctx, l.topics...); err != nil {
			errs = append(errs, fmt.Errorf("delete topics %v: %w", l.topics, err))
		}
	}
	return errors.Join(errs...)
}

// Topic creates a topic of one partition, with as many replicas as the
// cluster has brokers, up to three, and waits until it has a leader.
func (l *Lab) Topic(ctx context.Context, name string) error {
	brokers, err := l.admin.ListBrokers(ctx)
	if err != nil {
		return fmt.Errorf("txn: list brokers: %w", err)
	}
	resp, err := l.admin.CreateTopic(ctx, 1, int16(min(len(brokers), 3)), nil, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return fmt.Errorf("txn: create topic %s: %w", name, err)
	}
	l.topics = append(l.topics, name)
	return poll(ctx, "topic "+name+" has no leader yet", func() (bool, error) {
		md, err := l.admin.Metadata(ctx, name)
		if err != nil {
			return false, err
		}
		t := md.Topics[name]
		return t.Err == nil && len(t.Partitions) == 1 && t.Partitions[0].Leader >= 0, t.Err
	})
}

// Topics are the topics the lab created, in order.
func (l *Lab) Topics() []string { return slices.Clone(l.topics) }

// Group notes a group the lab uses, so Close deletes it.
func (l *Lab) Group(name string) string {
	l.groups = append(l.groups, name)
	return name
}

// Write writes values to topic outside any transaction, each acknowledged
// by every in-sync replica, and returns their offsets.
func (l *Lab) Write(ctx context.Context, topic string, values ...string) ([]int64, error) {
	var recs []*kgo.Record
	for _, v := range values {
		recs = append(recs, &kgo.Record{Topic: topic, Value: []byte(v)})
	}
	if err := l.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return nil, fmt.Errorf("txn: write to %s: %w", topic, err)
	}
	return offsets(recs), nil
}

// Transact writes values to topic in one transaction as the producer
// txnID, then commits it or aborts it. It returns the records' offsets and
// what the broker answered to the commit or abort.
func (l *Lab) Transact(ctx context.Context, txnID, topic string, commit bool, values ...string) ([]int64, error) {
	p, err := l.producer(txnID)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	if err := p.BeginTransaction(); err != nil {
		return nil, fmt.Errorf("txn: %s: begin: %w", txnID, err)
	}
	var recs []*kgo.Record
	for _, v := range values {
		recs = append(recs, &kgo.Record{Topic: topic, Value: []byte(v)})
	}
	if err := p.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		_ = p.EndTransaction(ctx, kgo.TryAbort)
		return nil, fmt.Errorf("txn: %s: write to %s: %w", txnID, topic, err)
	}
	if err := p.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
		return offsets(recs), fmt.Errorf("txn: %s: end (commit=%v): %w", txnID, commit, err)
	}
	return offsets(recs), nil
}

// producer is a transactional producer: acks=all and idempotence come with
// a transactional.id.
func (l *Lab) producer(txnID string) (*kgo.Client, error) {
	p, err := kgo.NewClient(l.with(kgo.TransactionalID(txnID),
		kgo.TransactionTimeout(time.Minute))...)
	if err != nil {
		return nil, fmt.Errorf("txn: producer %s: %w", txnID, err)
	}
	return p, nil
}

// Read reads topic from its start to its end as a consumer of the given
// isolation, markers included. It first waits until no transaction is
// open on the topic and every marker is written (the last stable offset
// has reached the end), so both isolations read the same log.
func (l *Lab) Read(ctx context.Context, topic string, iso Isolation) ([]Record, error) {
	var end int64
	err := poll(ctx, "a transaction on "+topic+" is still open", func() (bool, error) {
		ends, err := l.admin.ListEndOffsets(ctx, topic)
		if err != nil {
			return false, err
		}
		stable, err := l.admin.ListCommittedOffsets(ctx, topic)
		if err != nil {
			return false, err
		}
		e, ok1 := ends.Lookup(topic, 0)
		s, ok2 := stable.Lookup(topic, 0)
		if !ok1 || !ok2 || e.Err != nil || s.Err != nil {
			return false, errors.Join(e.Err, s.Err)
		}
		end = e.Offset
		return s.Offset == e.Offset, nil
	})
	if err != nil || end == 0 {
		return nil, err
	}
	c, err := kgo.NewClient(l.with(
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchIsolationLevel(iso.level()), kgo.KeepControlRecords())...)
	if err != nil {
		return nil, fmt.Errorf("txn: consumer of %s: %w", topic, err)
	}
	defer c.Close()
	var out []Record
	for len(out) == 0 || out[len(out)-1].Offset < end-1 {
		fetches := c.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return out, fmt.Errorf("txn: %s consumer of %s reached offset %d of %d: %w", iso, topic, len(out), end, err)
		}
		if err := fetches.Err(); err != nil {
			return out, fmt.Errorf("txn: %s consumer of %s: %w", iso, topic, err)
		}
		fetches.EachRecord(func(r *kgo.Record) { out = append(out, record(r)) })
	}
	return out, nil
}

// record reads a fetched record, naming a marker by its type.
func record(r *kgo.Record) Record {
	if !r.Attrs.IsControl() {
		return Record{Offset: r.Offset, Value: string(r.Value)}
	}
	var key kmsg.ControlRecordKey
	if err := key.ReadFrom(r.Key); err != nil {
		return Record{Offset: r.Offset, Marker: "unreadable"}
	}
	if key.Type == kmsg.ControlRecordKeyTypeCommit {
		return Record{Offset: r.Offset, Marker: "COMMIT"}
	}
	return Record{Offset: r.Offset, Marker: "ABORT"}
}

// Fencing is what happened to a zombie producer: one that went quiet with a
// transaction open (a long pause, a network partition) while a successor
// with its transactional.id took over, and then woke up.
type Fencing struct {
	ProducerID     int64
	ZombieEpoch    int16 // the zombie's epoch
	SuccessorEpoch int16 // the successor's: InitProducerId bumped it
	// What the broker answered the zombie once its successor had started:
	// to another write, and to its commit.
	ZombieWrite, ZombieCommit error
	// What the broker answered the successor's commit.
	SuccessorCommit error
}

// Fence plays a zombie and its successor on topic: the zombie (producer
// txnID) begins a transaction and writes "zombie: 1"; the successor, with
// the same txnID, starts; the zombie wakes, writes "zombie: 2" and tries to
// commit; the successor writes "successor: 1" and commits. The error is
// about the lab itself; what the broker answered each producer is in
// Fencing.
func (l *Lab) Fence(ctx context.Context, txnID, topic string) (Fencing, error) {
	var f Fencing
	zombie, err := l.producer(txnID)
	if err != nil {
		return f, err
	}
	defer zombie.Close()
	if err := zombie.BeginTransaction(); err != nil {
		return f, fmt.Errorf("txn: zombie: begin: %w", err)
	}
	if err := zombie.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("zombie: 1")}).FirstErr(); err != nil {
		return f, fmt.Errorf("txn: zombie: first write: %w", err)
	}
	if f.ProducerID, f.ZombieEpoch, err = zombie.ProducerID(ctx); err != nil {
		return f, fmt.Errorf("txn: zombie: producer id: %w", err)
	}

	successor, err := l.producer(txnID)
	if err != nil {
		return f, err
	}
	defer successor.Close()
	// InitProducerId: the coordinator aborts the zombie's open
	// transaction and bumps the epoch, fencing every older one.
	var successorID int64
	if successorID, f.SuccessorEpoch, err = successor.ProducerID(ctx); err != nil {
		return f, fmt.Errorf("txn: successor: producer id: %w", err)
	}
	if successorID != f.ProducerID {
		return f, fmt.Errorf("txn: successor got producer id %d, the zombie had %d: want one id, a newer epoch", successorID, f.ProducerID)
	}

	// The zombie writes before it commits: the partition leader refuses
	// the write (INVALID_PRODUCER_EPOCH) on every broker, and franz-go then
	// will not send the commit at all. A zombie that commits first is told
	// PRODUCER_FENCED by Kafka 3.9, but INVALID_TXN_STATE by kfake, which
	// takes an EndTxn one epoch behind for a retry (KIP-890).
	f.ZombieWrite = zombie.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("zombie: 2")}).FirstErr()
	f.ZombieCommit = zombie.EndTransaction(ctx, kgo.TryCommit)

	if err := successor.BeginTransaction(); err != nil {
		return f, fmt.Errorf("txn: successor: begin: %w", err)
	}
	if err := successor.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("successor: 1")}).FirstErr(); err != nil {
		return f, fmt.Errorf("txn: successor: write: %w", err)
	}
	f.SuccessorCommit = successor.EndTransaction(ctx, kgo.TryCommit)
	return f, nil
}

// Run is what one processor of Process did.
type Run struct {
	Inputs  []Record // what it read, from its group's committed offset on
	Outputs []int64  // where its results landed
	// Committed is false when it stopped before ending its transaction.
	Committed bool
}

// Process runs one processor of a read-process-write: a consumer of in in
// group and a producer txnID in one (kgo's GroupTransactSession). It reads
// from the group's committed offset to the end of in (read_committed),
// writes "<value> handled" to out for each record, then commits the
// transaction, the group's new offsets in it. With crash it stops dead
// instead, its transaction open: no commit, no abort; the next producer
// with its txnID aborts it.
func (l *Lab) Process(ctx context.Context, txnID, group, in, out string, crash bool) (Run, error) {
	var run Run
	ends, err := l.admin.ListEndOffsets(ctx, in)
	if err != nil {
		return run, fmt.Errorf("txn: end of %s: %w", in, err)
	}
	e, _ := ends.Lookup(in, 0)
	from, err := l.CommittedOffset(ctx, group, in)
	if err != nil {
		return run, err
	}
	if from < 0 {
		from = 0
	}
	s, err := kgo.NewGroupTransactSession(l.with(
		kgo.TransactionalID(txnID), kgo.TransactionTimeout(time.Minute),
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(in),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Wait for offsets a transaction is still committing rather than
		// read from older ones (KIP-447).
		kgo.RequireStableFetchOffsets())...)
	if err != nil {
		return run, fmt.Errorf("txn: processor %s: %w", txnID, err)
	}
	defer s.Close() // a crash leaves the group without ending the transaction
	if from >= e.Offset {
		return run, nil // nothing to do
	}
	if err := s.Begin(); err != nil {
		return run, fmt.Errorf("txn: processor %s: begin: %w", txnID, err)
	}
	for len(run.Inputs) == 0 || run.Inputs[len(run.Inputs)-1].Offset < e.Offset-1 {
		fetches := s.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return run, fmt.Errorf("txn: processor %s read %d record(s) of %s: %w", txnID, len(run.Inputs), in, err)
		}
		if err := fetches.Err(); err != nil {
			return run, fmt.Errorf("txn: processor %s: read %s: %w", txnID, in, err)
		}
		var recs []*kgo.Record
		fetches.EachRecord(func(r *kgo.Record) {
			run.Inputs = append(run.Inputs, record(r))
			recs = append(recs, &kgo.Record{Topic: out, Value: append(slices.Clone(r.Value), " handled"...)})
		})
		if err := s.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			return run, fmt.Errorf("txn: processor %s: write %s: %w", txnID, out, err)
		}
		run.Outputs = append(run.Outputs, offsets(recs)...)
	}
	if crash {
		return run, nil
	}
	committed, err := s.End(ctx, kgo.TryCommit)
	if err != nil {
		return run, fmt.Errorf("txn: processor %s: commit: %w", txnID, err)
	}
	if !committed {
		return run, fmt.Errorf("txn: processor %s: the transaction was aborted (the group rebalanced while it ran)", txnID)
	}
	run.Committed = true
	return run, nil
}

// CommittedOffset is group's committed offset of topic's partition, -1 if
// it has committed none. It names the partition and asks for stable
// offsets (KIP-447): offsets a transaction committed count only once its
// markers are written, and until then the broker answers
// UNSTABLE_OFFSET_COMMIT for a partition it is asked about (a request for
// all of a group's offsets leaves the partition out instead, as if nothing
// were committed). It asks again on that and while the group's coordinator
// is not there yet (a fresh cluster creates __consumer_offsets on first
// use).
func (l *Lab) CommittedOffset(ctx context.Context, group, topic string) (int64, error) {
	at := int64(-1)
	err := poll(ctx, "the committed offset of "+group+" is not stable", func() (bool, error) {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Group = group
		req.RequireStable = true
		rt := kmsg.NewOffsetFetchRequestTopic()
		rt.Topic, rt.Partitions = topic, []int32{0}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, l.cl)
		if err != nil {
			return false, err
		}
		groupErr, partitionErr, offset, found := resp.ErrorCode, int16(0), int64(-1), false
		for _, g := range resp.Groups { // v8+
			groupErr = g.ErrorCode
			for _, t := range g.Topics {
				for _, p := range t.Partitions {
					if t.Topic == topic && p.Partition == 0 {
						partitionErr, offset, found = p.ErrorCode, p.Offset, true
					}
				}
			}
		}
		for _, t := range resp.Topics { // before v8
			for _, p := range t.Partitions {
				if t.Topic == topic && p.Partition == 0 {
					partitionErr, offset, found = p.ErrorCode, p.Offset, true
				}
			}
		}
		for _, code := range []int16{groupErr, partitionErr} {
			switch err := kerr.ErrorForCode(code); {
			case errors.Is(err, kerr.GroupIDNotFound):
				return true, nil
			case err != nil && kerr.IsRetriable(err):
				return false, err
			case err != nil:
				return false, &stop{err}
			}
		}
		if found {
			at = offset
		}
		return true, nil
	})
	if err != nil {
		return 0, fmt.Errorf("txn: committed offset of %s on %s: %w", group, topic, err)
	}
	return at, nil
}

func offsets(recs []*kgo.Record) []int64 {
	var out []int64
	for _, r := range recs {
		out = append(out, r.Offset)
	}
	return out
}

// stop is an error poll does not ask again after.
type stop struct{ err error }

func (s *stop) Error() string { return s.err.Error() }
func (s *stop) Unwrap() error { return s.err }

// poll asks cond until it holds, fails with a *stop, or ctx ends. The
// broker tells only when asked whether a topic has a leader or its last
// transaction its markers.
func poll(ctx context.Context, what string, cond func() (bool, error)) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		var s *stop
		if errors.As(err, &s) {
			return s.err
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("txn: %s: %w", what, errors.Join(ctx.Err(), last))
		case <-tick.C:
		}
	}
}
