package svc

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kafkakit/kit/services/platform/svc/svctest"
)

func TestKafkaSecurity(t *testing.T) {
	ca := svctest.WriteCA(t)
	dir := t.TempDir()
	passwordFile := filepath.Join(dir, "password")
	emptyFile := filepath.Join(dir, "empty")
	notPEM := filepath.Join(dir, "not.pem")
	for path, content := range map[string]string{passwordFile: "s3cret-from-file\n", emptyFile: "\n", notPEM: "hello"} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	const password = "hunter2-very-secret"
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string // "" when the configuration is whole
		want    string // KafkaSecurity.String when whole
		tls     bool
		sasl    bool
	}{
		{"unset is plaintext", map[string]string{}, "", "PLAINTEXT", false, false},
		{"SASL_SSL with a password", map[string]string{"KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
			"KAFKA_SASL_USERNAME": "orders-api", "KAFKA_SASL_PASSWORD": password, "KAFKA_CA_FILE": ca},
			"", "SASL_SSL SCRAM-SHA-512 as orders-api, CA " + ca, true, true},
		{"SASL_SSL with a password file and SHA-256", map[string]string{"KAFKA_SECURITY_PROTOCOL": "sasl_ssl",
			"KAFKA_SASL_MECHANISM": "SCRAM-SHA-256", "KAFKA_SASL_USERNAME": "kit", "KAFKA_SASL_PASSWORD_FILE": passwordFile},
			"", "SASL_SSL SCRAM-SHA-256 as kit", true, true},
		{"SSL alone", map[string]string{"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_CA_FILE": ca},
			"", "SSL, CA " + ca, true, false},
		{"unknown protocol", map[string]string{"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT"},
			"KAFKA_SECURITY_PROTOCOL", "", false, false},
		{"no user", map[string]string{"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_PASSWORD": password},
			"KAFKA_SASL_USERNAME", "", false, false},
		{"no password", map[string]string{"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_USERNAME": "orders-api"},
			"KAFKA_SASL_PASSWORD", "", false, false},
		{"both passwords", map[string]string{"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_USERNAME": "orders-api",
			"KAFKA_SASL_PASSWORD": password, "KAFKA_SASL_PASSWORD_FILE": passwordFile},
			"KAFKA_SASL_PASSWORD_FILE", "", false, false},
		{"empty password file", map[string]string{"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_USERNAME": "orders-api",
			"KAFKA_SASL_PASSWORD_FILE": emptyFile},
			"KAFKA_SASL_PASSWORD_FILE", "", false, false},
		{"missing password file", map[string]string{"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_USERNAME": "orders-api",
			"KAFKA_SASL_PASSWORD_FILE": filepath.Join(dir, "nope")},
			"KAFKA_SASL_PASSWORD_FILE", "", false, false},
		{"unknown mechanism", map[string]string{"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "PLAIN",
			"KAFKA_SASL_USERNAME": "orders-api", "KAFKA_SASL_PASSWORD": password},
			"KAFKA_SASL_MECHANISM", "", false, false},
		{"a password for plaintext", map[string]string{"KAFKA_SASL_USERNAME": "orders-api", "KAFKA_SASL_PASSWORD": password},
			"KAFKA_SASL_USERNAME", "", false, false},
		{"a user for SSL", map[string]string{"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SASL_USERNAME": "orders-api"},
			"KAFKA_SASL_USERNAME", "", false, false},
		{"a CA for plaintext", map[string]string{"KAFKA_CA_FILE": ca},
			"KAFKA_CA_FILE", "", false, false},
		{"a CA file that is not PEM", map[string]string{"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_CA_FILE": notPEM},
			"KAFKA_CA_FILE", "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := NewEnv(func(k string) string { return tt.env[k] })
			got := e.KafkaSecurity()
			err := e.Err()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), password) {
					t.Fatalf("err %q shows the password", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v, want none", err)
			}
			var logged bytes.Buffer
			slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "kafka", got)
			for _, shown := range []string{fmt.Sprintf("%v %+v %#v", got, Common{Kafka: got}, got), logged.String()} {
				if strings.Contains(shown, password) || strings.Contains(shown, "s3cret-from-file") {
					t.Fatalf("printed configuration shows the password: %s", shown)
				}
			}
			if s := got.String(); s != tt.want {
				t.Errorf("String() = %q, want %q", s, tt.want)
			}
			d := got.Dialer()
			if (d.TLS != nil) != tt.tls || (d.SASLMechanism != nil) != tt.sasl {
				t.Errorf("Dialer TLS set %v, SASL set %v; want %v, %v", d.TLS != nil, d.SASLMechanism != nil, tt.tls, tt.sasl)
			}
			if d.SASLMechanism != nil && d.SASLMechanism.Name() != got.Mechanism {
				t.Errorf("SASL mechanism %s, want %s", d.SASLMechanism.Name(), got.Mechanism)
			}
			if tt.env["KAFKA_CA_FILE"] != "" && d.TLS.RootCAs == nil {
				t.Error("KAFKA_CA_FILE given, but the dialer trusts the system's roots")
			}
		})
	}
}

// TestCommonReadsKafkaSecurity: half a security setting fails the whole
// start-up configuration, not only its own getter.
func TestCommonReadsKafkaSecurity(t *testing.T) {
	e := NewEnv(func(k string) string {
		return map[string]string{"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_USERNAME": "orders-api"}[k]
	})
	c := e.Common()
	if err := e.Err(); err == nil || !strings.Contains(err.Error(), "KAFKA_SASL_PASSWORD") {
		t.Fatalf("Common with half a SASL setting: err = %v, want one naming KAFKA_SASL_PASSWORD", err)
	}
	if c.Kafka.Protocol != ProtocolPlaintext || c.Kafka.Username != "" {
		t.Errorf("refused setting left Kafka = %+v, want the plaintext zero", c.Kafka)
	}
}
