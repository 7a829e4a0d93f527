package topics

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl/scram"
	"github.com/twmb/franz-go/pkg/kfake"
)

func cluster(t *testing.T, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// TestCreateOnEveryBroker: on a three-broker cluster Create returns once
// every broker answers with a leader for every partition, and creating
// topics again (some exist, some are new) is no error.
func TestCreateOnEveryBroker(t *testing.T) {
	c := cluster(t, kfake.NumBrokers(3))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	suffix := fmt.Sprint(time.Now().UnixNano())
	a, b := Topic{"topics-a-" + suffix, 3}, Topic{"topics-b-" + suffix, 2}
	if err := Create(ctx, c.ListenAddrs(), nil, 3, a); err != nil {
		t.Fatal(err)
	}
	if err := Create(ctx, c.ListenAddrs(), nil, 3, a, b); err != nil {
		t.Fatalf("creating an existing topic beside a new one: %v", err)
	}
	for _, addr := range c.ListenAddrs() {
		conn, err := kafka.DialContext(ctx, "tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		parts, err := conn.ReadPartitions(a.Name, b.Name)
		conn.Close()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		for _, p := range parts {
			if p.Leader.Host != "" {
				got[p.Topic]++
			}
		}
		if got[a.Name] != 3 || got[b.Name] != 2 {
			t.Errorf("broker %s leads %v, want 3 partitions of %s and 2 of %s", addr, got, a.Name, b.Name)
		}
	}
}

// TestCreateSignsIn: with the dialer's SCRAM credentials Create works on a
// locked-down broker; without them it fails, naming the topics, once ctx ends.
func TestCreateSignsIn(t *testing.T) {
	c := cluster(t, kfake.NumBrokers(1), kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "kit", "kit-password"))
	mech, err := scram.Mechanism(scram.SHA512, "kit", "kit-password")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topic := Topic{fmt.Sprint("topics-secure-", time.Now().UnixNano()), 3}
	if err := Create(ctx, c.ListenAddrs(), &kafka.Dialer{Timeout: 5 * time.Second, SASLMechanism: mech}, 1, topic); err != nil {
		t.Fatalf("signed in: %v", err)
	}
	short, cancelShort := context.WithTimeout(ctx, 2*time.Second)
	defer cancelShort()
	err = Create(short, c.ListenAddrs(), nil, 1, Topic{topic.Name + "-plain", 1})
	if err == nil || !strings.Contains(err.Error(), topic.Name+"-plain") {
		t.Errorf("plaintext on a SASL broker: %v, want an error naming the topic", err)
	}
}
