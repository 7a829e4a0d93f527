package main

import (
	"context"
	"net/http"
	"net/netip"
	"strings"
	"sync"

	"github.com/kafkakit/kit/services/platform/httpx"
)

// StreamCaps bound the open event streams of one instance: in total
// (SSE_MAX_STREAMS), so memory and file descriptors stay within what the
// machine has, and per client (SSE_MAX_STREAMS_PER_CLIENT), so one client
// cannot take every slot. A client is an IPv4 address or an IPv6 /64 (one
// host is handed a whole /64 and can rotate through it). Loopback clients
// count only towards the total: on this machine they are the load runner,
// the harness, or a reverse proxy speaking for every browser at once.
type StreamCaps struct {
	Total     int
	PerClient int
	// TrustedProxies (TRUSTED_PROXIES) are the reverse proxies whose
	// X-Forwarded-For is believed: a stream arriving from one is counted
	// against the right-most address in that header that is not itself a
	// trusted proxy — the one the outermost trusted proxy saw. Addresses
	// to its left were written by the client and are ignored; from any
	// other peer the header is ignored whole.
	TrustedProxies []netip.Prefix
}

// client is who a stream from remoteAddr, forwarded for forwardedFor (the
// X-Forwarded-For values), is counted against; not valid for a loopback
// client or an address that does not parse.
func (c StreamCaps) client(remoteAddr string, forwardedFor []string) netip.Prefix {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return netip.Prefix{}
	}
	client := ap.Addr().Unmap()
	if c.trusted(client) {
		client = c.forwardedClient(client, forwardedFor)
	}
	if client.IsLoopback() {
		return netip.Prefix{}
	}
	bits := 32
	if client.Is6() {
		bits = 64
	}
	p, _ := client.Prefix(bits)
	return p
}

// forwardedClient walks X-Forwarded-For from the right, past trusted
// proxies, to the first hop that is not one. A hop that does not parse
// ends the walk at the trusted proxy that passed it on, so garbage cannot
// make a client someone else.
func (c StreamCaps) forwardedClient(peer netip.Addr, forwardedFor []string) netip.Addr {
	client := peer
	for i := len(forwardedFor) - 1; i >= 0; i-- {
		hops := strings.Split(forwardedFor[i], ",")
		for j := len(hops) - 1; j >= 0; j-- {
			hop, ok := parseHop(hops[j])
			if !ok {
				return client
			}
			client = hop
			if !c.trusted(hop) {
				return client
			}
		}
	}
	return client
}

func (c StreamCaps) trusted(a netip.Addr) bool {
	for _, p := range c.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseHop reads one X-Forwarded-For entry: an address, with or without a
// port or brackets, as proxies write them.
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

// streamLimiter counts open streams against StreamCaps.
type streamLimiter struct {
	caps     StreamCaps
	mu       sync.Mutex
	open     int
	byClient map[netip.Prefix]int
}

func newStreamLimiter(caps StreamCaps) *streamLimiter {
	return &streamLimiter{caps: caps, byClient: map[netip.Prefix]int{}}
}

// retryAfterSeconds is the hint a refused stream gets; EventSource ignores
// it, a page's own reconnect logic and other clients can use it.
const retryAfterSeconds = 5

// Limit returns next counted against the limits: over either, the request
// is answered 503 with Retry-After and a JSON body, and next does not run.
func (l *streamLimiter) Limit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		release, err := l.acquire(r.RemoteAddr, r.Header.Values("X-Forwarded-For")...)
		if err != nil {
			httpx.WriteError(w, r, nil, err)
			return
		}
		slot := &streamSlot{release: release}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), streamSlotKey{}, slot)))
		if !slot.kept {
			release()
		}
	})
}

// streamSlot is a stream's place under the limits, for a handler that
// returns before its stream ends (a detached stream): keepSlot hands the
// release to it.
type streamSlot struct {
	release func()
	kept    bool
}

type streamSlotKey struct{}

// keepSlot takes over releasing r's place under the limits: the caller
// must call the returned release when its stream ends. Outside Limit it
// returns a no-op.
func keepSlot(r *http.Request) (release func()) {
	slot, ok := r.Context().Value(streamSlotKey{}).(*streamSlot)
	if !ok {
		return func() {}
	}
	slot.kept = true
	return slot.release
}

// Open is how many streams are open now (kafkakit_sse_streams).
func (l *streamLimiter) Open() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return float64(l.open)
}

// acquire counts a stream from remoteAddr, forwarded for forwardedFor
// (the X-Forwarded-For values, believed only from a trusted proxy).
func (l *streamLimiter) acquire(remoteAddr string, forwardedFor ...string) (release func(), err error) {
	client := l.caps.client(remoteAddr, forwardedFor)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open >= l.caps.Total {
		return nil, &httpx.Error{Status: http.StatusServiceUnavailable, RetryAfter: retryAfterSeconds,
			Message: "this instance streams to as many clients as it can; retry later"}
	}
	if client.IsValid() {
		if l.byClient[client] >= l.caps.PerClient {
			return nil, &httpx.Error{Status: http.StatusServiceUnavailable, RetryAfter: retryAfterSeconds,
				Message: "too many open streams from your address (or its /64); close some and retry"}
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
