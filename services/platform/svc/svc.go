// Package svc is the lifecycle every service shares: configuration from the
// environment, a JSON logger, an HTTP server with guarded edges and
// timeouts that logs where it listens, a shutdown that stops HTTP first,
// and Run, which runs a service's parts as one.
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

	"golang.org/x/sync/errgroup"

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

// HTTP is how a service's server guards its edge (NewEdge); Common.HTTP
// builds it from the environment.
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

// Edge is what a service's HTTP server holds at its edge, built once from
// its HTTP settings: the Host allow-list and admin policy (Guard), the
// readiness a shutdown takes away first (Draining), and the timeouts Serve
// applies. NewServer puts Draining and Guard in its middleware chain; run
// hands the same Edge to Serve, which tells it when the shutdown begins.
type Edge struct {
	cfg      HTTP
	guard    httpx.Guard
	draining atomic.Bool
}

// NewEdge returns the edge cfg describes, or an error naming ALLOWED_HOSTS
// when the allow-list does not parse.
func NewEdge(cfg HTTP) (*Edge, error) {
	hosts, err := cfg.Hosts()
	if err != nil {
		return nil, fmt.Errorf("ALLOWED_HOSTS: %w", err)
	}
	return &Edge{cfg: cfg, guard: httpx.Guard{Hosts: hosts, AdminToken: cfg.AdminToken}}, nil
}

// Draining answers /readyz 503 "shutting down" once Serve began stopping,
// before anything else sees the request; everything else goes to next,
// which still serves it during the shutdown delay.
func (e *Edge) Draining(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if e.draining.Load() && r.URL.Path == "/readyz" {
			httpx.Encode(w, http.StatusServiceUnavailable, map[string]any{"status": "not ready", "failed": map[string]string{"service": "shutting down"}})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Guard is httpx.Guard with the edge's Host allow-list and admin policy:
// a Host outside the list is answered 403, and admin endpoints learn who
// may use them.
func (e *Edge) Guard(next http.Handler) http.Handler { return e.guard.Wrap(next) }

// Serve serves h on ln until ctx is done, then shuts the server down with
// a fresh timeout so in-flight requests finish. h is the service's whole
// handler (NewServer: routes and middleware, edge.Draining and edge.Guard
// among them); Serve adds the edge's timeouts and header limit, and at
// ctx's end turns edge draining (not ready) for its ShutdownDelay before it
// stops accepting. Long-lived streams (SSE) watch their request context,
// which BaseContext ties to shutdown.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, edge *Edge) error {
	cfg := edge.cfg
	readTimeout := cmp.Or(cfg.ReadTimeout, DefaultReadTimeout)
	base, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	srv := &http.Server{
		Handler:           h,
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
	edge.draining.Store(true)
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

// Run runs a service's parts — its HTTP server (Serve), its consumer, its
// watchers — as one lifecycle: each until ctx ends, and the first to fail
// ends the others (a consumer that failed for good takes the server down
// with it). It returns once every part has returned, with the first error.
func Run(ctx context.Context, parts ...func(context.Context) error) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, part := range parts {
		g.Go(func() error { return part(ctx) })
	}
	return g.Wait()
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
