package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kafkakit/kit/harness"
	"github.com/kafkakit/kit/harness/broker/security"
	"github.com/kafkakit/kit/services/events"
)

// TestConnect: a kit command signs in as the running locked-down stack's
// settings say when it talks to that stack's brokers, as the environment
// says when it names a protocol, and refuses half a setting.
func TestConnect(t *testing.T) {
	isolateSettings(t)
	m, err := security.Generate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	dir, err := settingsDir()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	settings := strings.Join([]string{
		"KAFKA_BROKERS=127.0.0.1:19093",
		"KAFKA_SECURITY_PROTOCOL=SASL_SSL",
		"KAFKA_SASL_USERNAME=kit",
		"KAFKA_SASL_PASSWORD_FILE=" + m.PasswordFile("kit"),
		"KAFKA_CA_FILE=" + m.CAFile,
	}, "\n")
	if err := os.WriteFile(filepath.Join(dir, "client.env"), []byte(settings), 0o600); err != nil {
		t.Fatal(err)
	}
	stack := []string{"127.0.0.1:19093"}
	tests := []struct {
		name    string
		brokers []string
		env     map[string]string
		secure  bool
		wantErr string
	}{
		{"the stack's brokers", stack, nil, true, ""},
		{"other brokers", []string{"127.0.0.1:29093"}, nil, false, ""},
		{"PLAINTEXT asked for", stack, map[string]string{"KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"}, false, ""},
		{"half a setting", stack, map[string]string{"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_USERNAME": "kit"}, false, "KAFKA_SASL_PASSWORD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := connect(tt.brokers, func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("connect = %v, want an error naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.dialer != nil && c.dialer.TLS != nil && c.dialer.SASLMechanism != nil; got != tt.secure {
				t.Errorf("signs in over TLS = %v, want %v", got, tt.secure)
			}
		})
	}
}

// TestKitSignsInToASecureStack: with a locked-down stack running (here on
// the embedded broker, free ports), kit topics signs in as the kit from the
// settings kit up writes, with no flag or variable; without them it cannot.
func TestKitSignsInToASecureStack(t *testing.T) {
	isolateSettings(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	stack, err := harness.Start(ctx, harness.Options{Security: "sasl_ssl", Log: io.Discard,
		ServiceEnv: map[string]string{"PAYMENT_DELAY": "0"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stack.Close(context.Background()) })
	if _, err := writeSettings(stack); err != nil {
		t.Fatal(err)
	}
	brokers := strings.Join(stack.BrokerAddrs(), ",")
	out := mustKit(t, ctx, "topics", "-brokers", brokers)
	if !strings.Contains(out, events.TopicOrdersStatus) {
		t.Errorf("kit topics on the secure stack does not list %s:\n%s", events.TopicOrdersStatus, out)
	}
	removeSettings()
	short, cancelShort := context.WithTimeout(ctx, 20*time.Second)
	defer cancelShort()
	if out, _, err := kit(short, "topics", "-brokers", brokers); err == nil {
		t.Errorf("kit topics without the stack's settings listed the secure stack's topics:\n%s", out)
	}
}

// isolateSettings gives the test a cache directory of its own, so the
// stack settings it writes are not a running kit up's, while Go keeps its
// build cache, and the harness its built services, where they were (both
// live in the user's cache directory too).
func isolateSettings(t *testing.T) {
	t.Helper()
	if os.Getenv("GOCACHE") == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			t.Fatal(err)
		}
		t.Setenv("GOCACHE", filepath.Join(dir, "go-build"))
	}
	services, err := harness.BuildCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(harness.BuildCacheVariable, services)
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
}

// TestLoopbackNamesMatchTheStacksSettings: the default localhost:9093 is the
// 127.0.0.1:9093 a locked-down `kit up` writes in its settings — before, they
// did not match, so `kit tail` spoke plaintext to the locked-down broker.
func TestLoopbackNamesMatchTheStacksSettings(t *testing.T) {
	tests := []struct{ in, want []string }{
		{[]string{"localhost:9093"}, []string{"127.0.0.1:9093"}},
		{[]string{"[::1]:9093", "127.0.0.1:9094"}, []string{"127.0.0.1:9093", "127.0.0.1:9094"}},
		{[]string{"kafka.example:9093", "nonsense"}, []string{"kafka.example:9093", "nonsense"}},
	}
	for _, tt := range tests {
		if got := loopbackAs127(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("loopbackAs127(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
