package httpx

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// problem is the JSON error body every refusal carries.
type problem struct {
	Error string `json:"error"`
}

func decodeProblem(t *testing.T, rec *httptest.ResponseRecorder) problem {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q, want application/json (body %q)", ct, rec.Body)
	}
	var p problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Error == "" {
		t.Fatalf("body %q is not {\"error\": ...}: %v", rec.Body, err)
	}
	return p
}

func TestEncodeDoesNotEscapeHTML(t *testing.T) {
	rec := httptest.NewRecorder()
	Encode(rec, http.StatusUnprocessableEntity, Errorf(http.StatusUnprocessableEntity, "qty must be >= 1 & <= 1000000"))
	if got, want := strings.TrimSpace(rec.Body.String()), `{"error":"qty must be >= 1 & <= 1000000"}`; got != want {
		t.Errorf("body = %s, want %s", got, want)
	}
}

func TestAPIAnswersTheRoutersOwnErrorsAsJSON(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("POST /orders", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		Encode(w, http.StatusCreated, map[string]string{"orderId": "1"})
	}))
	mux.Handle("GET /orders/{id}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, r, slog.New(slog.DiscardHandler), Errorf(http.StatusNotFound, "order %s not found", r.PathValue("id")))
	}))
	h := API(mux)
	tests := []struct {
		name, method, path string
		status             int
		allow, errorHas    string
	}{
		{"wrong method", http.MethodGet, "/orders", http.StatusMethodNotAllowed, "POST", "GET is not allowed on /orders"},
		{"unknown path", http.MethodGet, "/nowhere", http.StatusNotFound, "", "no such endpoint: GET /nowhere"},
		{"handler's own 404 untouched", http.MethodGet, "/orders/42", http.StatusNotFound, "", "order 42 not found"},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
		if rec.Code != tt.status {
			t.Errorf("%s: status %d, want %d", tt.name, rec.Code, tt.status)
		}
		if got := rec.Header().Get("Allow"); got != tt.allow {
			t.Errorf("%s: Allow = %q, want %q", tt.name, got, tt.allow)
		}
		if p := decodeProblem(t, rec); !strings.Contains(p.Error, tt.errorHas) {
			t.Errorf("%s: error %q, want it to say %q", tt.name, p.Error, tt.errorHas)
		}
	}

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/orders", nil))
	if rec.Code != http.StatusCreated {
		t.Errorf("a matched route answered %d, want 201", rec.Code)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/orders/../orders/7", nil))
	if rec.Code != http.StatusTemporaryRedirect || rec.Header().Get("Location") != "/orders/7" {
		t.Errorf("an unclean path answered %d Location %q, want the mux's redirect to /orders/7", rec.Code, rec.Header().Get("Location"))
	}
}

func TestCORSAllowsWhatThePageSends(t *testing.T) {
	h := CORS(http.NotFoundHandler())
	req := httptest.NewRequest(http.MethodOptions, "/orders", nil)
	req.Header.Set("Origin", "http://localhost:5173")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	for header, want := range map[string]string{
		"Access-Control-Allow-Origin":   "http://localhost:5173",
		"Access-Control-Allow-Methods":  "GET, POST, OPTIONS",
		"Access-Control-Allow-Headers":  "Content-Type, Last-Event-ID, Idempotency-Key",
		"Access-Control-Expose-Headers": "Retry-After, Idempotent-Replayed",
	} {
		if got := rec.Header().Get(header); got != want {
			t.Errorf("%s = %q, want %q", header, got, want)
		}
	}
	req.Header.Set("Origin", "http://evil.example")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if got := rec.Header().Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("a foreign origin was allowed: %q", got)
	}
}

func mustHosts(t *testing.T, entries ...string) *HostList {
	t.Helper()
	l, err := ParseHosts(entries)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestHostListAllows(t *testing.T) {
	l := mustHosts(t, append(DefaultHosts, "orders-api", ".kit.example")...)
	tests := []struct {
		host string
		want bool
	}{
		{"localhost", true},
		{"localhost:8081", true},
		{"LOCALHOST:8081", true},
		{"localhost.:8081", true},
		{"127.0.0.1:8081", true},
		{"[::1]:8081", true},
		{"[::1]", true},
		{"orders-api:8081", true},
		{"kit.example", true},
		{"shop.kit.example:443", true},
		{"evil.example:8081", false},
		{"evilkit.example", false},
		{"localhost.evil.example", false},
		{"127.0.0.2:8081", false},
		{"192.168.1.5:8081", false},
		{"[::ffff:127.0.0.1]:8081", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := l.Allows(tt.host); got != tt.want {
			t.Errorf("Allows(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
	if !mustHosts(t, "*").Allows("anything.example:1") {
		t.Error(`"*" does not allow any host`)
	}
	var none *HostList
	if none.Allows("localhost") {
		t.Error("a missing list allows a host")
	}
}

func TestParseHostsRefusesWhatCannotMatch(t *testing.T) {
	for _, entries := range [][]string{
		{},
		{"localhost:8081"},
		{"http://localhost"},
		{"::1"},
		{"[::1]:8081"},
		{"[localhost]"},
		{"-bad-.example"},
		{"."},
		{"white space"},
	} {
		if _, err := ParseHosts(entries); err == nil {
			t.Errorf("ParseHosts(%q) accepted it", entries)
		}
	}
}

func TestGuardRefusesForeignHosts(t *testing.T) {
	h := Guard{Hosts: mustHosts(t, DefaultHosts...)}.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	tests := []struct {
		host, path string
		status     int
	}{
		{"localhost:8081", "/orders", http.StatusNoContent},
		{"rebound.evil.example:8081", "/orders", http.StatusForbidden},
		{"rebound.evil.example:8081", "/healthz", http.StatusNoContent}, // probes address a pod by IP
		{"10.1.2.3:8081", "/readyz", http.StatusNoContent},
		{"10.1.2.3:8081", "/metrics", http.StatusNoContent},
		{"10.1.2.3:8081", "/readyz/x", http.StatusForbidden},
	}
	for _, tt := range tests {
		req := httptest.NewRequest(http.MethodGet, tt.path, nil)
		req.Host = tt.host
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tt.status {
			t.Errorf("Host %s %s: %d, want %d", tt.host, tt.path, rec.Code, tt.status)
		}
		if tt.status == http.StatusForbidden {
			decodeProblem(t, rec)
		}
	}
}

func TestAdminEndpoints(t *testing.T) {
	const token = "0123456789abcdef-secret"
	admin := AdminOnly(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	tests := []struct {
		name, token, remote, auth string
		status                    int
	}{
		{"no token, loopback v4", "", "127.0.0.1:50000", "", http.StatusNoContent},
		{"no token, loopback v6", "", "[::1]:50000", "", http.StatusNoContent},
		{"no token, LAN client", "", "192.168.1.7:50000", "", http.StatusForbidden},
		{"no token, LAN client bearing one", "", "192.168.1.7:50000", "Bearer " + token, http.StatusForbidden},
		{"token, LAN client with it", token, "192.168.1.7:50000", "Bearer " + token, http.StatusNoContent},
		{"token, scheme in any case", token, "192.168.1.7:50000", "bearer " + token, http.StatusNoContent},
		{"token, loopback without it", token, "127.0.0.1:50000", "", http.StatusUnauthorized},
		{"token, basic auth", token, "127.0.0.1:50000", "Basic " + token, http.StatusUnauthorized},
		{"token, wrong one", token, "192.168.1.7:50000", "Bearer " + token + "x", http.StatusForbidden},
		{"token, a prefix of it", token, "192.168.1.7:50000", "Bearer " + token[:8], http.StatusForbidden},
	}
	for _, tt := range tests {
		h := Guard{Hosts: mustHosts(t, "*"), AdminToken: tt.token}.Wrap(admin)
		req := httptest.NewRequest(http.MethodPost, "/seed", nil)
		req.RemoteAddr = tt.remote
		if tt.auth != "" {
			req.Header.Set("Authorization", tt.auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tt.status {
			t.Errorf("%s: %d, want %d", tt.name, rec.Code, tt.status)
			continue
		}
		if tt.status != http.StatusNoContent {
			decodeProblem(t, rec)
		}
		if got := rec.Header().Get("WWW-Authenticate"); (tt.status == http.StatusUnauthorized) != (got != "") {
			t.Errorf("%s: WWW-Authenticate = %q", tt.name, got)
		}
	}

	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/seed", nil)
	req.RemoteAddr = "127.0.0.1:50000"
	admin.ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden {
		t.Errorf("an admin endpoint without a guard in front answered %d, want 403 (fail closed)", rec.Code)
	}
}

func TestPublicReasonNamesNoAddresses(t *testing.T) {
	tests := []struct{ err, want string }{
		{"consumer has not joined its group yet", "consumer has not joined its group yet"},
		{"cannot route to orders.created/1: no leader ([5] Leader Not Available)", "cannot route to orders.created/1: no leader ([5] Leader Not Available)"},
		{"broker unreachable: dial tcp 127.0.0.1:9093: connect: connection refused", "broker unreachable (details in the service log)"},
		{"broker metadata: dial tcp [::1]:9093: i/o timeout", "broker metadata (details in the service log)"},
		{"kafka-0.kafka.svc:9092: EOF", "unavailable (details in the service log)"},
		{"open /var/lib/kit/stock.db: permission denied", "unavailable (details in the service log)"},
		{"store: open /var/lib/kit/stock.db: permission denied", "store (details in the service log)"},
		{"store: postgres://kit:secret@db/kit: refused", "store (details in the service log)"},
	}
	for _, tt := range tests {
		if got := PublicReason(errors.New(tt.err)); got != tt.want {
			t.Errorf("PublicReason(%q) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

func TestCachedCheckAnswersWithoutRunningTheCheck(t *testing.T) {
	ctx := context.Background()
	var runs atomic.Int64
	failing := func(context.Context) error {
		runs.Add(1)
		return errors.New("broker unreachable: dial tcp 10.0.0.9:9093: connect: connection refused")
	}
	c := &cachedCheck{err: errors.New("not checked yet")}
	log := slog.New(slog.DiscardHandler)
	c.refresh(ctx, log, failing, time.Minute) // what CachedCheck's loop does at once, then every interval
	h := Ready(map[string]Check{"kafka": c.get})
	for range 100 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		if rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("/readyz = %d, want 503", rec.Code)
		}
		var body struct{ Failed map[string]string }
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		if got, want := body.Failed["kafka"], "broker unreachable (details in the service log)"; got != want {
			t.Fatalf("failed.kafka = %q, want %q", got, want)
		}
	}
	if n := runs.Load(); n != 1 {
		t.Errorf("the check ran %d times for 100 /readyz calls, want once", n)
	}

	c.refresh(ctx, log, func(context.Context) error { return nil }, time.Minute)
	if err := c.get(ctx); err != nil {
		t.Errorf("after a passing refresh the cached check says %v", err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	c.refresh(canceled, log, failing, time.Minute)
	if err := c.get(ctx); err != nil {
		t.Errorf("a refresh cut short by shutdown changed the outcome to %v", err)
	}
}

func TestCachedCheckStartsNotReady(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	check := CachedCheck(ctx, slog.New(slog.DiscardHandler), time.Hour, func(context.Context) error {
		<-release
		return nil
	})
	if err := check(ctx); err == nil {
		t.Error("ready before the first check completed")
	}
}

// Chain runs its middleware in the order listed, outermost first, and
// the handler last.
func TestChainRunsMiddlewareInTheOrderListed(t *testing.T) {
	var got []string
	mark := func(name string) func(http.Handler) http.Handler {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got = append(got, name)
				next.ServeHTTP(w, r)
			})
		}
	}
	h := Chain(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { got = append(got, "handler") }),
		mark("first"), mark("second"), mark("third"))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	if want := []string{"first", "second", "third", "handler"}; !slices.Equal(got, want) {
		t.Errorf("ran %v, want %v", got, want)
	}
}
