package httpx

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Check is one readiness condition; it returns nil when satisfied.
type Check func(ctx context.Context) error

// Health answers /healthz: the process is alive and serving.
func Health() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		Encode(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}

// Ready answers /readyz: 200 when every check passes, else 503 naming the
// failures, so orchestrators and the harness wait for real readiness. The
// body names no internal addresses or paths (see PublicReason), and a check
// must return no user data: the body is open to any client that reaches the
// port, and an order id unlocks that order's events, so a check describes a
// failure by its kind (stream.Consumer.Stuck) and leaves the text that
// quotes a record to the log. A check that needs the network belongs behind
// CachedCheck, which logs the detail.
func Ready(checks map[string]Check) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		failed := map[string]string{}
		for name, check := range checks {
			if err := check(r.Context()); err != nil {
				failed[name] = PublicReason(err)
			}
		}
		if len(failed) > 0 {
			Encode(w, http.StatusServiceUnavailable, map[string]any{"status": "not ready", "failed": failed})
			return
		}
		Encode(w, http.StatusOK, map[string]string{"status": "ready"})
	})
}

// CachedCheck runs check at once and then every interval until ctx ends,
// and returns a Check that answers the latest outcome without running
// anything: /readyz costs nothing however often it is asked, and never dials
// the broker itself. Each change of outcome is logged with the whole error,
// the detail a readiness body leaves out.
func CachedCheck(ctx context.Context, log *slog.Logger, interval time.Duration, check Check) Check {
	c := &cachedCheck{err: errors.New("not checked yet")}
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			c.refresh(ctx, log, check, max(interval, 5*time.Second))
			select {
			case <-t.C:
			case <-ctx.Done():
				return
			}
		}
	}()
	return c.get
}

type cachedCheck struct {
	mu  sync.Mutex
	err error
}

func (c *cachedCheck) get(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *cachedCheck) refresh(parent context.Context, log *slog.Logger, check Check, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	err := check(ctx)
	if parent.Err() != nil {
		return // shutting down: the outcome says nothing about the service
	}
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	c.mu.Lock()
	prev := c.err
	c.err = err
	c.mu.Unlock()
	switch {
	case err == nil && prev != nil:
		log.Info("ready", "was", prev.Error())
	case err != nil && (prev == nil || prev.Error() != err.Error()):
		log.Warn("not ready", "err", err.Error())
	}
}

// leaks matches what a stranger must not learn from an error message: a
// host:port, a URL, an absolute file path.
var leaks = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://|(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):[0-9]{1,5}\b|(^|[\s"'(=])/[^\s]`)

// PublicReason returns err's message cut before its first part (between
// ": ") that names an address, a URL or a file path, so a client learns
// what is wrong ("broker unreachable") but not where the service's
// infrastructure lives; the whole error belongs in the log.
func PublicReason(err error) string {
	msg := err.Error()
	if !leaks.MatchString(msg) {
		return msg
	}
	var kept []string
	for _, part := range strings.Split(msg, ": ") {
		if leaks.MatchString(part) {
			break
		}
		kept = append(kept, part)
	}
	if len(kept) == 0 {
		return "unavailable (details in the service log)"
	}
	return strings.Join(kept, ": ") + " (details in the service log)"
}
