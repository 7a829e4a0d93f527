package harness_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkakit/kit/harness"
	"github.com/kafkakit/kit/harness/broker/embedded"
	"github.com/kafkakit/kit/harness/broker/security"
	"github.com/kafkakit/kit/harness/internal/syncbuf"
	"github.com/kafkakit/kit/services/events"
)

// TestSecureEmbeddedStack runs the stack with SECURITY=sasl_ssl on the
// embedded broker: every service signs in as its own principal over TLS and
// an order is paid; a client without credentials is refused; and the broker
// says, loudly, that it enforces no ACL.
func TestSecureEmbeddedStack(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var logs syncbuf.Buffer
	stack, err := harness.Start(ctx, harness.Options{Security: "sasl_ssl", Log: &logs,
		ServiceEnv: map[string]string{"PAYMENT_DELAY": "0"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stack.Close(context.Background()) })
	if !strings.Contains(logs.String(), embedded.NotEnforced) {
		t.Errorf("the embedded broker did not say what it does not enforce; want the line %q", embedded.NotEnforced)
	}
	m := stack.Security()
	if m == nil {
		t.Fatal("Security() = nil on a sasl_ssl stack")
	}
	c := stack.Client()
	if err := c.Seed(ctx, map[string]int{"SECURE-1": 5}); err != nil {
		t.Fatal(err)
	}
	id, resp, err := c.PlaceOrder(ctx, harness.OrderRequest{UserID: "secure", Items: []harness.Item{{SKU: "SECURE-1", Qty: 1}}, Total: 10, Currency: "EUR"})
	if err != nil || id == "" {
		t.Fatalf("place order: %v (%d %s)", err, resp.Status, resp.Body)
	}
	got := statusesOf(ctx, t, c, id)
	if want := []events.Status{events.StatusCreated, events.StatusProcessing, events.StatusPaid}; !slices.Equal(got, want) {
		t.Fatalf("statuses = %v, want %v\n%s", got, want, stack.Logs(harness.OrdersProcessor))
	}
	for _, name := range harness.Services {
		for _, pw := range []string{m.Password(name), m.Password(events.PrincipalKit)} {
			if strings.Contains(stack.Logs(name), pw) {
				t.Errorf("%s's log shows a password", name)
			}
		}
	}

	// TLS that trusts the stack's CA but no credentials: refused.
	cl, err := kgo.NewClient(kgo.SeedBrokers(stack.BrokerAddrs()...), kgo.DialTLSConfig(m.ClientTLS()), kgo.RequestRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.Request(ctx, kmsg.NewPtrMetadataRequest()); err == nil {
		t.Error("a client without credentials got metadata from the secure embedded broker")
	}
}

// TestSecureStackWithAWrongPassword starts every service with a password
// the broker refuses: none crashes, none is ready, and each says why —
// Kafka's refusal — on /readyz; no password shows.
func TestSecureStackWithAWrongPassword(t *testing.T) {
	if _, err := harness.Build(context.Background()); err != nil {
		t.Fatal(err) // built first, so the deadline below is the services'
	}
	wrong := filepath.Join(t.TempDir(), "wrong.password")
	if err := os.WriteFile(wrong, []byte("not-the-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Long enough for every service to start and answer /readyz on a busy
	// machine: the stack never gets ready, so this is how long Start waits.
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	stack, err := harness.Start(ctx, harness.Options{Security: "sasl_ssl", Log: io.Discard,
		ServiceEnv: map[string]string{"KAFKA_SASL_PASSWORD_FILE": wrong}})
	if err == nil {
		_ = stack.Close(context.Background())
		t.Fatal("the stack started ready with a wrong password")
	}
	t.Logf("Start: %v", err)
	for _, name := range harness.Services {
		if !strings.Contains(err.Error(), name+" not ready") {
			t.Errorf("%s: want it running, not ready; Start said: %v", name, err)
		}
	}
	if strings.Contains(err.Error(), "exited") {
		t.Errorf("a service exited rather than waiting: %v", err)
	}
	if n := strings.Count(err.Error(), "SASL Authentication Failed"); n < len(harness.Services) {
		t.Errorf("%d of %d services say Kafka refused their password: %v", n, len(harness.Services), err)
	}
	if strings.Contains(err.Error(), "not-the-password") {
		t.Error("a readiness answer shows the password")
	}
}

// TestMaterialIsForALockedDownExternalBroker: material from outside is
// refused unless it is for an external broker locked down with it, before
// anything starts.
func TestMaterialIsForALockedDownExternalBroker(t *testing.T) {
	m, err := security.Generate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, opts := range []harness.Options{
		{Material: m, Security: "sasl_ssl"},
		{Material: m, Broker: "external", BrokerAddrs: []string{"127.0.0.1:1"}},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := harness.Start(ctx, opts)
		cancel()
		if err == nil || !strings.Contains(err.Error(), "Material") {
			t.Errorf("Start(%+v) = %v, want a refusal naming Material", opts, err)
		}
	}
}
