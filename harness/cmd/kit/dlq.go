package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/inspect"
	"github.com/kafkakit/kit/services/platform/schemaid"
)

const usageDLQ = `usage: kit dlq list <topic> [flags]
       kit dlq replay <topic> [-partition P -offset N] [flags]

A consumer that cannot process a record (it is not valid, or breaks a rule
no retry can fix) sets it aside on the topic's dead-letter topic,
<topic>.dlq, with its own key and value and headers saying why and where
it came from. <topic> is either the source topic (orders.created) or its
dead-letter topic (orders.created.dlq).

  list     print the dead letters with their headers
  replay   produce them back to their source topic, after the cause is fixed
`

func runDLQ(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageDLQ)
		return errors.New("dlq: want list or replay")
	}
	switch args[0] {
	case "list":
		return runDLQList(ctx, args[1:], getenv, stdout, stderr)
	case "replay":
		return runDLQReplay(ctx, args[1:], getenv, stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usageDLQ)
		return nil
	}
	fmt.Fprint(stderr, usageDLQ)
	return fmt.Errorf("dlq: unknown command %q, want list or replay", args[0])
}

// dlqTopics returns a source topic and its dead-letter topic from either.
func dlqTopics(topic string) (source, dlq string) {
	if s, ok := strings.CutSuffix(topic, events.DLQSuffix); ok {
		return s, topic
	}
	return topic, events.DLQ(topic)
}

func runDLQList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newFlags("dlq list", "dlq list <topic> [flags]",
		`Prints every dead letter of <topic> (the source topic or its .dlq) as it
stands now: partition, offset, key, value and the headers the consumer set:
  `+events.HeaderDLQError+`             why it could not be processed
  `+events.HeaderDLQSourceTopic+`, `+events.HeaderDLQSourcePartition+`, `+events.HeaderDLQSourceOffset+`
                        where it was read
  `+events.HeaderDLQConsumerGroup+`    which consumer group set it aside
  `+events.HeaderDLQReplayed+`          (on a replayed record) when it was replayed
`, getenv, stderr)
	registryURL := f.String("registry", registryFrom(getenv), "the schema registry that names each record's schema id (env SCHEMA_REGISTRY_URL)")
	partition := partitionFlag(f)
	pos, err := f.parse(args, "<topic>")
	if err != nil {
		return err
	}
	schemas, _ := schemaid.New(*registryURL) // nil without one: ids shown, versions not
	_, dlq := dlqTopics(pos[0])
	c, brokers, err := f.client()
	if err != nil {
		return err
	}
	defer c.Close()
	reads, err := deadLetters(ctx, c, dlq, *partition)
	if err != nil {
		return err
	}
	n := 0
	err = readPartitions(ctx, brokers, dlq, reads, func(m kafka.Message) error {
		printRecord(stdout, m, schemas)
		n++
		return nil
	}, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "kit dlq: %d dead letter(s) on %s\n", n, dlq)
	return nil
}

// deadLetters returns the reads of every dead letter of dlq (or of one
// partition) up to its end now.
func deadLetters(ctx context.Context, c *inspect.Client, dlq string, partition int) ([]partitionRead, error) {
	setup, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	cl, err := c.Cluster(setup, dlq)
	if err != nil {
		return nil, hint(err)
	}
	parts, err := choosePartitions(cl.Topics[0], partition)
	if err != nil {
		return nil, err
	}
	var reads []partitionRead
	for _, p := range parts {
		if p.Err != nil || p.Latest < 0 {
			return nil, fmt.Errorf("%s/%d has no leader: %v", dlq, p.ID, p.Err)
		}
		reads = append(reads, partitionRead{partition: p.ID, from: p.Earliest, until: p.Latest})
	}
	return reads, nil
}

func runDLQReplay(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newFlags("dlq replay", "dlq replay <topic> [-partition P -offset N] [flags]",
		`Produces dead letters back to the topic they came from (their
`+events.HeaderDLQSourceTopic+` header, else <topic> without .dlq), each with its own key
and value, so it lands on the partition its key always goes to, with its
headers but the dlq.* ones and a `+events.HeaderDLQReplayed+` header holding the time of
the replay. acks=all: a record counts as replayed once every in-sync
replica has it. The dead letters stay where they are.

Replay after fixing the cause: a record that still cannot be processed is
dead-lettered again. Replaying twice is the operator's choice, and safe
for orders: the kit's consumers are idempotent. stock-service records every
order it handled in a ledger of processed orders, in the transaction that
takes the stock, so a second copy of an order takes nothing;
orders-processor decides an order's statuses from the order alone and
notifications-api keeps the first of each status per order, so a repeated
reservation only writes the same statuses again.
`, getenv, stderr)
	partition := partitionFlag(f)
	at := f.Int64("offset", -1, "only the dead letter at this offset (with -partition, unless the topic has one partition)")
	pos, err := f.parse(args, "<topic>")
	if err != nil {
		return err
	}
	source, dlq := dlqTopics(pos[0])
	c, brokers, err := f.client()
	if err != nil {
		return err
	}
	defer c.Close()
	reads, err := deadLetters(ctx, c, dlq, *partition)
	if err != nil {
		return err
	}
	if *at >= 0 {
		if len(reads) != 1 {
			return fmt.Errorf("-offset: %s has %d partitions; say which with -partition (kit dlq list %s shows each dead letter's partition and offset)", dlq, len(reads), source)
		}
		r := &reads[0]
		if *at < r.from || *at >= r.until {
			return fmt.Errorf("-offset: no dead letter at %s partition %d offset %d (it holds offsets %d to %d)", dlq, r.partition, *at, r.from, r.until-1)
		}
		r.from, r.until = *at, *at+1
	}
	p := newProducer(brokers, "") // the original bytes, framing and all
	defer p.Close()
	replayedAt := time.Now().UTC().Format(time.RFC3339Nano)
	checked := map[string]bool{}
	n := 0
	err = readPartitions(ctx, brokers, dlq, reads, func(m kafka.Message) error {
		to := source
		if t, ok := headerValue(m.Headers, events.HeaderDLQSourceTopic); ok && t != "" {
			to = t
		}
		if !checked[to] {
			setup, cancel := context.WithTimeout(ctx, setupTimeout)
			_, err := c.Cluster(setup, to)
			cancel()
			if err != nil {
				return fmt.Errorf("replay %s partition %d offset %d: %w", dlq, m.Partition, m.Offset, err)
			}
			checked[to] = true
		}
		out := kafka.Message{
			Topic: to, Key: m.Key, Value: m.Value,
			Headers: append(withoutHeaders(m.Headers, "dlq."), kafka.Header{Key: events.HeaderDLQReplayed, Value: []byte(replayedAt)}),
		}
		got, err := p.Produce(ctx, out)
		if err != nil {
			return fmt.Errorf("replay %s partition %d offset %d: %w", dlq, m.Partition, m.Offset, err)
		}
		n++
		fmt.Fprintf(stdout, "replayed %s partition=%d offset=%d -> %s partition=%d offset=%d key=%s\n",
			dlq, m.Partition, m.Offset, got.Topic, got.Partition, got.Offset, printableKey(m.Key))
		return nil
	}, stderr)
	fmt.Fprintf(stderr, "kit dlq: replayed %d dead letter(s) from %s\n", n, dlq)
	return err
}
