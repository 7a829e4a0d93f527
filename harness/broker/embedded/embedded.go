// Package embedded runs an in-process Kafka-protocol broker (franz-go's
// kfake) for fast runs with no Java and no Docker. It speaks enough of the
// protocol for kafka-go producers, consumer groups and offset commits, but
// it is not Apache Kafka: scenarios about broker behaviour run on the real
// broker (package kafka) too.
package embedded

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Options configures the embedded broker.
type Options struct {
	// Port is the listen port on 127.0.0.1; 0 picks a free one.
	Port int
}

// Broker is a running kfake cluster of one broker.
type Broker struct {
	cluster *kfake.Cluster
}

// Start starts the broker on 127.0.0.1. Topics are not auto-created: the
// harness creates them explicitly, as it must on a real cluster.
func Start(_ context.Context, opts Options) (*Broker, error) {
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.Ports(opts.Port),
	)
	if err != nil {
		return nil, fmt.Errorf("broker embedded: %w", err)
	}
	return &Broker{cluster: c}, nil
}

// Name is "embedded".
func (b *Broker) Name() string { return "embedded" }

// Addrs is the broker's address.
func (b *Broker) Addrs() []string { return b.cluster.ListenAddrs() }

// Close stops the broker; its data lived in memory and is gone.
func (b *Broker) Close(context.Context) error {
	b.cluster.Close()
	return nil
}

// BlockWrites makes produce requests to topics fail with
// MESSAGE_TOO_LARGE, as a real broker does once the topics' max.message.bytes
// is shrunk to nothing, until unblock is called; fetches go on.
func (b *Broker) BlockWrites(topics ...string) (unblock func(), err error) {
	var handles []*kfake.FaultHandle
	for _, t := range topics {
		handles = append(handles, b.cluster.Fault(kfake.Fault{
			Keys: []kmsg.Key{kmsg.Produce}, Topic: t, Err: kerr.MessageTooLarge, Count: -1,
		}))
	}
	return func() {
		for _, h := range handles {
			h.Remove()
		}
	}, nil
}
