package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/kafkakit/kit/harness/broker/embedded"
	"github.com/kafkakit/kit/harness/broker/security"
	"github.com/kafkakit/kit/services/events"
)

// TestKitACLsListsThePrincipalsGrants: on a locked-down embedded broker,
// kit acls, signed in as the kit, lists one allow ACL per grant of
// events.Principals; asked about the outsider it says it has none; signed
// in as a service it is refused, saying why.
func TestKitACLsListsThePrincipalsGrants(t *testing.T) {
	isolateSettings(t)
	ctx := testContext(t)
	m, err := security.Generate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b, err := embedded.Start(ctx, embedded.Options{Security: m, Log: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	as := func(user string) func(string) string {
		env := map[string]string{
			"KAFKA_BROKERS":            strings.Join(b.Addrs(), ","),
			"KAFKA_SECURITY_PROTOCOL":  "SASL_SSL",
			"KAFKA_SASL_USERNAME":      user,
			"KAFKA_SASL_PASSWORD_FILE": m.PasswordFile(user),
			"KAFKA_CA_FILE":            m.CAFile,
		}
		return func(k string) string { return env[k] }
	}
	acls := func(getenv func(string) string, args ...string) (string, error) {
		var out, errb bytes.Buffer
		err := run(ctx, append([]string{"acls"}, args...), getenv, &out, &errb)
		return out.String(), err
	}

	out, err := acls(as(events.PrincipalKit))
	if err != nil {
		t.Fatalf("kit acls as the kit: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	rows := map[string]bool{}
	for _, l := range lines[1:] {
		rows[strings.Join(strings.Fields(l), " ")] = true
	}
	want := 0
	for _, p := range events.Principals {
		for _, g := range p.Grants {
			want++
			row := fmt.Sprintf("User:%s Allow %s %s %s Literal *", p.Name, g.Operation, titled(string(g.Resource)), g.Name)
			if !rows[row] {
				t.Errorf("kit acls lacks %q:\n%s", row, out)
			}
		}
	}
	if len(rows) != want {
		t.Errorf("kit acls lists %d ACLs, want %d (one per grant):\n%s", len(rows), want, out)
	}

	out, err = acls(as(events.PrincipalKit), "outsider", "orders-processor")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "User:outsider: no ACL") || strings.Contains(out, "User:stock-service") ||
		!strings.Contains(out, "User:orders-processor  ") {
		t.Errorf("kit acls outsider orders-processor:\n%s\nwant orders-processor's ACLs only, and the outsider named as having none", out)
	}

	if out, err := acls(as(events.PrincipalStockService)); err == nil || !strings.Contains(err.Error(), "CLUSTER_AUTHORIZATION_FAILED") && !strings.Contains(err.Error(), "Cluster Authorization Failed") {
		t.Errorf("kit acls as stock-service = %v\n%s\nwant a refusal naming the cluster authorization", err, out)
	}
}

func titled(s string) string { return strings.ToUpper(s[:1]) + s[1:] }
