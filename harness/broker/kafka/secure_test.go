package kafka_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkakit/kit/harness/broker"
	"github.com/kafkakit/kit/harness/broker/kafka"
	"github.com/kafkakit/kit/harness/broker/security"
	"github.com/kafkakit/kit/services/events"
)

// TestSecureBroker starts a locked-down broker (SECURITY=sasl_ssl) and
// holds it to what the kit promises: nothing without credentials, nothing
// with a wrong password, and each principal exactly its grants.
func TestSecureBroker(t *testing.T) { testSecure(t, 1) }

// TestSecureCluster is TestSecureBroker on three brokers, which replicate
// to each other over SASL_SSL as the broker user: an acknowledged write
// (acks=all, min.insync.replicas 2) proves the brokers signed in to each
// other.
func TestSecureCluster(t *testing.T) { testSecure(t, 3) }

func testSecure(t *testing.T, brokers int) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	m, err := security.Generate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b := startKafka(ctx, t, kafka.Options{Brokers: brokers, Security: m})
	if err := broker.CreateTopics(ctx, b, broker.KitTopics()); err != nil {
		t.Fatalf("CreateTopics as the kit: %v", err)
	}

	produce := func(opts []kgo.Opt, topic string) error {
		// Not idempotent: the services (kafka-go) are not, and an idempotent
		// producer would also need IdempotentWrite on the cluster.
		cl, err := kgo.NewClient(slices.Concat([]kgo.Opt{kgo.SeedBrokers(b.Addrs()...), kgo.DisableIdempotentWrite(),
			kgo.RecordRetries(1), kgo.RetryTimeout(5 * time.Second)}, opts)...)
		if err != nil {
			return err
		}
		defer cl.Close()
		pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		return cl.ProduceSync(pctx, &kgo.Record{Topic: topic, Key: []byte("k"), Value: []byte("{}")}).FirstErr()
	}
	as := func(user string) []kgo.Opt { return m.KgoOpts(user, m.Password(user)) }

	if err := produce(as(events.PrincipalOrdersProcessor), events.TopicOrdersStatus); err != nil {
		t.Errorf("orders-processor writing orders.status: %v, want it allowed", err)
	}
	if err := produce(as(events.PrincipalStockService), events.TopicOrdersStatus); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Errorf("stock-service writing orders.status: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	if err := produce(m.KgoOpts(events.PrincipalOrdersAPI, "wrong"), events.TopicOrdersCreated); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Errorf("orders-api with a wrong password: %v, want SASL_AUTHENTICATION_FAILED", err)
	}
	if err := produce(nil, events.TopicOrdersCreated); err == nil {
		t.Error("a plaintext client without credentials wrote orders.created; want it refused")
	}
}
