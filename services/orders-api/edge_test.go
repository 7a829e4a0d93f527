package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRouterErrorsAreJSON(t *testing.T) {
	tests := []struct {
		method, path string
		status       int
		allow        string
	}{
		{http.MethodGet, "/orders", http.StatusMethodNotAllowed, "POST"},
		{http.MethodGet, "/nowhere", http.StatusNotFound, ""},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		newTestServer(openTestStore(t)).ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
		var body struct{ Error string }
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error == "" {
			t.Errorf("%s %s: body %q is not a JSON error", tt.method, tt.path, rec.Body)
		}
		if rec.Code != tt.status || rec.Header().Get("Allow") != tt.allow || rec.Header().Get("Content-Type") != "application/json" {
			t.Errorf("%s %s: %d Allow %q Content-Type %q, want %d Allow %q JSON", tt.method, tt.path,
				rec.Code, rec.Header().Get("Allow"), rec.Header().Get("Content-Type"), tt.status, tt.allow)
		}
	}
}

func TestLoadConfigRefusesWhatCannotWork(t *testing.T) {
	for key, value := range map[string]string{
		"PRODUCE_TIMEOUT": "0",
		"KAFKA_BROKERS":   "localhost",
		"HTTP_ADDR":       "8081",
		"ALLOWED_HOSTS":   "localhost:8081",
		"IDEMPOTENCY_TTL": "0",
	} {
		_, err := loadConfig(func(k string) string {
			if k == key {
				return value
			}
			return ""
		})
		if err == nil || !strings.Contains(err.Error(), key+": ") {
			t.Errorf("%s=%s: err = %v, want one naming %s", key, value, err, key)
		}
	}
}
