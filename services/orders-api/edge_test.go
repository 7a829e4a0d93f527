package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"runtime"
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
		loadConfigRefuses(t, key, value)
	}
	// Values that parse but cannot work: pruning every 0s is a DELETE
	// loop without a pause.
	for _, value := range []string{"3ns", "999ms"} {
		loadConfigRefuses(t, "IDEMPOTENCY_TTL", value)
	}
}

func loadConfigRefuses(t *testing.T, key, value string) {
	t.Helper()
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

// emptyItems is a request of n items that are each invalid twice over
// (no sku, no qty), as a body crafted to make the reply large.
func emptyItems(n int) string {
	return `{"userId":"u","items":[` + strings.Repeat(`{},`, n-1) + `{}],"total":1,"currency":"EUR"}`
}

func TestPlaceOrderReplyStaysSmallWhateverTheBody(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		wantField string
		wantMore  string // in the message: how many fields were not listed
	}{
		// ~1 MiB of empty items: once answered with 47 MB naming each.
		{"a list far over the item limit", emptyItems(340_000), "items", ""},
		// Within the limit, 200 invalid fields: the first 20 are named.
		{"a list of bad items within the limit", emptyItems(maxItems), "items[0].sku", "180 more"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.body) > 1<<20 {
				t.Fatalf("test body of %d bytes is over the body limit", len(tt.body))
			}
			s := openTestStore(t)
			rec := post(t, newTestServer(s), "application/json", tt.body)
			if rec.Code != http.StatusUnprocessableEntity {
				t.Fatalf("status = %d, want 422", rec.Code)
			}
			if rec.Body.Len() > 4<<10 {
				t.Errorf("422 body is %d bytes for a %d-byte request, want at most 4 KiB", rec.Body.Len(), len(tt.body))
			}
			var body struct {
				Error  string
				Fields []struct{ Field, Message string }
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body is not JSON: %v", err)
			}
			if len(body.Fields) == 0 || len(body.Fields) > 20 || body.Fields[0].Field != tt.wantField {
				t.Errorf("fields = %d, first %+v; want 1 to 20, the first naming %s", len(body.Fields), body.Fields[:min(1, len(body.Fields))], tt.wantField)
			}
			if !strings.Contains(body.Error, tt.wantMore) {
				t.Errorf("error = %q, want it to say %q", body.Error, tt.wantMore)
			}
		})
	}
}

func TestPlaceOrderOverTheItemLimitAllocatesAboutItsBody(t *testing.T) {
	h := newTestServer(openTestStore(t))
	body := emptyItems(340_000)
	post(t, h, "application/json", body) // warm up: pools, prepared statements
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	rec := post(t, h, "application/json", body)
	runtime.ReadMemStats(&after)
	if rec.Code != http.StatusUnprocessableEntity {
		t.Fatalf("status = %d, want 422", rec.Code)
	}
	// Reading the body costs a few times its size; the old code also
	// decoded every item (~70 MB) and described each (~455 MB).
	if got := after.TotalAlloc - before.TotalAlloc; got > 8<<20 {
		t.Errorf("one request of %d bytes allocated %d MB, want at most 8 MB", len(body), got>>20)
	}
}

func TestPlaceOrderTakesExactlyTheItemLimit(t *testing.T) {
	items := func(n int) string {
		return strings.TrimSuffix(strings.Repeat(`{"sku":"A","qty":1},`, n), ",")
	}
	s := openTestStore(t)
	h := newTestServer(s)
	if rec := post(t, h, "application/json", `{"userId":"u","items":[`+items(maxItems)+`],"total":1,"currency":"EUR"}`); rec.Code != http.StatusCreated {
		t.Fatalf("%d items: %d %s, want 201", maxItems, rec.Code, rec.Body)
	}
	if got := queued(t, s); len(got) != 1 || len(got[0].Items) != maxItems {
		t.Fatalf("recorded %+v, want one order of %d items", got, maxItems)
	}
	// Past the limit the list is refused whole: an item past it that is
	// not even an object is not looked at.
	rec := post(t, h, "application/json", `{"userId":"u","items":[`+items(maxItems+1)+`,7],"total":1,"currency":"EUR"}`)
	if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), `"field":"items","message":"must contain at most 100 items, got 102"`) {
		t.Errorf("102 items: %d %s, want 422 naming the list", rec.Code, rec.Body)
	}
}
