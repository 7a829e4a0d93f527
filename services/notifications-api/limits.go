package main

import (
	"net/http"
	"net/netip"
	"sync"

	"github.com/kafkakit/kit/services/platform/httpx"
)

// StreamCaps bound the open event streams of one instance: in total
// (SSE_MAX_STREAMS), so memory and file descriptors stay within what the
// machine has, and per client address (SSE_MAX_STREAMS_PER_CLIENT), so one
// client cannot take every slot. Loopback clients count only towards the
// total: on this machine they are the load runner, the harness, or a
// reverse proxy speaking for every browser at once.
type StreamCaps struct {
	Total     int
	PerClient int
}

// streamLimiter counts open streams against StreamCaps.
type streamLimiter struct {
	caps     StreamCaps
	mu       sync.Mutex
	open     int
	byClient map[netip.Addr]int
}

func newStreamLimiter(caps StreamCaps) *streamLimiter {
	return &streamLimiter{caps: caps, byClient: map[netip.Addr]int{}}
}

// retryAfterSeconds is the hint a refused stream gets; EventSource ignores
// it, a page's own reconnect logic and other clients can use it.
const retryAfterSeconds = 5

// Limit returns next counted against the limits: over either, the request
// is answered 503 with Retry-After and a JSON body, and next does not run.
func (l *streamLimiter) Limit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		release, err := l.acquire(r.RemoteAddr)
		if err != nil {
			httpx.WriteError(w, r, nil, err)
			return
		}
		defer release()
		next.ServeHTTP(w, r)
	})
}

// Open is how many streams are open now (kafkakit_sse_streams).
func (l *streamLimiter) Open() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return float64(l.open)
}

func (l *streamLimiter) acquire(remoteAddr string) (release func(), err error) {
	var client netip.Addr
	if ap, err := netip.ParseAddrPort(remoteAddr); err == nil && !ap.Addr().Unmap().IsLoopback() {
		client = ap.Addr().Unmap()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open >= l.caps.Total {
		return nil, &httpx.Error{Status: http.StatusServiceUnavailable, RetryAfter: retryAfterSeconds,
			Message: "this instance streams to as many clients as it can; retry later"}
	}
	if client.IsValid() {
		if l.byClient[client] >= l.caps.PerClient {
			return nil, &httpx.Error{Status: http.StatusServiceUnavailable, RetryAfter: retryAfterSeconds,
				Message: "too many open streams from your address; close some and retry"}
		}
		l.byClient[client]++
	}
	l.open++
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.open--
		if client.IsValid() {
			if l.byClient[client]--; l.byClient[client] == 0 {
				delete(l.byClient, client)
			}
		}
	}, nil
}
