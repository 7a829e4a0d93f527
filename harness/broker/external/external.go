// Package external uses a Kafka cluster the harness did not start, such as
// the one `docker compose up` runs.
package external

import (
	"context"
	"errors"

	"github.com/kafkakit/kit/harness/broker/security"
)

// Broker is a cluster reachable at fixed addresses.
type Broker struct {
	addrs    []string
	security *security.Material
}

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

// Secure returns the cluster at addrs, locked down with m (the load
// runner's embedded broker, which it starts in a process of its own with a
// stack's material): the harness signs in to it as the kit.
func Secure(addrs []string, m *security.Material) (*Broker, error) {
	b, err := New(addrs)
	if err != nil {
		return nil, err
	}
	b.security = m
	return b, nil
}

// Security is the material the cluster was locked down with; nil when the
// harness does not know it (plaintext, or a cluster of its own settings).
func (b *Broker) Security() *security.Material { return b.security }
