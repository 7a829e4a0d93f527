package svc

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/kafkakit/kit/services/events"
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
	v := e.String(key, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		e.errs = append(e.errs, fmt.Errorf("%s: want a non-negative duration such as 250ms, got %q", key, v))
		return def
	}
	return d
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

// Float returns key as a non-negative number, or def when unset.
func (e *Env) Float(key string, def float64) float64 {
	v := e.String(key, "")
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 {
		e.errs = append(e.errs, fmt.Errorf("%s: want a non-negative number, got %q", key, v))
		return def
	}
	return f
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
	DebugAddr         string
	Brokers           []string
	OrdersTopic       string
	ReservationsTopic string
	StatusTopic       string
	InventoryTopic    string
	// BatchTimeout is the producers' linger (PRODUCER_BATCH_TIMEOUT).
	BatchTimeout time.Duration
}

// Common reads LOG_LEVEL, KAFKA_BROKERS, the topic names and
// PRODUCER_BATCH_TIMEOUT with the defaults in DESIGN.md.
func (e *Env) Common() Common {
	return Common{
		LogLevel:          e.LogLevel(),
		DebugAddr:         e.String("DEBUG_ADDR", ""),
		Brokers:           e.List("KAFKA_BROKERS", "localhost:9093"),
		OrdersTopic:       e.String("ORDERS_TOPIC", events.TopicOrdersCreated),
		ReservationsTopic: e.String("RESERVATIONS_TOPIC", events.TopicStockReservations),
		StatusTopic:       e.String("STATUS_TOPIC", events.TopicOrdersStatus),
		InventoryTopic:    e.String("INVENTORY_TOPIC", events.TopicInventoryUpdated),
		BatchTimeout:      e.Duration("PRODUCER_BATCH_TIMEOUT", time.Millisecond),
	}
}
