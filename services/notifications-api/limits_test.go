package main

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

// TestStreamCapCountsAnIPv6ClientByItsSlash64: one IPv6 host is handed a
// whole /64 and can take a new address from it for every stream.
func TestStreamCapCountsAnIPv6ClientByItsSlash64(t *testing.T) {
	l := newStreamLimiter(StreamCaps{Total: 100, PerClient: 2})
	for _, addr := range []string{"[2001:db8:1:2::1]:1000", "[2001:db8:1:2:ffff::9]:1000"} {
		if _, err := l.acquire(addr); err != nil {
			t.Fatalf("stream from %s refused: %v", addr, err)
		}
	}
	if _, err := l.acquire("[2001:db8:1:2:abcd::7]:1000"); err == nil {
		t.Error("a third stream from one /64 (another address in it) was let in (per-client cap 2)")
	}
	release, err := l.acquire("[2001:db8:1:3::1]:1000")
	if err != nil {
		t.Fatalf("a stream from the next /64 was refused: %v", err)
	}
	release()
	if _, err := l.acquire("[::ffff:192.0.2.1]:1000"); err != nil {
		t.Errorf("an IPv4-mapped address was counted with IPv6: %v", err)
	}
}

func TestStreamCapTrustsForwardedForOnlyFromATrustedProxy(t *testing.T) {
	caps := StreamCaps{Total: 100, PerClient: 1, TrustedProxies: []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}}
	tests := []struct {
		name         string
		remote       string
		forwardedFor []string
		want         string // the client counted, "" for none
	}{
		{"no proxy", "192.0.2.1:1000", nil, "192.0.2.1/32"},
		{"an untrusted peer's header is ignored", "192.0.2.1:1000", []string{"198.51.100.7"}, "192.0.2.1/32"},
		{"a trusted proxy's client", "10.1.2.3:1000", []string{"198.51.100.7"}, "198.51.100.7/32"},
		{"what the client wrote to the left is ignored", "10.1.2.3:1000", []string{"203.0.113.9, 198.51.100.7"}, "198.51.100.7/32"},
		{"past a chain of trusted proxies", "10.1.2.3:1000", []string{"203.0.113.9, 198.51.100.7, 10.9.9.9", "fd00::5"}, "198.51.100.7/32"},
		{"an IPv6 client by its /64", "[fd00::1]:1000", []string{"[2001:db8:1:2::99]:4711"}, "2001:db8:1:2::/64"},
		{"a trusted proxy without the header is the client", "10.1.2.3:1000", nil, "10.1.2.3/32"},
		{"garbage stops at the proxy that passed it", "10.1.2.3:1000", []string{"198.51.100.7, unknown"}, "10.1.2.3/32"},
		{"a forwarded loopback client counts only in the total", "10.1.2.3:1000", []string{"127.0.0.1"}, ""},
		{"a loopback proxy is trusted only when listed", "127.0.0.1:1000", []string{"198.51.100.7"}, ""},
	}
	for _, tt := range tests {
		got := caps.client(tt.remote, tt.forwardedFor)
		if (tt.want == "" && got.IsValid()) || (tt.want != "" && got.String() != tt.want) {
			t.Errorf("%s: client %v, want %q", tt.name, got, tt.want)
		}
	}
}

// TestStreamCapBehindAProxyCountsEachBrowser: behind an ingress every
// browser arrives from the ingress's address; counted by that address, one
// browser's streams used up every other browser's slots.
func TestStreamCapBehindAProxyCountsEachBrowser(t *testing.T) {
	l := newStreamLimiter(StreamCaps{Total: 100, PerClient: 1, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	const ingress = "10.0.0.5:40000"
	var inner []int // statuses of the streams opened while the first is open
	var h http.Handler
	h = l.Limit(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Forwarded-For") != "198.51.100.1" {
			return // an inner stream: answered 200 by being let in
		}
		for _, xff := range []string{"198.51.100.2", "198.51.100.1", "203.0.113.50, 198.51.100.1"} {
			req := httptest.NewRequest(http.MethodGet, "/events", nil)
			req.RemoteAddr = ingress
			req.Header.Set("X-Forwarded-For", xff)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			inner = append(inner, rec.Code)
		}
	}))
	req := httptest.NewRequest(http.MethodGet, "/events", nil)
	req.RemoteAddr = ingress
	req.Header.Set("X-Forwarded-For", "198.51.100.1")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("first browser's stream: %d %s", rec.Code, rec.Body)
	}
	want := []int{http.StatusOK, http.StatusServiceUnavailable, http.StatusServiceUnavailable}
	if len(inner) != len(want) || inner[0] != want[0] || inner[1] != want[1] || inner[2] != want[2] {
		t.Errorf("while browser 1 streams: browser 2, browser 1 again, browser 1 claiming another address = %v, want %v", inner, want)
	}
}

func TestLoadConfigReadsTrustedProxies(t *testing.T) {
	env := map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8, fd00::/8"}
	cfg, err := loadConfig(func(k string) string { return env[k] })
	if err != nil || len(cfg.Streams.TrustedProxies) != 2 {
		t.Fatalf("TRUSTED_PROXIES=%s: %v, err %v; want two networks", env["TRUSTED_PROXIES"], cfg.Streams.TrustedProxies, err)
	}
	env["TRUSTED_PROXIES"] = "ingress.local"
	if _, err := loadConfig(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "TRUSTED_PROXIES: ") {
		t.Errorf("TRUSTED_PROXIES=ingress.local: err = %v, want one naming TRUSTED_PROXIES", err)
	}
}
