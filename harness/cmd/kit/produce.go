package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/segmentio/kafka-go"

	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/inspect"
	"github.com/kafkakit/kit/services/platform/schemaid"
	"github.com/kafkakit/kit/services/platform/stream"
	"github.com/kafkakit/kit/services/platform/svc"
)

func runProduce(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newFlags("produce", "produce <topic> <value> [flags]",
		`Writes one record and waits until every in-sync replica has it (acks=all).
The key picks the partition with murmur2 hashing, as the services' producers
and the Java client do, so records with one key land on one partition.
A value that is not what the topic's consumers expect is how to see the
dead-letter topic at work: kit produce orders.created 'not an order'
A value for one of the kit's topics is framed as the services frame theirs:
a zero byte and the topic's current schema id (4 bytes, registered in the
schema registry, -registry) before it; -raw writes it without, which the
consumers dead-letter as unframed.
`, getenv, stderr)
	registryURL := f.String("registry", registryFrom(getenv), "the schema registry (env SCHEMA_REGISTRY_URL)")
	raw := f.Bool("raw", false, "write the value exactly as given, without the schema-id framing")
	key := f.String("key", "", "the record's key (default: none, so the partitioner spreads records)")
	var headers headerFlags
	f.Var(&headers, "header", "a header, key=value (repeatable)")
	pos, err := f.parse(args, "<topic>", "<value>")
	if err != nil {
		return err
	}
	c, brokers, err := f.client()
	if err != nil {
		return err
	}
	defer c.Close()
	setup, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	if _, err := c.Cluster(setup, pos[0]); err != nil && !(errors.Is(err, inspect.ErrUnknownTopic) && brokers.dialer != nil) {
		return hint(err)
	}
	// On a locked-down broker a topic the user may not describe is left
	// out of the list of every topic, so it looks unknown; the producer asks
	// for it by name and prints Kafka's own answer
	// (TOPIC_AUTHORIZATION_FAILED), which is what a learner should read.
	framing := *registryURL
	if *raw {
		framing = ""
	}
	p := newProducer(brokers, framing)
	defer p.Close()
	m := kafka.Message{Topic: pos[0], Value: []byte(pos[1]), Headers: headers}
	if *key != "" {
		m.Key = []byte(*key)
	}
	got, err := p.Produce(ctx, m)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "produced to %s partition=%d offset=%d key=%s\n", got.Topic, got.Partition, got.Offset, printableKey(m.Key))
	return nil
}

func printableKey(k []byte) string {
	if k == nil {
		return "<null>"
	}
	return printable(k)
}

// headerFlags collects -header key=value.
type headerFlags []kafka.Header

func (h *headerFlags) String() string { return "" }

func (h *headerFlags) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return errors.New("want key=value")
	}
	*h = append(*h, kafka.Header{Key: k, Value: []byte(v)})
	return nil
}

// producer writes records with the kit's producer (stream.NewProducer:
// acks=all, murmur2 keys) and says where each landed.
type producer struct {
	p *stream.Producer
}

// newProducer frames the values it writes to the kit's topics with their
// schema ids from the registry at registryURL; "" writes every value as
// given (a dead-letter replay: the original bytes already carry theirs).
func newProducer(brokers cluster, registryURL string) *producer {
	cfg := stream.ProducerConfig{Dialer: brokers.dialer}
	if ids, err := schemaid.New(registryURL); err == nil {
		cfg.Framer = kitTopicsFramer{schemaid.NewFramer(ids, events.Topics...)}
	}
	return &producer{p: stream.NewProducer(brokers.brokers, "", cfg)}
}

// kitTopicsFramer frames the kit's topics and leaves any other (a scratch
// topic, a dead-letter topic) as given.
type kitTopicsFramer struct{ f *schemaid.Framer }

func (k kitTopicsFramer) Frame(ctx context.Context, topic string, value []byte) ([]byte, error) {
	if !slices.Contains(events.Topics, topic) {
		return value, nil
	}
	return k.f.Frame(ctx, topic, value)
}

// registryFrom is the schema registry the CLI talks to: SCHEMA_REGISTRY_URL,
// else the one `kit up` serves.
func registryFrom(getenv func(string) string) string {
	if u := getenv("SCHEMA_REGISTRY_URL"); u != "" {
		return u
	}
	return svc.DefaultRegistryURL
}

// Produce writes m (m.Topic names the topic) and returns it with its
// partition and offset once the broker acknowledged it.
func (p *producer) Produce(ctx context.Context, m kafka.Message) (kafka.Message, error) {
	written, err := p.p.Produce(ctx, m)
	if err != nil {
		return kafka.Message{}, fmt.Errorf("produce to %s: %w", m.Topic, err)
	}
	return written[0], nil
}

// Close flushes and closes the writer.
func (p *producer) Close() error { return p.p.Close() }
