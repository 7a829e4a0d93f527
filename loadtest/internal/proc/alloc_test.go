package proc

import (
	"context"
	"expvar"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseVars(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    Allocs
		wantErr string
	}{
		{
			name: "expvar's memstats",
			body: `{"cmdline":["orders-api"],"memstats":{"Alloc":1,"TotalAlloc":123456789,"Mallocs":4242,"Frees":10,"NumGC":17,"BySize":[{"Size":8}]}}`,
			want: Allocs{Bytes: 123456789, Objects: 4242, GCCycles: 17},
		},
		{name: "no memstats", body: `{"cmdline":["x"]}`, wantErr: "no memstats"},
		{name: "memstats without NumGC", body: `{"memstats":{"TotalAlloc":1,"Mallocs":2}}`, wantErr: "without TotalAlloc, Mallocs or NumGC"},
		{name: "not JSON", body: `<html>`, wantErr: "debug vars"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseVars(strings.NewReader(tt.body))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error: got %v (%+v), want one containing %q", err, got, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// TestVarsAllocsReadsExpvar: the counters come out of what expvar itself
// serves (a service's /debug/vars), and grow as the process allocates.
func TestVarsAllocsReadsExpvar(t *testing.T) {
	srv := debugVars(t)
	a, err := VarsAllocs(context.Background(), srv.URL)
	if err != nil {
		t.Fatalf("VarsAllocs: %v", err)
	}
	if a.Bytes == 0 || a.Objects == 0 {
		t.Errorf("got %+v, want a running process's non-zero counters", a)
	}
	sink = make([]byte, 1<<20)
	b, err := VarsAllocs(context.Background(), srv.URL)
	if err != nil {
		t.Fatalf("VarsAllocs: %v", err)
	}
	if b.Bytes < a.Bytes+1<<20 {
		t.Errorf("after allocating 1 MiB: got %d bytes, want at least %d", b.Bytes, a.Bytes+1<<20)
	}
}

var sink []byte

// debugVars serves expvar at /debug/vars, as a service's DEBUG_ADDR does.
func debugVars(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	mux.Handle("GET /debug/vars", expvar.Handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestSelfAllocsGrow(t *testing.T) {
	a, err := SelfAllocs()
	if err != nil {
		t.Fatal(err)
	}
	sink = make([]byte, 1<<20)
	b, err := SelfAllocs()
	if err != nil {
		t.Fatal(err)
	}
	if b.Bytes < a.Bytes+1<<20 || b.Objects <= a.Objects {
		t.Errorf("after allocating 1 MiB: got %+v then %+v, want at least 1 MiB and one object more", a, b)
	}
}

func TestAllocsBetween(t *testing.T) {
	before := map[string]Allocs{
		"orders-api": {Bytes: 1_000, Objects: 10, GCCycles: 3},
		"restarted":  {Bytes: 9_000_000, Objects: 900, GCCycles: 40},
		"gone":       {Bytes: 1, Objects: 1, GCCycles: 1},
	}
	after := map[string]Allocs{
		"orders-api": {Bytes: 61_441_000, Objects: 200_010, GCCycles: 7},
		"restarted":  {Bytes: 5_000, Objects: 50, GCCycles: 1},
		"late":       {Bytes: 7, Objects: 7, GCCycles: 7},
	}
	got, reasons := allocsBetween(before, after, map[string]string{"late": "connection refused"}, map[string]string{"gone": "connection refused"})
	if a := got["orders-api"]; a != (Allocs{Bytes: 61_440_000, Objects: 200_000, GCCycles: 4}) {
		t.Errorf("orders-api: got %+v, want 61,440,000 bytes, 200,000 objects, 4 cycles", a)
	}
	for name, want := range map[string]string{"restarted": "restarted", "gone": "refused", "late": "refused"} {
		if _, ok := got[name]; ok || !strings.Contains(reasons[name], want) {
			t.Errorf("%s: got %+v / %q, want no figure and a reason containing %q", name, got[name], reasons[name], want)
		}
	}
}

// TestMeasureReadsAllocs: a window reads the runner's own counters and a
// service's from its debug endpoint, and says why a service without one,
// or with one that does not answer, has none; a JVM has no row at all.
func TestMeasureReadsAllocs(t *testing.T) {
	needProc(t)
	srv := debugVars(t)
	dead := httptest.NewServer(nil)
	deadURL := dead.URL
	dead.Close()
	self := os.Getpid()
	procs := []Process{
		{Name: "runner", PID: self, Kind: KindRunner},
		{Name: "orders-api", PID: self, Kind: KindService, DebugURL: srv.URL},
		{Name: "stock-service", PID: self, Kind: KindService},
		{Name: "orders-processor", PID: self, Kind: KindService, DebugURL: deadURL},
		{Name: "broker", PID: self, Kind: KindBroker},
	}
	now := time.Now()
	u := Measure(procs, now, now, nil).Wait()
	for _, name := range []string{"runner", "orders-api"} {
		if _, ok := u.Allocs[name]; !ok {
			t.Errorf("%s: no allocation figures: %q", name, u.AllocErrors[name])
		}
	}
	if msg := u.AllocErrors["stock-service"]; msg != ErrNoDebugURL.Error() {
		t.Errorf("stock-service: got %q, want %q", msg, ErrNoDebugURL)
	}
	if msg := u.AllocErrors["orders-processor"]; !strings.Contains(msg, "refused") {
		t.Errorf("orders-processor: got %q, want connection refused", msg)
	}
	if _, ok := u.Allocs["broker"]; ok || u.AllocErrors["broker"] != "" {
		t.Errorf("broker: got %+v / %q, want neither: no Go counters to read", u.Allocs["broker"], u.AllocErrors["broker"])
	}
}

func TestUsageAddAllocs(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := Usage{Start: t0, End: t0.Add(10 * time.Second),
		Allocs:      map[string]Allocs{"api": {Bytes: 100, Objects: 2, GCCycles: 1}, "stock": {Bytes: 5}, "once": {Bytes: 1}},
		AllocErrors: map[string]string{}}
	b := Usage{Start: t0.Add(time.Minute), End: t0.Add(time.Minute + 10*time.Second),
		Allocs:      map[string]Allocs{"api": {Bytes: 50, Objects: 1, GCCycles: 2}},
		AllocErrors: map[string]string{"stock": "connection refused"}}
	got := a.Add(b)
	if got.Allocs["api"] != (Allocs{Bytes: 150, Objects: 3, GCCycles: 3}) {
		t.Errorf("api: got %+v, want 150 bytes, 3 objects, 3 cycles", got.Allocs["api"])
	}
	if _, ok := got.Allocs["stock"]; ok || got.AllocErrors["stock"] != "connection refused" {
		t.Errorf("stock: got %+v / %q, want the error", got.Allocs["stock"], got.AllocErrors["stock"])
	}
	if _, ok := got.Allocs["once"]; ok || got.AllocErrors["once"] != "not read in every window" {
		t.Errorf("once: got %+v / %q, want not read in every window", got.Allocs["once"], got.AllocErrors["once"])
	}
}
