package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/segmentio/kafka-go"

	"github.com/kafkakit/kit/services/platform/inspect"
	"github.com/kafkakit/kit/services/platform/schemaid"
	"github.com/kafkakit/kit/services/platform/stream"
	"github.com/kafkakit/kit/services/platform/tail"
)

func runTail(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newFlags("tail", "tail <topic> [flags]",
		`Prints a topic's records as they arrive: partition, offset, timestamp, key,
headers and value. Without -group it reads every partition directly and
commits nothing, so it changes nothing for anyone. With -group it joins
that consumer group (sharing the partitions with its other members) and
commits each record after printing it, as a real consumer would.

-key prints one key's records only, such as one order's statuses, and -n
then counts those: kit tail orders.status -from earliest -key <orderId> -n 3
`, getenv, stderr)
	registryURL := f.String("registry", registryFrom(getenv), "the schema registry that names each record's schema id (env SCHEMA_REGISTRY_URL)")
	from := f.String("from", "latest", "where to start: earliest, latest or an offset (in every partition read); with -group, where a group without committed offsets starts")
	partition := partitionFlag(f)
	group := f.String("group", "", "join this consumer group and commit what is printed")
	key := f.String("key", "", "print only the records with this key (-n counts those); without -group only")
	n := f.Int("n", 0, "stop after this many records (0: follow until Ctrl-C)")
	exit := f.Bool("exit", false, "stop at the end of the topic as it was when tail started (without -group)")
	pos, err := f.parse(args, "<topic>")
	if err != nil {
		return err
	}
	schemas, _ := schemaid.New(*registryURL) // nil without one: ids shown, versions not
	topic := pos[0]
	start, err := inspect.ParsePosition(*from)
	if err != nil {
		return fmt.Errorf("-from: %w", err)
	}
	switch {
	case *n < 0:
		return fmt.Errorf("-n: want 0 (follow) or more, got %d", *n)
	case *group != "" && *partition >= 0:
		return errors.New("-group and -partition do not go together: a group's coordinator decides who reads which partition")
	case *group != "" && *exit:
		return errors.New("-exit works without -group only")
	case *group != "" && *key != "":
		return errors.New("-key works without -group only: a group member commits every record it reads, printed or not")
	}
	if _, ok := start.Offset(); ok && *group != "" {
		return errors.New("with -group, -from is earliest or latest (where a group without committed offsets starts); move a group with kit reset-offsets")
	}
	c, brokers, err := f.client()
	if err != nil {
		return err
	}
	defer c.Close()
	setup, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	cl, err := c.Cluster(setup, topic)
	if err != nil {
		return hint(err)
	}
	parts, err := choosePartitions(cl.Topics[0], *partition)
	if err != nil {
		return err
	}

	printed := 0
	print := func(m kafka.Message) error {
		if *key != "" && (m.Key == nil || string(m.Key) != *key) {
			return nil
		}
		printRecord(stdout, m, schemas)
		printed++
		if *n > 0 && printed >= *n {
			return errEnough
		}
		return nil
	}
	if *group != "" {
		fmt.Fprintf(stderr, "kit tail: reading %s as a member of group %s (from %s when it has no committed offsets), committing each record printed; Ctrl-C leaves the group\n", topic, *group, start)
		return groupTail(ctx, brokers, *group, topic, start, print)
	}
	var reads []partitionRead
	for _, p := range parts {
		from, note := start.Resolve(p.Earliest, p.Latest)
		if note != "" {
			fmt.Fprintf(stderr, "kit tail: %s/%d: %s; starting at %d\n", topic, p.ID, note, from)
		}
		r := partitionRead{partition: p.ID, from: from, until: -1}
		if *exit {
			r.until = p.Latest
		}
		reads = append(reads, r)
	}
	what := "following"
	if *exit {
		what = "reading up to the current end of"
	}
	fmt.Fprintf(stderr, "kit tail: %s %s partition(s) %s from %s, without a group (nothing is committed)\n", what, topic, ints(partitionIDs(parts)), start)
	return readPartitions(ctx, brokers, topic, reads, print, stderr)
}

// errEnough stops a read once -n records were printed.
var errEnough = errors.New("enough records")

// choosePartitions returns every partition of t, or only the one asked for.
func choosePartitions(t inspect.Topic, partition int) ([]inspect.Partition, error) {
	if partition < 0 {
		return t.Partitions, nil
	}
	for _, p := range t.Partitions {
		if p.ID == partition {
			return []inspect.Partition{p}, nil
		}
	}
	return nil, fmt.Errorf("-partition: %s has no partition %d (it has %d, numbered from 0)", t.Name, partition, len(t.Partitions))
}

func partitionIDs(ps []inspect.Partition) []int {
	ids := make([]int, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	return ids
}

// partitionRead is where to read one partition: from an offset, until an
// end offset (exclusive) or, with until -1, forever.
type partitionRead struct {
	partition   int
	from, until int64
}

// readPartitions reads partitions of topic without a consumer group (so
// nothing is committed) and hands each record to fn, one at a time. Bounded
// reads run partition after partition, so their output is in partition and
// offset order; reads that follow run side by side. It returns when every
// bounded read is done, when fn returns an error (errEnough ends it
// cleanly) or when ctx ends (Ctrl-C, also clean).
func readPartitions(ctx context.Context, brokers cluster, topic string, reads []partitionRead, fn func(kafka.Message) error, stderr io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	msgs := make(chan kafka.Message)
	errs := make(chan error, len(reads))
	var wg sync.WaitGroup
	bounded := len(reads) > 0 && reads[0].until >= 0
	run := func(r partitionRead) {
		// A partition without a leader for a moment (an election, a broker
		// restarting) is said once per change of reason, then waited out.
		var last string
		retrying := func(err error) {
			if msg := err.Error(); msg != last {
				last = msg
				fmt.Fprintf(stderr, "kit: %s; trying again\n", msg)
			}
		}
		err := tail.Read(ctx, brokers.brokers, brokers.dialer, topic, r.partition, r.from, r.until, func(m kafka.Message) error {
			select {
			case msgs <- m:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}, retrying)
		if err != nil && ctx.Err() == nil {
			errs <- err
			cancel()
		}
	}
	if bounded {
		wg.Go(func() {
			for _, r := range reads {
				if run(r); ctx.Err() != nil {
					return
				}
			}
		})
	} else {
		for _, r := range reads {
			wg.Go(func() { run(r) })
		}
	}
	go func() {
		wg.Wait()
		close(msgs)
	}()
	var err error
	for m := range msgs {
		if err == nil {
			if err = fn(m); err != nil {
				cancel()
			}
		}
	}
	close(errs)
	if err == nil {
		err = <-errs
	}
	if errors.Is(err, errEnough) {
		return nil
	}
	return err
}

// groupTail reads topic as a member of group, committing each record once
// fn has printed it.
func groupTail(ctx context.Context, brokers cluster, group, topic string, start inspect.Position, fn func(kafka.Message) error) error {
	first := kafka.LastOffset
	if start == inspect.Earliest {
		first = kafka.FirstOffset
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: brokers.brokers, Dialer: brokers.dialer, GroupID: group, Topic: topic, StartOffset: first,
		MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 500 * time.Millisecond,
		CommitInterval:    0, // synchronous: a printed record is committed before the next is fetched
		HeartbeatInterval: time.Second, SessionTimeout: 6 * time.Second, RebalanceTimeout: 10 * time.Second,
		JoinGroupBackoff: 500 * time.Millisecond,
		ReadBackoffMin:   stream.ReadBackoffMin, ReadBackoffMax: time.Second,
	})
	defer r.Close() // leaves the group
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("read %s in group %s: %w", topic, group, err)
		}
		ferr := fn(m)
		if err := r.CommitMessages(ctx, m); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("commit %s/%d offset %d in group %s: %w", topic, m.Partition, m.Offset, group, err)
		}
		if errors.Is(ferr, errEnough) {
			return nil
		}
		if ferr != nil {
			return ferr
		}
	}
}

// printRecord prints one record as a learner reads it:
//
//	orders.created partition=1 offset=5 timestamp=2026-11-29T12:00:00.123Z key=4b1c…
//	  header dlq.error=invalid orders.created value: …
//	  {"orderId":"4b1c…", …}
//
// A framed value (every record the kit produces) shows its writer's schema
// id and, when schemas can say, the subject version, then the JSON after
// the five framing bytes; a value without the framing shows no schema.
func printRecord(w io.Writer, m kafka.Message, schemas *schemaid.Registry) {
	key := "<null>"
	if m.Key != nil {
		key = printable(m.Key)
	}
	schema := ""
	if id, payload, err := schemaid.Split(m.Value); err == nil {
		m.Value = payload
		schema = fmt.Sprintf(" schema=%d", id)
		if s, err := resolve(schemas, id); err == nil {
			schema += fmt.Sprintf(" (%s v%d)", s.Subject, s.Version)
		}
	}
	fmt.Fprintf(w, "%s partition=%d offset=%d timestamp=%s key=%s%s\n", m.Topic, m.Partition, m.Offset,
		m.Time.UTC().Format("2006-01-02T15:04:05.000Z07:00"), key, schema)
	for _, h := range m.Headers {
		fmt.Fprintf(w, "  header %s=%s\n", printable([]byte(h.Key)), printable(h.Value))
	}
	if m.Value == nil {
		fmt.Fprintln(w, "  <null value: a tombstone>")
		return
	}
	fmt.Fprintf(w, "  %s\n", printable(m.Value))
}

// resolve asks schemas (nil: none) what id is, without holding the tail up
// for long.
func resolve(schemas *schemaid.Registry, id int) (*schemaid.Schema, error) {
	if schemas == nil {
		return nil, errors.New("no registry")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	return schemas.Resolve(ctx, id)
}

// printable returns b as it is when it is one line of readable UTF-8, and
// Go-quoted otherwise (binary, control characters, line breaks, leading or
// trailing blanks, or empty), so every record stays on its lines.
func printable(b []byte) string {
	s := string(b)
	if s != "" && utf8.ValidString(s) && strings.TrimSpace(s) == s &&
		!strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) && r != ' ' }) {
		return s
	}
	return strconv.Quote(s)
}

// headerValue returns the value of the last header named key.
func headerValue(hs []kafka.Header, key string) (string, bool) {
	for i := len(hs) - 1; i >= 0; i-- {
		if hs[i].Key == key {
			return string(hs[i].Value), true
		}
	}
	return "", false
}

// withoutHeaders returns hs without the headers whose key has one of the
// prefixes.
func withoutHeaders(hs []kafka.Header, prefixes ...string) []kafka.Header {
	return slices.DeleteFunc(slices.Clone(hs), func(h kafka.Header) bool {
		return slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(h.Key, p) })
	})
}
