// Package svc is the lifecycle every service shares: configuration from the
// environment, a JSON logger, an HTTP server with guarded edges and
// timeouts that logs where it listens, and a shutdown that stops HTTP first.
package svc

import (
	"cmp"
	"context"
	"errors"
	"expvar"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof" // profiles on DEBUG_ADDR only
	"sync/atomic"
	"time"

	"github.com/kafkakit/kit/services/platform/httpx"
)

// NewLogger returns the service's JSON logger, tagged with its name.
func NewLogger(w io.Writer, service string, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})).With("service", service)
}

// Listen binds addr and logs one "listening" line with the bound address,
// which matters when addr asks for port 0.
func Listen(log *slog.Logger, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	log.Info("listening", "addr", ln.Addr().String())
	return ln, nil
}

// HTTP is how a service's server guards its edge; Common.HTTP builds it
// from the environment.
type HTTP struct {
	// Name is the service's own name (orders-api), a Host it answers to
	// unless AllowedHosts replaces the default list.
	Name         string
	AllowedHosts []string
	AdminToken   string
	// ReadTimeout bounds reading a whole request, headers and body, so a
	// client trickling a body cannot hold a connection and a goroutine for
	// longer; streaming handlers clear it for themselves. IdleTimeout closes
	// idle keep-alive connections. Zero means the default.
	ReadTimeout time.Duration
	IdleTimeout time.Duration
	// ShutdownDelay is how long a stopping service answers /readyz with 503
	// before it stops accepting connections, so that a load balancer that
	// polls readiness stops sending it requests first (Kubernetes: about
	// the readiness probe's period). Zero stops at once.
	ShutdownDelay time.Duration
}

// Edge defaults and limits.
const (
	DefaultReadTimeout = 15 * time.Second
	DefaultIdleTimeout = 60 * time.Second
	// readHeaderTimeout bounds the headers alone, well before ReadTimeout.
	readHeaderTimeout = 5 * time.Second
	// MaxHeaderBytes is far above what a browser or curl sends.
	MaxHeaderBytes = 64 << 10
)

// Hosts returns the Host allow-list: AllowedHosts, or localhost,
// 127.0.0.1, [::1] and Name.
func (c HTTP) Hosts() (*httpx.HostList, error) {
	if c.AllowedHosts != nil {
		return httpx.ParseHosts(c.AllowedHosts)
	}
	def := append([]string(nil), httpx.DefaultHosts...)
	if c.Name != "" {
		def = append(def, c.Name)
	}
	return httpx.ParseHosts(def)
}

// Serve serves h on ln behind the service's guard (Host allow-list, admin
// policy) until ctx is done, then shuts the server down with a fresh
// timeout so in-flight requests finish. Long-lived streams (SSE) watch
// their request context, which BaseContext ties to shutdown.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, cfg HTTP) error {
	hosts, err := cfg.Hosts()
	if err != nil {
		return fmt.Errorf("ALLOWED_HOSTS: %w", err)
	}
	readTimeout := cmp.Or(cfg.ReadTimeout, DefaultReadTimeout)
	base, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	var draining atomic.Bool
	guarded := httpx.Guard{Hosts: hosts, AdminToken: cfg.AdminToken}.Wrap(h)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if draining.Load() && r.URL.Path == "/readyz" {
				httpx.Encode(w, http.StatusServiceUnavailable, map[string]any{"status": "not ready", "failed": map[string]string{"service": "shutting down"}})
				return
			}
			guarded.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: min(readHeaderTimeout, readTimeout),
		ReadTimeout:       readTimeout,
		IdleTimeout:       cmp.Or(cfg.IdleTimeout, DefaultIdleTimeout),
		MaxHeaderBytes:    MaxHeaderBytes,
		BaseContext:       func(net.Listener) context.Context { return base },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	// Not ready first, then stop accepting: requests that still arrive
	// during the delay are served.
	draining.Store(true)
	if cfg.ShutdownDelay > 0 {
		time.Sleep(cfg.ShutdownDelay)
	}
	cancelBase() // ends open event streams so Shutdown need not wait for them
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// Debug serves Go's profiles (/debug/pprof/) and expvar (/debug/vars) on
// addr when it is set (DEBUG_ADDR, e.g. 127.0.0.1:6060, or port 0 for any),
// never on the service's own port. They are served from a mux of their own,
// not http.DefaultServeMux (which anything imported may add to), behind the
// strictest edge guard: a Host of localhost, 127.0.0.1 or [::1], and a
// loopback client. ADMIN_TOKEN does not open them: a heap profile holds
// what the service holds, and a CPU profile costs it a core; reach them
// from the machine, or through kubectl port-forward (which arrives on
// loopback).
func Debug(log *slog.Logger, addr string) {
	if addr == "" {
		return
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Warn("debug endpoints not served", "err", err)
		return
	}
	log.Warn("debug endpoints exposed", "addr", ln.Addr().String())
	srv := &http.Server{Handler: debugHandler(), ReadHeaderTimeout: readHeaderTimeout, MaxHeaderBytes: MaxHeaderBytes}
	go func() { _ = srv.Serve(ln) }()
}

// debugHandler is what DEBUG_ADDR serves, behind its guard.
func debugHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index) // and the named profiles under it
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/debug/vars", expvar.Handler())
	hosts, err := httpx.ParseHosts(httpx.DefaultHosts)
	if err != nil {
		panic(fmt.Sprintf("the default Host list does not parse: %v", err)) // a constant: a test catches it
	}
	return httpx.Guard{Hosts: hosts}.Wrap(httpx.AdminOnly(mux))
}
