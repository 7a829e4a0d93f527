// Package embedded runs an in-process Kafka-protocol broker (franz-go's
// kfake) for fast runs with no Java and no Docker. It speaks enough of the
// protocol for kafka-go producers, consumer groups and offset commits, but
// it is not Apache Kafka: scenarios about broker behaviour run on the real
// broker (package kafka) too.
package embedded

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"os"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkakit/kit/harness/broker/security"
	"github.com/kafkakit/kit/services/events"
)

// Options configures the embedded broker.
type Options struct {
	// Port is the listen port on 127.0.0.1; 0 picks a free one.
	Port int
	// Security, when set, makes the broker speak TLS with the stack's
	// certificate and require SCRAM-SHA-512 (SECURITY=sasl_ssl), with a
	// user and the ACLs of each of events.Principals. kfake authenticates
	// but enforces no topic or group ACL: Start says so in one loud line.
	Security *security.Material
	// Log receives that line; nil is standard error.
	Log io.Writer
}

// Broker is a running kfake cluster of one broker.
type Broker struct {
	cluster  *kfake.Cluster
	security *security.Material
}

// Start starts the broker on 127.0.0.1. Topics are not auto-created: the
// harness creates them explicitly, as it must on a real cluster.
func Start(_ context.Context, opts Options) (*Broker, error) {
	kopts := []kfake.Opt{kfake.NumBrokers(1), kfake.Ports(opts.Port)}
	if m := opts.Security; m != nil {
		secure, err := secureOpts(m)
		if err != nil {
			return nil, err
		}
		kopts = append(kopts, secure...)
		log := opts.Log
		if log == nil {
			log = os.Stderr
		}
		fmt.Fprintln(log, NotEnforced)
	}
	c, err := kfake.NewCluster(kopts...)
	if err != nil {
		return nil, fmt.Errorf("broker embedded: %w", err)
	}
	return &Broker{cluster: c, security: opts.Security}, nil
}

// NotEnforced is the loud line a secure embedded broker prints: what kfake
// (at the version the kit pins) checks and what it does not.
const NotEnforced = "!!! EMBEDDED BROKER, SECURITY=sasl_ssl: TLS and SCRAM-SHA-512 sign-in are enforced, " +
	"but kfake enforces no topic or group ACL (produce, fetch, metadata, consumer groups are open to any signed-in user); " +
	"BROKER=kafka enforces them (make features-security)"

// secureOpts are kfake's options for m: TLS with the stack's broker
// certificate, SASL with the kit as super user and every other principal
// as a user with its grants as ACLs.
func secureOpts(m *security.Material) ([]kfake.Opt, error) {
	// The keystore holds the key and the chain; X509KeyPair takes the
	// CERTIFICATE blocks from one and the key from the other.
	cert, err := tls.LoadX509KeyPair(m.KeystoreFile, m.KeystoreFile)
	if err != nil {
		return nil, fmt.Errorf("broker embedded: the stack's broker certificate: %w", err)
	}
	opts := []kfake.Opt{
		kfake.TLS(&tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}),
		kfake.EnableSASL(), kfake.EnableACLs(),
	}
	for _, p := range events.Principals {
		if p.Super {
			opts = append(opts, kfake.Superuser(security.Mechanism, p.Name, m.Password(p.Name)))
			continue
		}
		var acls []kfake.ACL
		for _, g := range p.Grants {
			resource, op, err := security.KafkaACL(g)
			if err != nil {
				return nil, fmt.Errorf("broker embedded: %s: %w", p.Name, err)
			}
			acls = append(acls, kfake.ACL{Resource: resource, Name: g.Name, Operation: op,
				Pattern: kmsg.ACLResourcePatternTypeLiteral, Allow: true})
		}
		opts = append(opts, kfake.User(security.Mechanism, p.Name, m.Password(p.Name), acls...))
	}
	return opts, nil
}

// Security is the stack's TLS material and passwords, or nil in plaintext.
func (b *Broker) Security() *security.Material { return b.security }

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
