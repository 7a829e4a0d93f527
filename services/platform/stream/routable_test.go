package stream

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl/scram"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/kafkakit/kit/services/platform/httpx"
)

func TestUnroutable(t *testing.T) {
	led := func(ids ...int) []kafka.Partition {
		var ps []kafka.Partition
		for _, id := range ids {
			ps = append(ps, kafka.Partition{ID: id, Leader: kafka.Broker{ID: 0}})
		}
		return ps
	}
	tests := []struct {
		name   string
		topics []kafka.Topic
		want   []string // substrings of the error; none means routable
	}{
		{"every partition led", []kafka.Topic{{Name: "orders.created", Partitions: led(0, 1, 2)}}, nil},
		{"unknown topic (a restarted broker that does not know its topics yet)",
			[]kafka.Topic{{Name: "orders.created", Error: kafka.UnknownTopicOrPartition}},
			[]string{"orders.created: [3] Unknown Topic Or Partition"}},
		{"no partitions", []kafka.Topic{{Name: "orders.status"}}, []string{"orders.status: no partitions"}},
		{"a partition without a leader", []kafka.Topic{{Name: "orders.created", Partitions: append(led(0, 1),
			kafka.Partition{ID: 2, Leader: kafka.Broker{ID: -1}, Error: kafka.LeaderNotAvailable})}},
			[]string{"orders.created/2: no leader"}},
		{"every problem is named", []kafka.Topic{
			{Name: "orders.created", Error: kafka.UnknownTopicOrPartition},
			{Name: "inventory.updated", Partitions: led(0)},
			{Name: "orders.status"},
		}, []string{"orders.created:", "orders.status:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := unroutable(tt.topics)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("unroutable = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("unroutable = nil, want an error naming %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("unroutable = %q, want it to name %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "inventory.updated") {
				t.Errorf("unroutable = %q names a routable topic", err)
			}
		})
	}
}

func TestReachableNamesEveryBrokerThatDoesNotAnswer(t *testing.T) {
	// A port that was just free refuses connections: a broker that is down.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	ln.Close()
	// A listener that hangs up at once: something that is not Kafka.
	notKafka, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer notKafka.Close()
	go func() {
		for {
			c, err := notKafka.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	err = Reachable(context.Background(), []string{down, notKafka.Addr().String()}, nil)
	if err == nil {
		t.Fatal("reachable = nil for a closed port and a listener that hangs up, want an error")
	}
	for _, want := range []string{"broker unreachable", down} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("reachable = %q, want it to name %q", err, want)
		}
	}
}

// TestReachableNamesTheBrokerAndAnUntrustedCertificate: a producer that
// speaks TLS to a broker whose certificate it does not trust is not ready,
// and the reason names the broker and the certificate, not a bare EOF.
func TestReachableNamesTheBrokerAndAnUntrustedCertificate(t *testing.T) {
	// httptest's TLS server presents a certificate of its own CA, which
	// the dialer (trusting the system's roots only) does not know.
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.StartTLS()
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	err := Reachable(context.Background(), []string{addr}, &kafka.Dialer{TLS: &tls.Config{MinVersion: tls.VersionTLS12}})
	if err == nil {
		t.Fatal("reachable = nil through TLS to an untrusted certificate, want an error")
	}
	for _, want := range []string{addr, "certificate"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("reachable = %q, want it to name %q", err, want)
		}
	}
	if public := httpx.PublicReason(err); !strings.Contains(public, "certificate not trusted") {
		t.Errorf("public reason %q: want it to say the broker's certificate is not trusted", public)
	}
}

// TestRoutableWithAWrongPassword: a producer whose SASL password the broker
// refuses is not ready; the reason names the broker and the refusal, the
// public part of it still says why, and the password shows nowhere.
func TestRoutableWithAWrongPassword(t *testing.T) {
	const password = "the-right-password-123"
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "secured"),
		kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "orders-api", password))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	dial := func(pw string) *kafka.Dialer {
		mech, err := scram.Mechanism(scram.SHA512, "orders-api", pw)
		if err != nil {
			t.Fatal(err)
		}
		return &kafka.Dialer{SASLMechanism: mech}
	}
	check := func(pw string) error {
		p := NewProducer(c.ListenAddrs(), "secured", ProducerConfig{Dialer: dial(pw)})
		t.Cleanup(func() { p.Close() })
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return Routable(c.ListenAddrs(), p, "secured")(ctx)
	}
	if err := check(password); err != nil {
		t.Fatalf("Routable with the right password = %v, want nil", err)
	}
	err = check("a-wrong-one")
	if err == nil {
		t.Fatal("Routable with a wrong password = nil, want not ready")
	}
	addr := c.ListenAddrs()[0]
	for _, want := range []string{addr, "SASL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Routable = %q, want it to name %q", err, want)
		}
	}
	t.Logf("not ready: %v", err)
	if public := httpx.PublicReason(err); !strings.Contains(public, "SASL") || strings.Contains(public, addr) {
		t.Errorf("public reason %q: want the SASL refusal without the broker's address", public)
	}
	if strings.Contains(err.Error(), "a-wrong-one") || strings.Contains(err.Error(), password) {
		t.Errorf("Routable = %q shows a password", err)
	}
}
