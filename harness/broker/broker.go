// Package broker starts or connects to a Kafka cluster for the harness and
// creates the kit's topics on it. Each kind of broker lives in a package of
// its own (embedded, kafka, testcontainers, external) and returns a value
// that satisfies Broker.
package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkakit/kit/harness/broker/security"
)

// Secured is a broker that may be locked down (SECURITY=sasl_ssl): its
// Security is the stack's TLS material and passwords, nil when it listens
// in plaintext.
type Secured interface {
	Security() *security.Material
}

// ClientOpts are the franz-go options a harness client of b needs besides
// its seed brokers: the kit super user's TLS and SASL when b is locked
// down, none otherwise.
func ClientOpts(b Broker) []kgo.Opt {
	if s, ok := b.(Secured); ok && s.Security() != nil {
		return s.Security().KitOpts()
	}
	return nil
}

// Broker is a running Kafka cluster the services and tests can reach.
type Broker interface {
	// Name is the kind of broker: "embedded", "kafka", "kafka-cluster",
	// "testcontainers" or "external".
	Name() string
	// Addrs are the bootstrap addresses (host:port) reachable from this machine.
	Addrs() []string
	// Close stops what the harness started and removes its data. Closing an
	// external cluster leaves it running.
	Close(ctx context.Context) error
}

// Restarter is a Broker that can be stopped and started again on the same
// address and data, for scenarios about a broker outage.
type Restarter interface {
	Broker
	// Stop stops the broker process, keeping its data and address.
	Stop(ctx context.Context) error
	// Start starts a stopped broker again and returns once it answers metadata.
	Start(ctx context.Context) error
}

// Cluster is a Broker made of several Kafka brokers, each of which can be
// lost and brought back on its own, for failover scenarios.
type Cluster interface {
	Broker
	// BrokerIDs are the ids of the cluster's brokers, whether up or down.
	BrokerIDs() []int32
	// KillBroker kills one broker abruptly (SIGKILL), as a crash would.
	KillBroker(id int32) error
	// RestartBroker starts a killed broker again on its address and data,
	// and returns once it serves metadata with every partition led.
	RestartBroker(ctx context.Context, id int32) error
	// Leader says where a partition lives now.
	Leader(ctx context.Context, topic string, partition int32) (Partition, error)
}

// Partition is where one partition lives: its leader, the brokers that hold
// a replica and those of them in sync with the leader.
type Partition struct {
	Leader   int32
	Replicas []int32
	ISR      []int32
}
