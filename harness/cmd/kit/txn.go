package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/kafkakit/kit/harness/txn"
)

// txnDemo is one thing kit txn shows; run fails if the broker does not
// behave as the lesson says.
type txnDemo struct {
	name  string
	about string
	run   func(ctx context.Context, l *txn.Lab, names txnNames, w io.Writer) error
}

// txnDemos are what kit txn shows, in the order it shows them.
var txnDemos = []txnDemo{
	{"aborted", "a transaction aborted: read_uncommitted sees its records, read_committed does not", demoAborted},
	{"committed", "a transaction committed: both consumers see its records", demoCommitted},
	{"zombie", "a zombie producer fenced by a successor with its transactional.id", demoZombie},
	{"crash", "read-process-write, offsets in the transaction: a crash before the commit reads the input again, writes the output once", demoCrash},
}

func runTxn(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var list strings.Builder
	for _, d := range txnDemos {
		fmt.Fprintf(&list, "  %-10s %s\n", d.name, d.about)
	}
	f := newFlags("txn", "txn [aborted|committed|zombie|crash] [flags]",
		`Shows Kafka transactions at work, with franz-go (the services' kafka-go has
none), on scratch topics of one partition named learn.txn.<token>.*, and
prints what the broker answered and what a read_committed and a
read_uncommitted consumer each saw, the commit and abort markers included
(clients keep those from the application; they are shown here to explain
the offsets).
With no argument it shows all four:

`+list.String()+`
Lesson 10 (docs/learn/10-exactly-once.md) walks through it. It fails if
the broker does not behave as the lesson says.
`, getenv, stderr)
	keep := f.Bool("keep", false, "keep the scratch topics and group, and print the topics' names (default: delete them at the end)")
	pos, err := f.positional(args)
	if err != nil {
		return err
	}
	demos := txnDemos
	switch {
	case len(pos) > 1:
		f.Usage()
		return fmt.Errorf("txn: unexpected argument %q", pos[1])
	case len(pos) == 1:
		i := slices.IndexFunc(txnDemos, func(d txnDemo) bool { return d.name == pos[0] })
		if i < 0 {
			f.Usage()
			return fmt.Errorf("txn: unknown demonstration %q: want aborted, committed, zombie or crash", pos[0])
		}
		demos = txnDemos[i : i+1]
	}
	c, brokers, err := f.client()
	if err != nil {
		return err
	}
	setup, cancel := context.WithTimeout(ctx, setupTimeout)
	_, err = c.Cluster(setup)
	cancel()
	c.Close()
	if err != nil {
		return hint(err)
	}

	l, err := txn.NewLab(brokers.brokers, brokers.franz...)
	if err != nil {
		return err
	}
	names := newTxnNames()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
		defer cancel()
		if err := l.Close(ctx, *keep); err != nil {
			fmt.Fprintf(stderr, "kit txn: could not delete the scratch topics: %v\n", err)
		}
		if *keep {
			for _, t := range l.Topics() {
				fmt.Fprintf(stdout, "kept topic %s\n", t)
			}
		}
	}()
	for i, d := range demos {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		// A demonstration is a few round trips; a minute is plenty even
		// on a busy machine, and an answer that never comes is reported.
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		err := d.run(ctx, l, names, stdout)
		cancel()
		if err != nil {
			return fmt.Errorf("txn %s: %w", d.name, err)
		}
	}
	return nil
}

// txnNames names one run's scratch topics, producers and group, unique so
// that runs never meet.
type txnNames struct{ prefix string }

func newTxnNames() txnNames {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return txnNames{prefix: "learn.txn." + hex.EncodeToString(b[:])}
}

func (n txnNames) of(demo string) string { return n.prefix + "." + demo }

func demoAborted(ctx context.Context, l *txn.Lab, names txnNames, w io.Writer) error {
	return demoEnded(ctx, l, names.of("aborted"), false, w)
}

func demoCommitted(ctx context.Context, l *txn.Lab, names txnNames, w io.Writer) error {
	return demoEnded(ctx, l, names.of("committed"), true, w)
}

// demoEnded writes three records in one transaction, ends it, and shows
// what each isolation level reads.
func demoEnded(ctx context.Context, l *txn.Lab, name string, commit bool, w io.Writer) error {
	title, verb, marker := "An aborted transaction", "aborts", "an ABORT"
	if commit {
		title, verb, marker = "A committed transaction", "commits", "a COMMIT"
	}
	fmt.Fprintf(w, "== %s ==\n", title)
	if err := l.Topic(ctx, name); err != nil {
		return err
	}
	values := []string{"order 1", "order 2", "order 3"}
	offsets, err := l.Transact(ctx, name, name, commit, values...)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "producer %s: begins a transaction, writes %s to %s at offsets %s, %s it: the broker writes %s marker after them\n",
		name, strings.Join(values, ", "), name, span(offsets), verb, marker)
	committed, err := readBoth(ctx, l, name, w)
	if err != nil {
		return err
	}
	want := 0
	if commit {
		want = len(values)
	}
	if got := len(txn.Values(committed)); got != want {
		return fmt.Errorf("read_committed saw %d record(s), want %d", got, want)
	}
	return nil
}

func demoZombie(ctx context.Context, l *txn.Lab, names txnNames, w io.Writer) error {
	name := names.of("zombie")
	fmt.Fprintln(w, "== A zombie producer ==")
	if err := l.Topic(ctx, name); err != nil {
		return err
	}
	f, err := l.Fence(ctx, name, name)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "zombie    (transactional.id %s): producer id %d, epoch %d: begins a transaction, writes \"zombie: 1\", then freezes\n", name, f.ProducerID, f.ZombieEpoch)
	fmt.Fprintf(w, "successor (the same transactional.id): producer id %d, epoch %d: the coordinator aborted the zombie's open transaction and raised the epoch\n", f.ProducerID, f.SuccessorEpoch)
	fmt.Fprintf(w, "zombie wakes, writes \"zombie: 2\": %s\n", answer(f.ZombieWrite))
	fmt.Fprintf(w, "zombie commits: %s\n", answer(f.ZombieCommit))
	fmt.Fprintf(w, "successor writes \"successor: 1\" and commits: %s\n", answer(f.SuccessorCommit))
	if f.SuccessorCommit != nil {
		return fmt.Errorf("the successor's commit was refused: %w", f.SuccessorCommit)
	}
	committed, err := readBoth(ctx, l, name, w)
	if err != nil {
		return err
	}
	if !txn.Fenced(f.ZombieWrite) && !txn.Fenced(f.ZombieCommit) || f.ZombieCommit == nil {
		return errors.New("the zombie was not fenced")
	}
	if got := txn.Values(committed); !slices.Equal(got, []string{"successor: 1"}) {
		return fmt.Errorf("read_committed saw %q, want the successor's record alone", got)
	}
	fmt.Fprintln(w, "the zombie is fenced: nothing it wrote is committed")
	return nil
}

func demoCrash(ctx context.Context, l *txn.Lab, names txnNames, w io.Writer) error {
	in, out, id := names.of("crash.in"), names.of("crash.out"), names.of("crash")
	group := l.Group(names.of("crash.group"))
	fmt.Fprintln(w, "== Read-process-write, and a crash before the commit ==")
	for _, t := range []string{in, out} {
		if err := l.Topic(ctx, t); err != nil {
			return err
		}
	}
	values := []string{"order 1", "order 2", "order 3"}
	if _, err := l.Write(ctx, in, values...); err != nil {
		return err
	}
	fmt.Fprintf(w, "input %s: %s, written outside any transaction\n", in, strings.Join(values, ", "))
	first, err := l.Process(ctx, id, group, in, out, true)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "processor 1 (group %s, transactional.id %s): reads offsets %s, writes %d result(s) to %s at offsets %s, then crashes before committing\n",
		group, id, span(txn.Offsets(first.Inputs)), len(first.Outputs), out, span(first.Outputs))
	at, err := l.CommittedOffset(ctx, group, in)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "the group's committed offset: %s\n", committedText(at))
	second, err := l.Process(ctx, id, group, in, out, false)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "processor 2 (the same group and transactional.id): reads offsets %s again, writes %d result(s) at offsets %s, commits them and the group's offset in one transaction\n",
		span(txn.Offsets(second.Inputs)), len(second.Outputs), span(second.Outputs))
	if at, err = l.CommittedOffset(ctx, group, in); err != nil {
		return err
	}
	fmt.Fprintf(w, "the group's committed offset: %s\n", committedText(at))
	fmt.Fprintf(w, "what readers of %s saw:\n", out)
	committed, err := readBoth(ctx, l, out, w)
	if err != nil {
		return err
	}
	if got := len(txn.Values(committed)); got != len(values) || at != int64(len(values)) || len(second.Inputs) != len(values) {
		return fmt.Errorf("read_committed saw %d result(s), the group committed %d and processor 2 read %d input(s); want %d of each", got, at, len(second.Inputs), len(values))
	}
	fmt.Fprintln(w, "each input was read twice, each result is there once for read_committed")
	return nil
}

// readBoth prints what a read_uncommitted and a read_committed consumer
// read of topic, and returns the read_committed one's.
func readBoth(ctx context.Context, l *txn.Lab, topic string, w io.Writer) ([]txn.Record, error) {
	var committed []txn.Record
	for _, iso := range []txn.Isolation{txn.ReadUncommitted, txn.ReadCommitted} {
		rs, err := l.Read(ctx, topic, iso)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(w, "  %s consumer saw %d record(s):\n", iso, len(txn.Values(rs)))
		for _, r := range rs {
			if r.Marker != "" {
				fmt.Fprintf(w, "    offset %d: (%s marker, which franz-go keeps from the application)\n", r.Offset, r.Marker)
				continue
			}
			fmt.Fprintf(w, "    offset %d: %s\n", r.Offset, r.Value)
		}
		committed = rs
	}
	return committed, nil
}

// answer is what the broker said: ok, or its error.
func answer(err error) string {
	if err == nil {
		return "ok"
	}
	return "refused: " + err.Error()
}

func committedText(at int64) string {
	if at < 0 {
		return "none (the input will be read again from the start)"
	}
	return fmt.Sprintf("%d (the next record the group will read)", at)
}

// span prints offsets, a run of consecutive ones as first-last.
func span(offsets []int64) string {
	switch {
	case len(offsets) == 0:
		return "(none)"
	case len(offsets) == 1:
		return fmt.Sprint(offsets[0])
	case offsets[len(offsets)-1]-offsets[0] == int64(len(offsets)-1):
		return fmt.Sprintf("%d-%d", offsets[0], offsets[len(offsets)-1])
	}
	return strings.Trim(fmt.Sprint(offsets), "[]")
}
