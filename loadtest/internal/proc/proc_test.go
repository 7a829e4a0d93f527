package proc

import (
	"encoding/binary"
	"math"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		want    Stat
		wantErr string
	}{
		{
			name: "a service",
			line: "4242 (orders-api) S 4200 4242 4200 0 -1 4194560 1205 0 0 0 731 112 0 0 20 0 9 0 1234 1000 500 18446744073709551615",
			want: Stat{PID: 4242, Comm: "orders-api", State: 'S', PPID: 4200, UTime: 731, STime: 112},
		},
		{
			name: "a comm with spaces and parentheses",
			line: "7 (my (odd) proc) R 1 7 7 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 1 1 1",
			want: Stat{PID: 7, Comm: "my (odd) proc", State: 'R', PPID: 1, UTime: 5, STime: 6},
		},
		{
			name: "a parent with children it waited for",
			line: "9 (postgres) S 1 9 9 0 -1 0 0 0 0 0 40 10 300 70 20 0 1 0 1 1 1",
			want: Stat{PID: 9, Comm: "postgres", State: 'S', PPID: 1, UTime: 40, STime: 10, CUTime: 300, CSTime: 70},
		},
		{name: "cut short", line: "7 (x) R 1 7 7", wantErr: "fields after comm"},
		{name: "no comm", line: "7 x R 1", wantErr: "no (comm)"},
		{name: "not a number", line: "7 (x) R 1 7 7 0 -1 0 0 0 0 0 lots 6 0 0", wantErr: "utime"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseStat([]byte(tt.line + "\n"))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error: got %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestTreeTime(t *testing.T) {
	tick := Tick() // read the real clock tick before /proc is faked
	root := t.TempDir()
	stats := map[string]string{
		"10": "10 (postgres) S 1 10 10 0 -1 0 0 0 0 0 1 2 3 4 20 0 1 0 1 1 1",    // the server: 10 ticks with reaped children
		"11": "11 (postgres) S 10 10 10 0 -1 0 0 0 0 0 5 0 0 0 20 0 1 0 1 1 1",   // a backend: 5
		"12": "12 (worker x) S 11 10 10 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 1 1 1",   // its child: 2
		"13": "13 (elsewhere) S 1 13 13 0 -1 0 0 0 0 0 100 0 0 0 20 0 1 0 1 1 1", // not in the tree
		"14": "14 (cycle) S 14 14 14 0 -1 0 0 0 0 0 100 0 0 0 20 0 1 0 1 1 1",    // its own parent: not in the tree
	}
	for pid, line := range stats {
		if err := os.MkdirAll(root+"/"+pid, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(root+"/"+pid+"/stat", []byte(line+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(root+"/self", 0o755); err != nil {
		t.Fatal(err)
	}
	old := procRoot
	procRoot = root
	t.Cleanup(func() { procRoot = old })

	tests := []struct {
		pid  int
		want time.Duration
	}{
		{10, 17 * tick},
		{11, 7 * tick},
		{13, 100 * tick},
	}
	for _, tt := range tests {
		got, err := TreeTime(tt.pid)
		if err != nil || got != tt.want {
			t.Errorf("TreeTime(%d) = %v, %v; want %v", tt.pid, got, err, tt.want)
		}
	}
	if _, err := TreeTime(99); err == nil {
		t.Errorf("TreeTime of a pid that does not exist: got no error")
	}
}

func TestListeningPortsOfATable(t *testing.T) {
	table := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 111 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F91 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000  1000        0 222 1 0000000000000000 20 4 30 10 -1
   2: 00000000:2385 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 333 1 0000000000000000 100 0 0 10 0
   3: 0100007F:11F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 444 1 0000000000000000 100 0 0 10 0
`
	tests := []struct {
		port int
		want string
	}{
		{8081, "111"}, // the established connection to 8081 (222) is not a listener
		{9093, "333"},
		{8084, ""},
	}
	sockets := listeningPorts(strings.NewReader(table))
	for _, tt := range tests {
		var inodes []string
		for ino, port := range sockets {
			if port == tt.port {
				inodes = append(inodes, ino)
			}
		}
		slices.Sort(inodes)
		got := strings.Join(inodes, ",")
		if got != tt.want {
			t.Errorf("port %d: got inodes %q, want %q", tt.port, got, tt.want)
		}
	}
}

func TestClockTicks(t *testing.T) {
	auxv := func(pairs ...uint64) []byte {
		b := make([]byte, 8*len(pairs))
		for i, v := range pairs {
			binary.NativeEndian.PutUint64(b[8*i:], v)
		}
		return b
	}
	tests := []struct {
		name string
		auxv []byte
		want uint64
	}{
		{"found among others", auxv(6, 4096, 17, 100, 0, 0), 100},
		{"absent", auxv(6, 4096, 0, 0), 0},
		{"after the end marker it is not read", auxv(0, 0, 17, 250), 0},
	}
	for _, tt := range tests {
		if got := clockTicks(tt.auxv); got != tt.want {
			t.Errorf("%s: got %d, want %d", tt.name, got, tt.want)
		}
	}
}

func needProc(t *testing.T) {
	t.Helper()
	if err := Available(); err != nil {
		t.Skipf("CANNOT RUN HERE: %v", err)
	}
}

// TestListeningPIDFindsThisProcess listens on a free port and finds itself.
func TestListeningPIDFindsThisProcess(t *testing.T) {
	needProc(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	port := ln.Addr().(*net.TCPAddr).Port
	if got, err := ListeningPID(port); err != nil || got != os.Getpid() {
		t.Errorf("ListeningPID(%d): got %d, %v; want %d", port, got, err, os.Getpid())
	}
	ln.Close()
	if got, err := ListeningPID(port); err == nil {
		t.Errorf("ListeningPID(%d) after close: got pid %d, want an error", port, got)
	}
}

// TestListeningPortsOfThisProcess: the ports this process listens on are
// found, and a port it only connects from is not.
func TestListeningPortsOfThisProcess(t *testing.T) {
	needProc(t)
	a, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	listeners := []net.Listener{a}
	if b, err := net.Listen("tcp", "[::1]:0"); err != nil {
		t.Logf("NOT CHECKED HERE: a listener in /proc/net/tcp6 (no IPv6 loopback: %v)", err)
	} else {
		t.Cleanup(func() { b.Close() })
		listeners = append(listeners, b)
	}
	conn, err := net.Dial("tcp", a.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	got, err := ListeningPorts(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for _, ln := range listeners {
		if port := ln.Addr().(*net.TCPAddr).Port; !slices.Contains(got, port) {
			t.Errorf("got %v, want %d among them", got, port)
		}
	}
	if port := conn.LocalAddr().(*net.TCPAddr).Port; slices.Contains(got, port) {
		t.Errorf("got %v, want the connecting port %d not among them", got, port)
	}
}

// TestTimeGrows burns CPU until this process's CPU time has grown by a tick.
func TestTimeGrows(t *testing.T) {
	needProc(t)
	before, err := Time(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	x := 0
	for {
		for i := range 1_000_000 {
			x += i
		}
		now, err := Time(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if now > before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("CPU time still %v after 30s of spinning (x=%d)", now, x)
		}
	}
	if _, err := Time(1 << 30); err == nil {
		t.Errorf("Time of a pid that cannot exist: got no error")
	}
}

func TestCommandOfThisProcess(t *testing.T) {
	needProc(t)
	if got := Command(os.Getpid()); got == "" || !strings.HasPrefix("proc.test", got) {
		t.Errorf("Command(self): got %q, want the test binary's name", got)
	}
}

// TestMeasureStopsEarly: a window stopped before it began reports nothing,
// and one that ran reports every process it could read, and why not the rest.
func TestMeasure(t *testing.T) {
	needProc(t)
	procs := []Process{{Name: "self", PID: os.Getpid()}, {Name: "ghost", PID: 1 << 30}}
	stop := make(chan struct{})
	close(stop)
	u := Measure(procs, time.Now().Add(time.Hour), time.Now().Add(2*time.Hour), stop).Wait()
	if len(u.ByName) != 0 || !u.Start.IsZero() {
		t.Errorf("stopped window: got %+v, want nothing measured", u)
	}
	now := time.Now()
	u = Measure(procs, now, now, nil).Wait()
	if _, ok := u.ByName["self"]; !ok {
		t.Errorf("window: self not measured: %+v", u)
	}
	if _, ok := u.ByName["ghost"]; ok || u.Errors["ghost"] == "" {
		t.Errorf("window: ghost: got %+v, want an error and no figure", u)
	}
}

func TestParseEnviron(t *testing.T) {
	b := []byte("PATH=/bin\x00LOG_LEVEL=warn\x00GOGC=\x00PAYMENT_DELAY=0s\x00EMPTYKEY\x00")
	got := parseEnviron(b, []string{"LOG_LEVEL", "GOGC", "PAYMENT_DELAY", "DEBUG_ADDR"})
	want := map[string]string{"LOG_LEVEL": "warn", "GOGC": "", "PAYMENT_DELAY": "0s"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %q, want %q", k, got[k], v)
		}
	}
}

func TestParseCPULine(t *testing.T) {
	tests := []struct {
		name             string
		stat             string
		busy, all, steal uint64
		wantErr          bool
	}{
		{name: "with steal and guest", stat: "cpu  100 5 20 300 10 1 4 7 3 0\ncpu0 50 2 10 150 5 0 2 3 0 0\n", busy: 130, all: 447, steal: 7},
		{name: "not the cpu line", stat: "intr 1 2 3 4 5 6 7 8 9\n", wantErr: true},
		{name: "garbled", stat: "cpu  a b c d e f g h\n", wantErr: true},
	}
	for _, tt := range tests {
		busy, all, steal, err := parseCPULine([]byte(tt.stat))
		if (err != nil) != tt.wantErr || busy != tt.busy || all != tt.all || steal != tt.steal {
			t.Errorf("%s: got %d %d %d %v; want %d %d %d error %v", tt.name, busy, all, steal, err, tt.busy, tt.all, tt.steal, tt.wantErr)
		}
	}
}

func TestParsePressureSome(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"some avg10=29.62 avg60=51.92 avg300=63.37 total=3287368421\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n", 3287368421},
		{"full avg10=0.00 total=5\n", -1},
		{"", -1},
	}
	for _, tt := range tests {
		if got := parsePressureSome([]byte(tt.in)); got != tt.want {
			t.Errorf("parsePressureSome(%q): got %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestMachineBetween(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := machineSample{at: at, busy: 1000, all: 4000, steal: 100, stallMicro: 1_000_000}
	b := machineSample{at: at.Add(10 * time.Second), busy: 2000, all: 6000, steal: 300, stallMicro: 6_000_000}
	m := machineBetween(a, b)
	cpus := float64(m.CPUs)
	if m.BusyCores != 0.5*cpus || m.StealCores != 0.1*cpus || m.CPUPressure != 0.5 {
		t.Errorf("got %+v, want busy %v cores, steal %v, pressure 0.5", m, 0.5*cpus, 0.1*cpus)
	}
	b.stallMicro = -1
	if m := machineBetween(a, b); m.CPUPressure != -1 {
		t.Errorf("without pressure figures: got %v, want -1", m.CPUPressure)
	}
}

func TestParseOpenFileLimit(t *testing.T) {
	limits := "Limit                     Soft Limit           Hard Limit           Units     \nMax cpu time              unlimited            unlimited            seconds   \nMax open files            1024                 524288               files     \n"
	if got := parseOpenFileLimit([]byte(limits)); got != "1024" {
		t.Errorf("got %q, want 1024", got)
	}
	if got := parseOpenFileLimit([]byte("Max cpu time unlimited\n")); got != "" {
		t.Errorf("no line: got %q, want empty", got)
	}
}

func TestUsageAdd(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := Usage{Start: t0, End: t0.Add(10 * time.Second), ByName: map[string]time.Duration{"api": time.Second, "broker": 2 * time.Second},
		Errors: map[string]string{}, Machine: &Machine{CPUs: 2, BusyCores: 1, CPUPressure: 0.2, LoadAvg1: 3}}
	b := Usage{Start: t0.Add(time.Minute), End: t0.Add(time.Minute + 30*time.Second), ByName: map[string]time.Duration{"api": 3 * time.Second},
		Errors: map[string]string{"broker": "gone"}, Machine: &Machine{CPUs: 2, BusyCores: 2, CPUPressure: 0.6, LoadAvg1: 5}}
	got := a.Add(b)
	if got.End.Sub(got.Start) != 40*time.Second {
		t.Errorf("window: got %v, want 40s", got.End.Sub(got.Start))
	}
	if got.ByName["api"] != 4*time.Second {
		t.Errorf("api: got %v, want 4s", got.ByName["api"])
	}
	if _, ok := got.ByName["broker"]; ok || got.Errors["broker"] != "gone" {
		t.Errorf("broker: got %v / %q, want no figure and the error", got.ByName["broker"], got.Errors["broker"])
	}
	if m := got.Machine; m.BusyCores != 1.75 || math.Abs(m.CPUPressure-0.5) > 1e-9 || m.LoadAvg1 != 5 {
		t.Errorf("machine: got %+v, want busy 1.75, pressure 0.5, load 5", m)
	}
	if z := (Usage{}).Add(a); z.ByName["api"] != time.Second {
		t.Errorf("zero + a: got %+v", z)
	}
}
