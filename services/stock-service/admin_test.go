package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kafkakit/kit/services/platform/httpx"
	"github.com/kafkakit/kit/services/platform/metrics"
)

// asAdmin serves h behind the guard svc.Serve puts in front of it, to a
// client on this machine, as the admin endpoints need.
func asAdmin(t *testing.T, h http.Handler) http.Handler {
	t.Helper()
	hosts, err := httpx.ParseHosts(httpx.DefaultHosts)
	if err != nil {
		t.Fatal(err)
	}
	guarded := httpx.Guard{Hosts: hosts}.Wrap(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Host, r.RemoteAddr = "localhost:8084", "127.0.0.1:50000"
		guarded.ServeHTTP(w, r)
	})
}

func TestSeedIsAnAdminEndpoint(t *testing.T) {
	s := openTestStore(t)
	hosts, err := httpx.ParseHosts(httpx.DefaultHosts)
	if err != nil {
		t.Fatal(err)
	}
	const token = "seed-token-0123456789"
	tests := []struct {
		name, token, remote, auth string
		status                    int
	}{
		{"a client on another machine", "", "192.168.1.7:50000", "", http.StatusForbidden},
		{"with ADMIN_TOKEN, no bearer", token, "127.0.0.1:50000", "", http.StatusUnauthorized},
		{"with ADMIN_TOKEN, a wrong bearer", token, "192.168.1.7:50000", "Bearer nope", http.StatusForbidden},
		{"with ADMIN_TOKEN, the bearer", token, "192.168.1.7:50000", "Bearer " + token, http.StatusOK},
	}
	for _, tt := range tests {
		h := httpx.Guard{Hosts: hosts, AdminToken: tt.token}.Wrap(NewServer(slog.New(slog.DiscardHandler), s, nil, metrics.New("stock-service").Handler()))
		sku := "SKU-" + strings.ReplaceAll(tt.name, " ", "-")
		req := httptest.NewRequest(http.MethodPost, "/seed", strings.NewReader(`{"`+sku+`": 5}`))
		req.Host, req.RemoteAddr = "localhost:8084", tt.remote
		req.Header.Set("Content-Type", "application/json")
		if tt.auth != "" {
			req.Header.Set("Authorization", tt.auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tt.status {
			t.Errorf("%s: %d %s, want %d", tt.name, rec.Code, rec.Body, tt.status)
		}
		stock, err := s.Stock(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if _, seeded := stock[sku]; seeded != (tt.status == http.StatusOK) {
			t.Errorf("%s: seeded = %v after a %d", tt.name, seeded, rec.Code)
		}
	}
}
