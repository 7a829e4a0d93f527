package stream

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/segmentio/kafka-go"
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
	err = reachable(context.Background(), []string{down, notKafka.Addr().String()}, nil)
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
	err := reachable(context.Background(), []string{addr}, &kafka.Dialer{TLS: &tls.Config{MinVersion: tls.VersionTLS12}})
	if err == nil {
		t.Fatal("reachable = nil through TLS to an untrusted certificate, want an error")
	}
	for _, want := range []string{addr, "certificate"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("reachable = %q, want it to name %q", err, want)
		}
	}
}
