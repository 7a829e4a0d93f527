package svc

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestDebugRefusesAForeignHost: a page on another site that rebinds its
// name to 127.0.0.1 sends that name as Host; the profiles (a heap dump
// holds what the service holds) must not answer it.
func TestDebugRefusesAForeignHost(t *testing.T) {
	var logs bytes.Buffer
	Debug(slog.New(slog.NewJSONHandler(&logs, nil)), "127.0.0.1:0")
	var line struct{ Msg, Addr string }
	if err := json.Unmarshal(logs.Bytes(), &line); err != nil || line.Msg != "debug endpoints exposed" || line.Addr == "" {
		t.Fatalf("Debug logged %q, want a line naming the address (%v)", logs.String(), err)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	tests := []struct {
		host, path string
		want       int
	}{
		{"localhost", "/debug/vars", http.StatusOK},
		{"127.0.0.1", "/debug/pprof/", http.StatusOK},
		{"attacker.example", "/debug/vars", http.StatusForbidden},
		{"attacker.example", "/debug/pprof/", http.StatusForbidden},
		{"attacker.example", "/debug/pprof/heap", http.StatusForbidden},
		{"attacker.example", "/debug/pprof/cmdline", http.StatusForbidden},
	}
	for _, tt := range tests {
		req, err := http.NewRequest(http.MethodGet, "http://"+line.Addr+tt.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = tt.host
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s with Host %s: %v", tt.path, tt.host, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("GET %s with Host %s: %d, want %d", tt.path, tt.host, resp.StatusCode, tt.want)
		}
	}
}

// TestDebugAnswersLoopbackClientsOnly: DEBUG_ADDR bound to every interface
// still serves no one but the machine itself, whatever ADMIN_TOKEN is.
func TestDebugAnswersLoopbackClientsOnly(t *testing.T) {
	h := debugHandler()
	for _, tt := range []struct {
		remote string
		want   int
	}{
		{"127.0.0.1:5000", http.StatusOK},
		{"[::1]:5000", http.StatusOK},
		{"192.0.2.7:5000", http.StatusForbidden},
		{"[2001:db8::7]:5000", http.StatusForbidden},
	} {
		req := httptest.NewRequest(http.MethodGet, "http://localhost/debug/vars", nil)
		req.RemoteAddr = tt.remote
		req.Header.Set("Authorization", "Bearer 0123456789abcdef")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tt.want {
			t.Errorf("client %s: %d, want %d", tt.remote, rec.Code, tt.want)
		}
	}
}
