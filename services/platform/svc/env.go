package svc

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/kafkakit/kit/services/platform/httpx"
	"github.com/kafkakit/kit/services/platform/schemaid"
)

// Env reads a service's configuration from the environment once: each
// getter returns the default when the variable is unset and records a clear
// error when it is set but unusable. Err reports them all together.
type Env struct {
	getenv func(string) string
	errs   []error
}

// NewEnv reads from getenv (os.Getenv in main, a map in tests).
func NewEnv(getenv func(string) string) *Env { return &Env{getenv: getenv} }

// String returns key's value, or def when unset.
func (e *Env) String(key, def string) string {
	if v := strings.TrimSpace(e.getenv(key)); v != "" {
		return v
	}
	return def
}

// List returns key's comma-separated values, or def when unset.
func (e *Env) List(key, def string) []string {
	var out []string
	for _, v := range strings.Split(e.String(key, def), ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		e.errs = append(e.errs, fmt.Errorf("%s: no value in %q", key, e.getenv(key)))
	}
	return out
}

// Duration returns key as a Go duration ("250ms", "2s"), or def when unset.
func (e *Env) Duration(key string, def time.Duration) time.Duration {
	return e.duration(key, def, 0, "a non-negative duration such as 250ms")
}

// PositiveDuration returns key as a Go duration above zero, or def when
// unset: for timeouts, intervals and waits, where zero cannot work (a zero
// ticker panics, a zero write deadline drops every stream).
func (e *Env) PositiveDuration(key string, def time.Duration) time.Duration {
	return e.duration(key, def, time.Nanosecond, "a duration above zero such as 250ms or 2m")
}

// DurationAtLeast returns key as a Go duration of at least lowest, or def
// when unset: for a retention that something derives an interval from,
// where a few nanoseconds parse but cannot work.
func (e *Env) DurationAtLeast(key string, def, lowest time.Duration) time.Duration {
	return e.duration(key, def, lowest, fmt.Sprintf("a duration of at least %v such as 24h", lowest))
}

// duration returns key as a Go duration of at least lowest, or def when
// unset; otherwise it records that the variable wants what want says.
func (e *Env) duration(key string, def, lowest time.Duration, want string) time.Duration {
	v := e.String(key, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < lowest {
		e.errs = append(e.errs, fmt.Errorf("%s: want %s, got %q", key, want, v))
		return def
	}
	return d
}

// HostPorts returns key's comma-separated host:port pairs (a broker list),
// or def's when unset. Each needs a host and a port from 1 to 65535.
func (e *Env) HostPorts(key, def string) []string {
	list := e.List(key, def)
	for _, hp := range list {
		host, port, err := net.SplitHostPort(hp)
		if err == nil && host == "" {
			err = errors.New("no host")
		}
		if n, perr := strconv.Atoi(port); err == nil && (perr != nil || n < 1 || n > 65535) {
			err = errors.New("port must be 1 to 65535")
		}
		if err != nil {
			e.errs = append(e.errs, fmt.Errorf("%s: want host:port[,host:port...], got %q (%v)", key, hp, err))
		}
	}
	return list
}

// ListenAddr returns key as an address to listen on ([host]:port, port 0
// for any free one), or def when unset.
func (e *Env) ListenAddr(key, def string) string {
	v := e.String(key, def)
	if v == "" {
		return v
	}
	_, port, err := net.SplitHostPort(v)
	if n, perr := strconv.Atoi(port); err == nil && (perr != nil || n < 0 || n > 65535) {
		err = errors.New("port must be 0 to 65535")
	}
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s: want [host]:port such as :8081 or 127.0.0.1:0, got %q (%v)", key, v, err))
		return def
	}
	return v
}

// Hosts returns key as a Host allow-list (see httpx.ParseHosts), or nil
// when unset.
func (e *Env) Hosts(key string) []string {
	if e.String(key, "") == "" {
		return nil
	}
	list := e.List(key, "")
	if _, err := httpx.ParseHosts(list); err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s: %w", key, err))
		return nil
	}
	return list
}

// Prefixes returns key's comma-separated CIDR blocks (10.0.0.0/8,
// fd00::/8) or single addresses, or nil when unset: the networks of trusted
// reverse proxies.
func (e *Env) Prefixes(key string) []netip.Prefix {
	if e.String(key, "") == "" {
		return nil
	}
	var out []netip.Prefix
	for _, v := range e.List(key, "") {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			a, aerr := netip.ParseAddr(v)
			if aerr != nil {
				e.errs = append(e.errs, fmt.Errorf("%s: want CIDR blocks or addresses such as 10.0.0.0/8,fd00::/8,192.0.2.1, got %q", key, v))
				return nil
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		out = append(out, p.Masked())
	}
	return out
}

// Secret returns key's value, "" when unset: a token of at least 16
// characters without spaces, since a short one can be guessed.
func (e *Env) Secret(key string) string {
	v := e.String(key, "")
	if v != "" && (len(v) < 16 || strings.ContainsAny(v, " \t")) {
		e.errs = append(e.errs, fmt.Errorf("%s: want at least 16 characters without spaces (e.g. openssl rand -hex 16), got %d characters", key, len(v)))
		return ""
	}
	return v
}

// Int returns key as an integer of at least lowest, or def when unset.
func (e *Env) Int(key string, def, lowest int) int {
	v := e.String(key, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lowest {
		e.errs = append(e.errs, fmt.Errorf("%s: want a whole number >= %d, got %q", key, lowest, v))
		return def
	}
	return n
}

// Float returns key as a finite non-negative number, or def when unset.
// NaN and infinities parse but cannot work: every comparison with NaN is
// false (a limit of NaN refuses nothing), and an infinite limit is no limit.
func (e *Env) Float(key string, def float64) float64 {
	v := e.String(key, "")
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || !(f >= 0) || math.IsInf(f, 0) {
		e.errs = append(e.errs, fmt.Errorf("%s: want a finite non-negative number, got %q", key, v))
		return def
	}
	return f
}

// OTLPEndpoint returns OTEL_EXPORTER_OTLP_ENDPOINT, the base URL of an
// OpenTelemetry collector that takes OTLP over HTTP (http://host:4318), or
// "" when unset: then traces propagate but are not exported. The exporter
// speaks http/protobuf only, so OTEL_EXPORTER_OTLP_PROTOCOL, when set,
// must say so.
func (e *Env) OTLPEndpoint() string {
	v := e.String("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	if v == "" {
		return ""
	}
	if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		e.errs = append(e.errs, fmt.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT: want a collector's base URL such as http://localhost:4318, got %q", v))
		return ""
	}
	if p := e.String("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"); p != "http/protobuf" {
		e.errs = append(e.errs, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL: only http/protobuf is supported (a collector's port 4318), got %q", p))
		return ""
	}
	return v
}

// LogLevel returns LOG_LEVEL (debug, info, warn, error), default info.
// Every service logs one info line per order; a load test sets warn.
func (e *Env) LogLevel() slog.Level {
	v := e.String("LOG_LEVEL", "info")
	var l slog.Level
	if err := l.UnmarshalText([]byte(v)); err != nil {
		e.errs = append(e.errs, fmt.Errorf("LOG_LEVEL: want debug, info, warn or error, got %q", v))
		return slog.LevelInfo
	}
	return l
}

// DefaultGCPercent sets the garbage collector's target to percent unless
// GOGC says otherwise. The order-path services keep a small live heap and
// allocate per record, so collecting less often buys CPU, the scarce thing
// under load, for a few megabytes.
func DefaultGCPercent(getenv func(string) string, percent int) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(percent)
	}
}

// Err returns every problem found so far, or nil.
func (e *Env) Err() error {
	if len(e.errs) == 0 {
		return nil
	}
	return fmt.Errorf("config: %w", errors.Join(e.errs...))
}

// Common is the configuration every service shares.
type Common struct {
	LogLevel slog.Level
	// DebugAddr serves Go's profiles when set (DEBUG_ADDR).
	DebugAddr string
	Brokers   []string
	// Kafka is how the service authenticates to the brokers and checks
	// them (KAFKA_SECURITY_PROTOCOL and the rest; see kafka.go).
	Kafka KafkaSecurity
	// AdminToken opens admin endpoints to clients that present it as a
	// bearer token (ADMIN_TOKEN); unset, they answer loopback clients only.
	AdminToken string
	// AllowedHosts is ALLOWED_HOSTS, nil when unset (then: localhost,
	// 127.0.0.1, [::1] and the service's own name).
	AllowedHosts []string
	// HTTPReadTimeout bounds reading a whole request, body included
	// (HTTP_READ_TIMEOUT); HTTPIdleTimeout closes idle keep-alive
	// connections (HTTP_IDLE_TIMEOUT).
	HTTPReadTimeout time.Duration
	HTTPIdleTimeout time.Duration
	// ShutdownDelay keeps a stopping service answering, not ready, for
	// this long before it stops accepting (SHUTDOWN_DELAY, default 0).
	ShutdownDelay time.Duration
	// OTLPEndpoint exports traces there when set
	// (OTEL_EXPORTER_OTLP_ENDPOINT).
	OTLPEndpoint string
	// RegistryURL is the schema registry's Confluent-compatible API
	// (SCHEMA_REGISTRY_URL): where producers register their schemas and
	// consumers resolve the ids on the wire.
	RegistryURL string
}

// HTTP is the edge configuration of service name, for NewEdge.
func (c Common) HTTP(name string) HTTP {
	return HTTP{Name: name, AllowedHosts: c.AllowedHosts, AdminToken: c.AdminToken,
		ReadTimeout: c.HTTPReadTimeout, IdleTimeout: c.HTTPIdleTimeout, ShutdownDelay: c.ShutdownDelay}
}

// Common reads what every service shares, with the defaults in DESIGN.md.
func (e *Env) Common() Common {
	return Common{
		LogLevel:        e.LogLevel(),
		DebugAddr:       e.ListenAddr("DEBUG_ADDR", ""),
		Brokers:         e.HostPorts("KAFKA_BROKERS", "localhost:9093"),
		Kafka:           e.KafkaSecurity(),
		AdminToken:      e.Secret("ADMIN_TOKEN"),
		AllowedHosts:    e.Hosts("ALLOWED_HOSTS"),
		HTTPReadTimeout: e.PositiveDuration("HTTP_READ_TIMEOUT", DefaultReadTimeout),
		HTTPIdleTimeout: e.PositiveDuration("HTTP_IDLE_TIMEOUT", DefaultIdleTimeout),
		ShutdownDelay:   e.Duration("SHUTDOWN_DELAY", 0),
		OTLPEndpoint:    e.OTLPEndpoint(),
		RegistryURL:     e.String("SCHEMA_REGISTRY_URL", DefaultRegistryURL),
	}
}

// DefaultRegistryURL is the schema registry `kit up` serves, on any broker:
// Apicurio's Confluent-compatible API beside real Kafka, the in-process
// registry at the same path beside the embedded one.
const DefaultRegistryURL = "http://localhost:8085/apis/ccompat/v7"

// Schemas returns the service's schema registry client and a framer of the
// records it writes to topics: a producer frames every record with its
// topic's current schema id (registered at start; the framer's Ready is the
// readiness check that says when the registry does not answer), a consumer
// resolves the ids of what it reads.
func (c Common) Schemas(topics ...string) (*schemaid.Registry, *schemaid.Framer, error) {
	ids, err := schemaid.New(c.RegistryURL)
	if err != nil {
		return nil, nil, fmt.Errorf("config: SCHEMA_REGISTRY_URL: %w", err)
	}
	return ids, schemaid.NewFramer(ids, topics...), nil
}
