package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kafkakit/kit/services/platform/metrics"
	"github.com/kafkakit/kit/services/platform/svc"
	"github.com/kafkakit/kit/services/platform/tracing"
)

// newTestServer is the stock API behind the edge cfg describes, with
// metrics and tracing that record nowhere.
func newTestServer(t *testing.T, s *Store, cfg svc.HTTP) http.Handler {
	t.Helper()
	edge, err := svc.NewEdge(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := tracing.Setup(context.Background(), "stock-service", "")
	if err != nil {
		t.Fatal(err)
	}
	return NewServer(slog.New(slog.DiscardHandler), s, nil, edge, metrics.New("stock-service"), tr)
}

// asAdmin serves h (guarded with the default Host list and no
// ADMIN_TOKEN) to a client on this machine, as the admin endpoints need.
func asAdmin(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Host, r.RemoteAddr = "localhost:8084", "127.0.0.1:50000"
		h.ServeHTTP(w, r)
	})
}

func TestSeedIsAnAdminEndpoint(t *testing.T) {
	s := openTestStore(t)
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
		h := newTestServer(t, s, svc.HTTP{Name: "stock-service", AdminToken: tt.token})
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
