package proc

import (
	"context"
	"errors"
	"expvar"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
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
// or with one that does not answer, has none (in the words the runner
// found when it looked for it); a JVM has no row at all.
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
		{Name: "notifications-api", PID: self, Kind: KindService, DebugUnknown: ErrNoDebugAddr.Error()},
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
	if msg := u.AllocErrors["notifications-api"]; msg != ErrNoDebugAddr.Error() {
		t.Errorf("notifications-api: got %q, want why its debug endpoint is unknown: %q", msg, ErrNoDebugAddr)
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

func TestDebugURLOf(t *testing.T) {
	tests := []struct {
		name        string
		debugAddr   string
		httpAddr    string
		servicePort int
		listening   []int
		want        string
		wantErr     string
	}{
		{name: "a fixed port it listens on", debugAddr: "127.0.0.1:6060", listening: []int{6060, 8081}, want: "http://127.0.0.1:6060"},
		{name: "a fixed port on every interface is reached on loopback", debugAddr: ":6060", listening: []int{6060, 8081}, want: "http://127.0.0.1:6060"},
		{name: "IPv6 loopback", debugAddr: "[::1]:6060", listening: []int{6060}, want: "http://[::1]:6060"},
		{name: "IPv6 any", debugAddr: "[::]:6060", listening: []int{6060}, want: "http://127.0.0.1:6060"},
		{name: "a fixed port another process holds", debugAddr: "127.0.0.1:6060", listening: []int{8082}, wantErr: "does not listen on port 6060"},
		{name: "port 0: the one port besides the service's URL", debugAddr: "127.0.0.1:0", servicePort: 8081, listening: []int{8081, 41234}, want: "http://127.0.0.1:41234"},
		{name: "port 0: the one port besides HTTP_ADDR's", debugAddr: "127.0.0.1:0", httpAddr: "127.0.0.1:39001", listening: []int{39001, 41234}, want: "http://127.0.0.1:41234"},
		{name: "port 0: the service's port unknown is never guessed", debugAddr: "127.0.0.1:0", listening: []int{8081, 41234}, wantErr: "which is DEBUG_ADDR's is not known"},
		{name: "port 0: no other port", debugAddr: "127.0.0.1:0", servicePort: 8081, listening: []int{8081}, wantErr: "listens on no port besides"},
		{name: "not an address", debugAddr: "6060", wantErr: `DEBUG_ADDR="6060"`},
		{name: "a named port", debugAddr: "localhost:http", wantErr: "not a number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := debugURLOf(tt.debugAddr, tt.httpAddr, tt.servicePort, tt.listening)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %q, %v; want an error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// fakeServiceEnv makes the test binary a stand-in for a service started
// with HTTP_ADDR and DEBUG_ADDR (see TestMain).
const fakeServiceEnv = "PROC_TEST_FAKE_SERVICE"

func TestMain(m *testing.M) {
	if os.Getenv(fakeServiceEnv) == "1" {
		os.Exit(fakeService())
	}
	os.Exit(m.Run())
}

// fakeService listens as a service does, on HTTP_ADDR and on DEBUG_ADDR
// (expvar there), prints both addresses and serves until its stdin closes.
func fakeService() int {
	api, err := net.Listen("tcp", os.Getenv("HTTP_ADDR"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	debug, err := net.Listen("tcp", os.Getenv("DEBUG_ADDR"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	mux := http.NewServeMux()
	mux.Handle("GET /debug/vars", expvar.Handler())
	go func() { _ = http.Serve(debug, mux) }()
	go func() { _ = http.Serve(api, http.NotFoundHandler()) }()
	fmt.Printf("%s %s\n", api.Addr(), debug.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}

// TestFindDebugURLOfAService starts a process as the runner finds one under
// kit up with DEBUG_ADDR=127.0.0.1:0 (a free port per service), and finds
// its debug endpoint from its environment and its listening ports alone.
func TestFindDebugURLOfAService(t *testing.T) {
	needProc(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fakeServiceEnv+"=1", "HTTP_ADDR=127.0.0.1:0", "DEBUG_ADDR=127.0.0.1:0")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
	})
	var apiAddr, debugAddr string
	if _, err := fmt.Fscanln(out, &apiAddr, &debugAddr); err != nil {
		t.Fatalf("the fake service's addresses: %v", err)
	}
	_, apiPort, _ := net.SplitHostPort(apiAddr)
	port, _ := strconv.Atoi(apiPort)

	got, err := FindDebugURL(cmd.Process.Pid, port)
	if want := "http://" + debugAddr; err != nil || got != want {
		t.Fatalf("FindDebugURL: got %q, %v; want %q", got, err, want)
	}
	if _, err := VarsAllocs(context.Background(), got); err != nil {
		t.Errorf("VarsAllocs at what was found: %v", err)
	}
	// Without the service's port, two ports are left: no guess.
	if got, err := FindDebugURL(cmd.Process.Pid, 0); err == nil {
		t.Errorf("FindDebugURL without the service's port: got %q, want an error (HTTP_ADDR's port is 0)", got)
	}
}

// TestFindDebugURLWithoutDebugAddr: a process started without DEBUG_ADDR
// serves no debug endpoints, and is told so.
func TestFindDebugURLWithoutDebugAddr(t *testing.T) {
	needProc(t)
	if os.Getenv("DEBUG_ADDR") != "" {
		t.Skip("CANNOT RUN HERE: this test process was started with DEBUG_ADDR set")
	}
	if _, err := FindDebugURL(os.Getpid(), 0); !errors.Is(err, ErrNoDebugAddr) {
		t.Errorf("got %v, want %v", err, ErrNoDebugAddr)
	}
}
