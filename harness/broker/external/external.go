// Package external uses a Kafka cluster the harness did not start, such as
// the one `docker compose up` runs.
package external

import (
	"context"
	"errors"
)

// Broker is a cluster reachable at fixed addresses.
type Broker struct{ addrs []string }

// New returns the cluster at addrs (host:port).
func New(addrs []string) (*Broker, error) {
	if len(addrs) == 0 {
		return nil, errors.New("broker external: no addresses; set KAFKA_BROKERS=host:port[,host:port]")
	}
	return &Broker{addrs: addrs}, nil
}

// Name is "external".
func (b *Broker) Name() string { return "external" }

// Addrs are the cluster's bootstrap addresses.
func (b *Broker) Addrs() []string { return b.addrs }

// Close leaves the cluster running: the harness did not start it.
func (b *Broker) Close(context.Context) error { return nil }
