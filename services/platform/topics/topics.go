// Package topics creates Kafka topics explicitly and waits until they can be
// used: kafka-go's first writes fail while a topic is being auto-created, so
// the kit never relies on auto-creation. It is the one topic creator of the
// kit — the harness, the load runner's floor and the stream tests all call
// Create — and it lives in platform because that is the one module every
// one of them may import.
package topics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kafkakit/kit/services/platform/stream"
)

// Topic is one topic to create.
type Topic struct {
	Name       string
	Partitions int
}

// Create creates topics on the cluster at brokers, each with replication
// replicas (those that exist are left alone), connecting as dialer says (nil:
// plaintext), and returns once every broker of the cluster knows a leader
// for every partition, or ctx ends.
func Create(ctx context.Context, brokers []string, dialer *kafka.Dialer, replication int, topics ...Topic) error {
	if len(topics) == 0 {
		return nil
	}
	if dialer == nil {
		dialer = &kafka.Dialer{Timeout: 10 * time.Second, DualStack: true}
	}
	transport := &kafka.Transport{DialTimeout: 3 * time.Second}
	stream.SecureTransport(transport, dialer)
	defer transport.CloseIdleConnections()
	// kafka-go asks the controller to answer within half the client's
	// timeout: 15 s, as franz-go's admin client asks, since a loaded
	// three-broker cluster on TLS takes longer than a few seconds.
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 30 * time.Second, Transport: transport}
	req := &kafka.CreateTopicsRequest{}
	for _, t := range topics {
		req.Topics = append(req.Topics, kafka.TopicConfig{Topic: t.Name, NumPartitions: t.Partitions, ReplicationFactor: replication})
	}
	resp, err := client.CreateTopics(ctx, req)
	if err != nil {
		return fmt.Errorf("create topics %s on %s: %w", names(topics), strings.Join(brokers, ","), err)
	}
	for _, t := range topics {
		// A controller that timed out still creates the topic: the wait for
		// leaders below says whether it did.
		if err := resp.Errors[t.Name]; err != nil && !errors.Is(err, kafka.TopicAlreadyExists) && !errors.Is(err, kafka.RequestTimedOut) {
			return fmt.Errorf("create topic %s: %w", t.Name, err)
		}
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		err := everyBrokerLeads(ctx, brokers, dialer, topics)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topics %s have no leaders yet: %w", names(topics), errors.Join(err, ctx.Err()))
		case <-tick.C:
		}
	}
}

// everyBrokerLeads asks each broker of the cluster in turn, not just any
// one, whether it knows a leader for every partition of topics. The
// controller tells brokers about a new topic one by one; a client that
// bootstraps from one still in the dark sees the topic as unknown.
func everyBrokerLeads(ctx context.Context, seeds []string, dialer *kafka.Dialer, topics []Topic) error {
	var cluster []kafka.Broker
	var errs []error
	for _, seed := range seeds {
		conn, err := dialer.DialContext(ctx, "tcp", seed)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		cluster, err = conn.Brokers()
		conn.Close()
		if err == nil {
			break
		}
		errs = append(errs, err)
	}
	if len(cluster) == 0 {
		return fmt.Errorf("no brokers in the metadata: %w", errors.Join(errs...))
	}
	for _, b := range cluster {
		if err := leads(ctx, dialer, b, topics); err != nil {
			return fmt.Errorf("broker %d: %w", b.ID, err)
		}
	}
	return nil
}

// leads reports, as an error, what broker b does not know a leader of.
func leads(ctx context.Context, dialer *kafka.Dialer, b kafka.Broker, topics []Topic) error {
	conn, err := dialer.DialContext(ctx, "tcp", net.JoinHostPort(b.Host, strconv.Itoa(b.Port)))
	if err != nil {
		return err
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	parts, err := conn.ReadPartitions(nameList(topics)...)
	if err != nil {
		return err
	}
	led := map[string]int{}
	for _, p := range parts {
		if p.Leader.Host != "" && len(p.Isr) > 0 {
			led[p.Topic]++
		}
	}
	for _, t := range topics {
		if led[t.Name] < t.Partitions {
			return fmt.Errorf("knows a leader for %d of the %d partitions of %s", led[t.Name], t.Partitions, t.Name)
		}
	}
	return nil
}

func nameList(topics []Topic) []string {
	out := make([]string, len(topics))
	for i, t := range topics {
		out[i] = t.Name
	}
	return out
}

func names(topics []Topic) string { return strings.Join(nameList(topics), ",") }
