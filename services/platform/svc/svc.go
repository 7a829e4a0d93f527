// Package svc is the lifecycle every service shares: a JSON logger, an HTTP
// server that logs where it listens, and a shutdown that stops HTTP first.
package svc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // profiles on DEBUG_ADDR only
	"time"
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

// Serve serves h on ln until ctx is done, then shuts the server down with a
// fresh timeout so in-flight requests finish. Long-lived streams (SSE) watch
// their request context, which BaseContext ties to shutdown.
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	base, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return base },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
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
// never on the service's own port.
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
	go func() { _ = http.Serve(ln, http.DefaultServeMux) }()
}
