package httpx

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Guard is what every service checks at its edge, before routing: the Host
// a request asks for, and who may use the admin endpoints.
type Guard struct {
	// Hosts are the names and addresses the service answers to. A page on
	// another site that rebinds its own name to 127.0.0.1 (DNS rebinding)
	// still sends that name as Host, so it is refused.
	Hosts *HostList
	// AdminToken, when set, is the bearer token every client of an admin
	// endpoint must present; unset, admin endpoints answer loopback clients
	// only.
	AdminToken string
}

// unguardedPaths answer any Host: orchestrators' probes and metric
// scrapers address a pod by its IP, and these say nothing private.
var unguardedPaths = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

type guardKey struct{}

// Wrap returns next behind the guard: a Host outside the list is answered
// 403, and next's admin endpoints (AdminOnly, CheckAdmin) learn the policy
// from the request's context.
func (g Guard) Wrap(next http.Handler) http.Handler {
	var tokenSum *[sha256.Size]byte
	if g.AdminToken != "" {
		sum := sha256.Sum256([]byte(g.AdminToken))
		tokenSum = &sum
	}
	policy := &adminPolicy{tokenSum: tokenSum}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !unguardedPaths[r.URL.Path] && !g.Hosts.Allows(r.Host) {
			Encode(w, http.StatusForbidden, Errorf(http.StatusForbidden,
				"host %q is not served here: use localhost, or add the name to ALLOWED_HOSTS", r.Host))
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), guardKey{}, policy)))
	})
}

type adminPolicy struct {
	// tokenSum is the SHA-256 of ADMIN_TOKEN, or nil when none is set.
	// Comparing digests in constant time leaks neither the token nor its
	// length.
	tokenSum *[sha256.Size]byte
}

// AdminOnly answers 401 or 403 (JSON) unless the client may use admin
// endpoints; see CheckAdmin.
func AdminOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if CheckAdmin(w, r) {
			next.ServeHTTP(w, r)
		}
	})
}

// CheckAdmin reports whether r may use an admin endpoint, and when not,
// answers it: with ADMIN_TOKEN set, every client needs "Authorization:
// Bearer <token>" (401 without one, 403 with a wrong one); without it, only
// loopback clients are let in (403 for others). A request that did not pass
// through a Guard is refused, so a forgotten guard fails closed.
func CheckAdmin(w http.ResponseWriter, r *http.Request) bool {
	policy, _ := r.Context().Value(guardKey{}).(*adminPolicy)
	var e *Error
	switch {
	case policy == nil:
		e = Errorf(http.StatusForbidden, "admin endpoint closed: the service has no guard configured")
	case policy.tokenSum == nil:
		if loopback(r.RemoteAddr) {
			return true
		}
		e = Errorf(http.StatusForbidden, "admin endpoint: answers clients on this machine only unless the service has an ADMIN_TOKEN")
	default:
		token, ok := bearer(r.Header.Get("Authorization"))
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="admin"`)
			e = Errorf(http.StatusUnauthorized, "admin endpoint: send Authorization: Bearer <ADMIN_TOKEN>")
			break
		}
		sum := sha256.Sum256([]byte(token))
		if subtle.ConstantTimeCompare(sum[:], policy.tokenSum[:]) == 1 {
			return true
		}
		e = Errorf(http.StatusForbidden, "admin endpoint: the bearer token is not this service's ADMIN_TOKEN")
	}
	Encode(w, e.Status, e)
	return false
}

func bearer(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	token = strings.TrimSpace(token)
	return token, ok && strings.EqualFold(scheme, "Bearer") && token != ""
}

func loopback(remoteAddr string) bool {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return false
	}
	return ap.Addr().Unmap().IsLoopback()
}

// HostList is a parsed Host allow-list.
type HostList struct {
	any      bool
	exact    map[string]bool
	suffixes []string
}

// DefaultHosts are the names every service answers to unless ALLOWED_HOSTS
// says otherwise, besides its own name.
var DefaultHosts = []string{"localhost", "127.0.0.1", "[::1]"}

// ParseHosts reads an allow-list: host names (orders-api), IPv4 addresses,
// IPv6 addresses in brackets ([::1]), ".example.com" for that domain and
// every name under it, or "*" for any host. Entries carry no port: a listed
// host is allowed on any port.
func ParseHosts(entries []string) (*HostList, error) {
	l := &HostList{exact: map[string]bool{}}
	if len(entries) == 0 {
		return nil, fmt.Errorf("no host given")
	}
	for _, e := range entries {
		e = strings.ToLower(strings.TrimSpace(e))
		switch {
		case e == "*":
			l.any = true
		case strings.HasPrefix(e, "."):
			if !hostName(e[1:]) {
				return nil, fmt.Errorf("%q: want a domain after the dot, such as .example.com", e)
			}
			l.suffixes = append(l.suffixes, e)
		case strings.HasPrefix(e, "["):
			a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(e, "["), "]"))
			if err != nil || !strings.HasSuffix(e, "]") || !a.Is6() {
				return nil, fmt.Errorf("%q: want an IPv6 address in brackets such as [::1], without a port", e)
			}
			l.exact[a.String()] = true
		default:
			if a, err := netip.ParseAddr(e); err == nil {
				if a.Is6() {
					return nil, fmt.Errorf("%q: write an IPv6 address in brackets, [%s]", e, e)
				}
				l.exact[a.String()] = true
				continue
			}
			if strings.Contains(e, ":") {
				return nil, fmt.Errorf("%q: give the host without a port (every port is allowed) or scheme", e)
			}
			if !hostName(e) {
				return nil, fmt.Errorf("%q: not a host name, address, .domain or *", e)
			}
			l.exact[strings.TrimSuffix(e, ".")] = true
		}
	}
	return l, nil
}

// Allows reports whether hostport, a request's Host, names an allowed host.
// An empty list allows none.
func (l *HostList) Allows(hostport string) bool {
	if l == nil {
		return false
	}
	if l.any {
		return true
	}
	host := strings.ToLower(hostport)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"), ".")
	if a, err := netip.ParseAddr(host); err == nil {
		return l.exact[a.String()]
	}
	if host == "" {
		return false
	}
	if l.exact[host] {
		return true
	}
	for _, s := range l.suffixes {
		if strings.HasSuffix(host, s) || host == s[1:] {
			return true
		}
	}
	return false
}

// hostName reports whether s is a DNS name: dot-separated labels of
// letters, digits, '-' (not at either end) and '_' (Docker allows it in
// service names), with an optional trailing dot.
func hostName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}
