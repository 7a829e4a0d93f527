package svc

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func envOf(vars map[string]string) *Env {
	return NewEnv(func(k string) string { return vars[k] })
}

func TestEnvRefusesWhatCannotWork(t *testing.T) {
	tests := []struct {
		name  string
		value string
		read  func(*Env) any
		want  any // the value read when accepted
		fails bool
	}{
		{"positive duration", "250ms", func(e *Env) any { return e.PositiveDuration("X", time.Second) }, 250 * time.Millisecond, false},
		{"positive duration unset", "", func(e *Env) any { return e.PositiveDuration("X", time.Second) }, time.Second, false},
		{"zero duration", "0", func(e *Env) any { return e.PositiveDuration("X", time.Second) }, nil, true},
		{"negative duration", "-1s", func(e *Env) any { return e.PositiveDuration("X", time.Second) }, nil, true},
		{"duration without unit", "15", func(e *Env) any { return e.PositiveDuration("X", time.Second) }, nil, true},
		{"zero where zero works", "0", func(e *Env) any { return e.Duration("X", time.Second) }, time.Duration(0), false},
		{"brokers", "kafka-0:9092, [::1]:9093", func(e *Env) any { return e.HostPorts("X", "localhost:9093") }, []string{"kafka-0:9092", "[::1]:9093"}, false},
		{"broker without port", "kafka-0", func(e *Env) any { return e.HostPorts("X", "localhost:9093") }, nil, true},
		{"broker without host", ":9092", func(e *Env) any { return e.HostPorts("X", "localhost:9093") }, nil, true},
		{"broker port 0", "kafka:0", func(e *Env) any { return e.HostPorts("X", "localhost:9093") }, nil, true},
		{"broker port words", "kafka:http", func(e *Env) any { return e.HostPorts("X", "localhost:9093") }, nil, true},
		{"broker URL", "kafka://kafka:9092", func(e *Env) any { return e.HostPorts("X", "localhost:9093") }, nil, true},
		{"brokers only commas", ",,", func(e *Env) any { return e.HostPorts("X", "localhost:9093") }, nil, true},
		{"listen any port", "127.0.0.1:0", func(e *Env) any { return e.ListenAddr("X", ":8081") }, "127.0.0.1:0", false},
		{"listen port only", ":8083", func(e *Env) any { return e.ListenAddr("X", ":8081") }, ":8083", false},
		{"listen without port", "8083", func(e *Env) any { return e.ListenAddr("X", ":8081") }, nil, true},
		{"hosts", "localhost, shop.example,[::1],.kit.example", func(e *Env) any { return e.Hosts("X") }, []string{"localhost", "shop.example", "[::1]", ".kit.example"}, false},
		{"hosts unset", "", func(e *Env) any { return e.Hosts("X") }, []string(nil), false},
		{"host with port", "localhost:8081", func(e *Env) any { return e.Hosts("X") }, nil, true},
		{"host URL", "http://localhost", func(e *Env) any { return e.Hosts("X") }, nil, true},
		{"number", "1000.5", func(e *Env) any { return e.Float("X", 1) }, 1000.5, false},
		{"number zero", "0", func(e *Env) any { return e.Float("X", 1) }, 0.0, false},
		{"negative number", "-1", func(e *Env) any { return e.Float("X", 1) }, nil, true},
		{"NaN", "NaN", func(e *Env) any { return e.Float("X", 1) }, nil, true},
		{"nan lower case", "nan", func(e *Env) any { return e.Float("X", 1) }, nil, true},
		{"infinity", "Inf", func(e *Env) any { return e.Float("X", 1) }, nil, true},
		{"plus infinity spelt out", "+Infinity", func(e *Env) any { return e.Float("X", 1) }, nil, true},
		{"minus infinity", "-Inf", func(e *Env) any { return e.Float("X", 1) }, nil, true},
		{"number too large for a float", "1e400", func(e *Env) any { return e.Float("X", 1) }, nil, true},
		{"retention", "24h", func(e *Env) any { return e.DurationAtLeast("X", time.Hour, time.Second) }, 24 * time.Hour, false},
		{"retention at the lowest", "1s", func(e *Env) any { return e.DurationAtLeast("X", time.Hour, time.Second) }, time.Second, false},
		{"retention of nanoseconds", "3ns", func(e *Env) any { return e.DurationAtLeast("X", time.Hour, time.Second) }, nil, true},
		{"retention of zero", "0", func(e *Env) any { return e.DurationAtLeast("X", time.Hour, time.Second) }, nil, true},
		{"proxies", "10.0.0.0/8, fd00::/8,192.0.2.1,10.1.2.3/16", func(e *Env) any { return e.Prefixes("X") }, "[10.0.0.0/8 fd00::/8 192.0.2.1/32 10.1.0.0/16]", false},
		{"proxies unset", "", func(e *Env) any { return e.Prefixes("X") }, "[]", false},
		{"proxy host name", "ingress.local", func(e *Env) any { return e.Prefixes("X") }, nil, true},
		{"proxy prefix too long", "10.0.0.0/33", func(e *Env) any { return e.Prefixes("X") }, nil, true},
		{"token", "0123456789abcdef", func(e *Env) any { return e.Secret("X") }, "0123456789abcdef", false},
		{"short token", "changeme", func(e *Env) any { return e.Secret("X") }, nil, true},
		{"token with a space", "0123456789 abcdef", func(e *Env) any { return e.Secret("X") }, nil, true},
	}
	for _, tt := range tests {
		e := envOf(map[string]string{"X": tt.value})
		got := tt.read(e)
		err := e.Err()
		switch {
		case tt.fails && err == nil:
			t.Errorf("%s: %q accepted as %v", tt.name, tt.value, got)
		case tt.fails && !strings.Contains(err.Error(), "X: "):
			t.Errorf("%s: error %q does not name the variable", tt.name, err)
		case !tt.fails && err != nil:
			t.Errorf("%s: %q refused: %v", tt.name, tt.value, err)
		case !tt.fails && fmt.Sprint(got) != fmt.Sprint(tt.want):
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestSecretErrorDoesNotEchoTheToken(t *testing.T) {
	e := envOf(map[string]string{"ADMIN_TOKEN": "hunter2"})
	e.Secret("ADMIN_TOKEN")
	if err := e.Err(); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error = %v, want a refusal that does not repeat the token", err)
	}
}

func TestCommonDefaultsAndHTTP(t *testing.T) {
	e := envOf(map[string]string{})
	c := e.Common()
	if err := e.Err(); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(c.Brokers) != "[localhost:9093]" || c.AdminToken != "" || c.AllowedHosts != nil ||
		c.HTTPReadTimeout != DefaultReadTimeout || c.HTTPIdleTimeout != DefaultIdleTimeout {
		t.Errorf("defaults = %+v", c)
	}
	hosts, err := c.HTTP("orders-api").Hosts()
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]bool{"localhost:8081": true, "127.0.0.1:8081": true, "[::1]:8081": true, "orders-api:8081": true, "stock-service:8084": false} {
		if got := hosts.Allows(host); got != want {
			t.Errorf("default allow-list of orders-api: Allows(%q) = %v, want %v", host, got, want)
		}
	}

	e = envOf(map[string]string{"ALLOWED_HOSTS": "shop.example"})
	hosts, err = e.Common().HTTP("orders-api").Hosts()
	if err != nil {
		t.Fatal(err)
	}
	if !hosts.Allows("shop.example") || hosts.Allows("localhost") {
		t.Error("ALLOWED_HOSTS does not replace the default list")
	}
}

func TestCommonRefusesEveryBadVariableAtOnce(t *testing.T) {
	e := envOf(map[string]string{
		"KAFKA_BROKERS":     "localhost",
		"HTTP_IDLE_TIMEOUT": "0",
		"ALLOWED_HOSTS":     "localhost:8081",
		"HTTP_READ_TIMEOUT": "-1s",
		"ADMIN_TOKEN":       "short",
	})
	e.Common()
	err := e.Err()
	if err == nil {
		t.Fatal("bad configuration accepted")
	}
	for _, key := range []string{"KAFKA_BROKERS", "HTTP_IDLE_TIMEOUT", "ALLOWED_HOSTS", "HTTP_READ_TIMEOUT", "ADMIN_TOKEN"} {
		if !strings.Contains(err.Error(), key+": ") {
			t.Errorf("error %q does not name %s", err, key)
		}
	}
}

func TestOTLPEndpoint(t *testing.T) {
	for _, tt := range []struct {
		endpoint, protocol string
		want               string
		fails              bool
	}{
		{"", "", "", false},
		{"http://collector:4318", "", "http://collector:4318", false},
		{"https://otel.example.com", "http/protobuf", "https://otel.example.com", false},
		{"collector:4318", "", "", true},
		{"grpc://collector:4317", "", "", true},
		{"http://collector:4317", "grpc", "", true},
	} {
		e := envOf(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": tt.endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": tt.protocol})
		got := e.OTLPEndpoint()
		err := e.Err()
		switch {
		case tt.fails && (err == nil || !strings.Contains(err.Error(), "OTEL_EXPORTER_OTLP_")):
			t.Errorf("%q (%q): got %q, %v; want an error naming the variable", tt.endpoint, tt.protocol, got, err)
		case !tt.fails && (err != nil || got != tt.want):
			t.Errorf("%q (%q): got %q, %v; want %q", tt.endpoint, tt.protocol, got, err, tt.want)
		}
	}
}
