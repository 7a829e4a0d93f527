// Package broker starts or connects to a Kafka cluster for the harness and
// creates the kit's topics on it. Each kind of broker lives in a package of
// its own (embedded, kafka, testcontainers, external) and returns a value
// that satisfies Broker.
package broker

import (
	"context"
)

// Broker is a running Kafka cluster the services and tests can reach.
type Broker interface {
	// Name is the kind of broker: "embedded", "kafka", "testcontainers" or "external".
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
