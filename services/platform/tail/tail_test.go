package tail

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl/scram"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/kafkakit/kit/services/platform/httpx"
)

// TestTailNotReadyWithAWrongPassword: a tail whose password the broker
// refuses keeps the service not ready, saying why on /readyz (without the
// broker's address) and naming the broker in the full reason, no password.
func TestTailNotReadyWithAWrongPassword(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "orders.status"),
		kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "notifications-api", "the-right-password"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	mech, err := scram.Mechanism(scram.SHA512, "notifications-api", "a-wrong-password")
	if err != nil {
		t.Fatal(err)
	}
	tail := &Tail{Brokers: c.ListenAddrs(), Dialer: &kafka.Dialer{SASLMechanism: mech}, Topic: "orders.status",
		Start: func(first, end int64) int64 { return first }, Handle: func(kafka.Message) {},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	go tail.Run(ctx)
	var reason error
	for reason == nil || !strings.Contains(reason.Error(), "SASL") {
		select {
		case <-ctx.Done():
			t.Fatalf("the tail never said the broker refused its password; last: %v", reason)
		case <-time.After(20 * time.Millisecond):
		}
		reason = tail.Ready(ctx)
	}
	addr := c.ListenAddrs()[0]
	if !strings.Contains(reason.Error(), addr) {
		t.Errorf("reason %q does not name the broker %s", reason, addr)
	}
	if public := httpx.PublicReason(reason); !strings.Contains(public, "SASL") || strings.Contains(public, addr) {
		t.Errorf("public reason %q: want the SASL refusal without the broker's address", public)
	}
	if strings.Contains(reason.Error(), "password") && strings.Contains(reason.Error(), "a-wrong-password") {
		t.Errorf("reason %q shows the password", reason)
	}
}
