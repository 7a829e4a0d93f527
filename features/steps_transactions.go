package features

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cucumber/godog"

	"github.com/kafkakit/kit/harness/txn"
)

// transactionSteps are the steps of exactly_once.feature: Kafka
// transactions, as lesson 10 shows them. They talk to the broker with
// franz-go (harness/txn; kafka-go, which the services use, has no
// transactions) on topics, a group and transactional ids of the scenario's
// own, and print what the broker answered.
func transactionSteps(sc *godog.ScenarioContext) {
	sc.Given(`^a topic of its own with one partition$`, aTransactionTopic)
	sc.When(`^a producer writes (\d+) records in one transaction and (aborts|commits) it$`, writeInATransaction)
	sc.Then(`^a (read_committed|read_uncommitted) consumer is handed (none of them|all \d+)$`, consumerIsHanded)
	sc.When(`^a producer froze inside a transaction and another with the same transactional id started$`, aZombieAndItsSuccessor)
	sc.Then(`^the broker refuses the frozen producer once it wakes, as fenced$`, theZombieIsFenced)
	sc.Then(`^a read_committed consumer is handed only what the new producer wrote$`, onlyTheSuccessorIsRead)
	sc.Given(`^(\d+) records on an input topic of its own$`, recordsOnAnInputTopic)
	sc.When(`^a processor reads them and writes its results in a transaction, then crashes before committing$`, aProcessorCrashes)
	sc.When(`^a processor with the same group and transactional id takes over$`, aProcessorTakesOver)
	sc.Then(`^the second processor reads the (\d+) input records again, and its group then has all \d+ committed$`, theInputIsReadAgain)
	sc.Then(`^a read_committed consumer of the output is handed each result once$`, eachResultOnce)
	sc.After(func(ctx context.Context, _ *godog.Scenario, err error) (context.Context, error) {
		if x, ok := ctx.Value(txnKey{}).(*txnWorld); ok {
			ctx, cancel := within(context.Background())
			defer cancel()
			_ = x.lab.Close(ctx, false)
		}
		return ctx, err
	})
}

// txnWorld is an exactly_once scenario's state, in its context.
type txnWorld struct {
	lab   *txn.Lab
	name  string // the prefix of every topic, group and transactional id
	topic string

	written []string // what a transaction wrote
	fencing txn.Fencing

	in, out, group string
	inputs         []string
	first, second  txn.Run
}

type txnKey struct{}

func txnOf(ctx context.Context) *txnWorld { return ctx.Value(txnKey{}).(*txnWorld) }

// say prints what the broker answered, under the step that asked.
func say(format string, args ...any) {
	fmt.Printf("      BROKER: "+format+"\n", args...)
}

// newTxnWorld puts a lab on the scenario's broker into its context.
func newTxnWorld(ctx context.Context) (context.Context, *txnWorld, error) {
	w := the(ctx)
	l, err := txn.NewLab(w.stack.BrokerAddrs())
	if err != nil {
		return ctx, nil, err
	}
	x := &txnWorld{lab: l, name: "learn.eos." + w.token}
	return context.WithValue(ctx, txnKey{}, x), x, nil
}

func aTransactionTopic(ctx context.Context) (context.Context, error) {
	ctx, x, err := newTxnWorld(ctx)
	if err != nil {
		return ctx, err
	}
	setup, cancel := within(ctx)
	defer cancel()
	x.topic = x.name
	return ctx, x.lab.Topic(setup, x.topic)
}

func writeInATransaction(ctx context.Context, n int, end string) error {
	x := txnOf(ctx)
	for i := range n {
		x.written = append(x.written, fmt.Sprintf("record %d of %s", i+1, x.name))
	}
	step, cancel := within(ctx)
	defer cancel()
	offsets, err := x.lab.Transact(step, x.name+".producer", x.topic, end == "commits", x.written...)
	if err != nil {
		return err
	}
	say("%d records written in a transaction at offsets %v; %s: ok", n, offsets, strings.TrimSuffix(end, "s"))
	return nil
}

// read reads the scenario's topic at iso and prints what it was handed.
func (x *txnWorld) read(ctx context.Context, topic string, iso txn.Isolation) ([]string, error) {
	step, cancel := within(ctx)
	defer cancel()
	rs, err := x.lab.Read(step, topic, iso)
	if err != nil {
		return nil, err
	}
	var shown []string
	for _, r := range rs {
		shown = append(shown, r.String())
	}
	say("a %s consumer of %s was handed %d record(s); the log: %s", iso, topic, len(txn.Values(rs)), strings.Join(shown, "; "))
	return txn.Values(rs), nil
}

func consumerIsHanded(ctx context.Context, isolation, how string) error {
	x := txnOf(ctx)
	iso := txn.ReadUncommitted
	if isolation == "read_committed" {
		iso = txn.ReadCommitted
	}
	got, err := x.read(ctx, x.topic, iso)
	if err != nil {
		return err
	}
	var want []string
	if how != "none of them" {
		want = x.written
		if how != fmt.Sprintf("all %d", len(want)) {
			return fmt.Errorf("the step says %q, the transaction wrote %d", how, len(want))
		}
	}
	if !slices.Equal(got, want) {
		return fmt.Errorf("a %s consumer was handed %q, want %q", iso, got, want)
	}
	return nil
}

func aZombieAndItsSuccessor(ctx context.Context) error {
	x := txnOf(ctx)
	step, cancel := within(ctx)
	defer cancel()
	f, err := x.lab.Fence(step, x.name+".producer", x.topic)
	if err != nil {
		return err
	}
	x.fencing = f
	say("the frozen producer had producer id %d, epoch %d; its successor got id %d, epoch %d", f.ProducerID, f.ZombieEpoch, f.ProducerID, f.SuccessorEpoch)
	say("the frozen producer's next write: %v; its commit: %v", f.ZombieWrite, f.ZombieCommit)
	say("the successor's commit: %v", orOK(f.SuccessorCommit))
	return nil
}

func orOK(err error) any {
	if err == nil {
		return "ok"
	}
	return err
}

func theZombieIsFenced(ctx context.Context) error {
	f := txnOf(ctx).fencing
	if f.SuccessorEpoch <= f.ZombieEpoch {
		return fmt.Errorf("the successor's epoch %d is not above the frozen producer's %d", f.SuccessorEpoch, f.ZombieEpoch)
	}
	if !txn.Fenced(f.ZombieWrite) && !txn.Fenced(f.ZombieCommit) {
		return fmt.Errorf("the frozen producer was not fenced: its write: %v; its commit: %v", f.ZombieWrite, f.ZombieCommit)
	}
	if f.ZombieCommit == nil {
		return errors.New("the frozen producer's commit succeeded")
	}
	return f.SuccessorCommit
}

func onlyTheSuccessorIsRead(ctx context.Context) error {
	x := txnOf(ctx)
	got, err := x.read(ctx, x.topic, txn.ReadCommitted)
	if err != nil {
		return err
	}
	if !slices.Equal(got, []string{"successor: 1"}) {
		return fmt.Errorf("a read_committed consumer was handed %q, want only the successor's record", got)
	}
	return nil
}

func recordsOnAnInputTopic(ctx context.Context, n int) (context.Context, error) {
	ctx, x, err := newTxnWorld(ctx)
	if err != nil {
		return ctx, err
	}
	x.in, x.out, x.group = x.name+".in", x.name+".out", x.lab.Group(x.name+".group")
	setup, cancel := within(ctx)
	defer cancel()
	for _, t := range []string{x.in, x.out} {
		if err := x.lab.Topic(setup, t); err != nil {
			return ctx, err
		}
	}
	for i := range n {
		x.inputs = append(x.inputs, fmt.Sprintf("input %d of %s", i+1, x.name))
	}
	offsets, err := x.lab.Write(setup, x.in, x.inputs...)
	if err != nil {
		return ctx, err
	}
	say("%d input records written outside any transaction at offsets %v", n, offsets)
	return ctx, nil
}

func aProcessorCrashes(ctx context.Context) error {
	x := txnOf(ctx)
	step, cancel := within(ctx)
	defer cancel()
	run, err := x.lab.Process(step, x.name+".processor", x.group, x.in, x.out, true)
	if err != nil {
		return err
	}
	x.first = run
	if len(run.Inputs) != len(x.inputs) {
		return fmt.Errorf("the first processor read %d input record(s), want %d", len(run.Inputs), len(x.inputs))
	}
	at, err := x.lab.CommittedOffset(step, x.group, x.in)
	if err != nil {
		return err
	}
	say("the first processor wrote its results at offsets %v, then stopped with its transaction open; the group's committed offset: %d (-1: none)", run.Outputs, at)
	if at >= 0 {
		return fmt.Errorf("the group committed offset %d although the transaction never committed", at)
	}
	return nil
}

func aProcessorTakesOver(ctx context.Context) error {
	x := txnOf(ctx)
	step, cancel := within(ctx)
	defer cancel()
	run, err := x.lab.Process(step, x.name+".processor", x.group, x.in, x.out, false)
	if err != nil {
		return err
	}
	x.second = run
	say("the second processor read offsets %v, wrote its results at offsets %v and committed: %v", txn.Offsets(run.Inputs), run.Outputs, run.Committed)
	return nil
}

func theInputIsReadAgain(ctx context.Context, n int) error {
	x := txnOf(ctx)
	if got := txn.Values(x.second.Inputs); !slices.Equal(got, x.inputs) || len(got) != n {
		return fmt.Errorf("the second processor read %q, want %q again", got, x.inputs)
	}
	if !x.second.Committed {
		return errors.New("the second processor did not commit")
	}
	step, cancel := within(ctx)
	defer cancel()
	at, err := x.lab.CommittedOffset(step, x.group, x.in)
	if err != nil {
		return err
	}
	say("the group's committed offset: %d", at)
	if at != int64(n) {
		return fmt.Errorf("the group's committed offset is %d, want %d", at, n)
	}
	return nil
}

func eachResultOnce(ctx context.Context) error {
	x := txnOf(ctx)
	got, err := x.read(ctx, x.out, txn.ReadCommitted)
	if err != nil {
		return err
	}
	var want []string
	for _, in := range x.inputs {
		want = append(want, in+" handled")
	}
	if !slices.Equal(got, want) {
		return fmt.Errorf("a read_committed consumer of the output was handed %q, want each result once: %q", got, want)
	}
	// What the crashed processor wrote is still in the log, aborted: a
	// read_uncommitted consumer shows it.
	all, err := x.read(ctx, x.out, txn.ReadUncommitted)
	if err != nil {
		return err
	}
	if len(all) != 2*len(want) {
		return fmt.Errorf("a read_uncommitted consumer of the output was handed %d record(s), want %d: the crashed processor's and the second's", len(all), 2*len(want))
	}
	return nil
}
