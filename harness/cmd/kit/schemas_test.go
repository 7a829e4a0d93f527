package main

import (
	"context"
	"strings"
	"testing"

	"github.com/kafkakit/kit/harness/registry"
)

func TestSchemasRefusesBadArguments(t *testing.T) {
	ctx := testContext(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"schemas"}, "want list, check or diff"},
		{[]string{"schemas", "drop"}, `unknown command "drop"`},
		{[]string{"schemas", "diff"}, "want <topic>"},
		{[]string{"schemas", "diff", "orders.status", "v1", "v1", "v1"}, "want <topic>"},
		{[]string{"schemas", "diff", "payments"}, `"payments"`},
		{[]string{"schemas", "diff", "orders.status", "v9"}, `version "v9": want v1 to v`},
		{[]string{"schemas", "list", "extra"}, `unexpected argument "extra"`},
		{[]string{"schemas", "list", "-registry", "localhost:8085"}, "-registry: want an http(s) URL"},
		{[]string{"schemas", "check", "-registry", "ftp://x"}, "-registry: want an http(s) URL"},
	}
	for _, tt := range tests {
		_, _, err := kit(ctx, tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("kit %s: error = %v, want one saying %q", strings.Join(tt.args, " "), err, tt.want)
		}
	}
}

func TestSchemasListAndDiff(t *testing.T) {
	ctx := testContext(t)
	out := mustKit(t, ctx, "schemas", "list")
	for _, subject := range []string{"orders.created-value", "stock.reservations-value", "orders.status-value", "inventory.updated-value"} {
		if !strings.Contains(out, subject+" ") {
			t.Errorf("kit schemas list does not list %s:\n%s", subject, out)
		}
	}
	// Both spellings of the topic, and a version diffed with itself.
	for _, topic := range []string{"orders.status", "orders.status-value"} {
		out = mustKit(t, ctx, "schemas", "diff", topic, "v1", "v1")
		if !strings.Contains(out, "orders.status-value v1 -> v1") || !strings.Contains(out, "no change") {
			t.Errorf("kit schemas diff %s v1 v1 =\n%s", topic, out)
		}
	}
}

// TestSchemasCheckRefusesARegistryThatChecksNothing: the in-process
// registry accepts every change, so the gate must not pass on it.
func TestSchemasCheckRefusesARegistryThatChecksNothing(t *testing.T) {
	ctx := testContext(t)
	reg, err := registry.StartInProcess(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close(context.Background()) })
	_, _, err = kit(ctx, "schemas", "check", "-registry", reg.URL())
	if err == nil || !strings.Contains(err.Error(), "does not check compatibility") {
		t.Fatalf("kit schemas check on the in-process registry: %v, want it refused", err)
	}
	out := mustKit(t, ctx, "schemas", "list", "-registry", reg.URL())
	if !strings.Contains(out, "registry: not registered") {
		t.Errorf("kit schemas list on an empty registry:\n%s", out)
	}
}
