package main

import (
	"bytes"
	"context"
	"encoding/json"
	"expvar"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/kafkakit/kit/loadtest/internal/proc"
)

// fakeServiceCommand makes the test binary a service's stand-in: a Go
// process that serves expvar's /debug/vars on DEBUG_ADDR when it is set,
// as svc.Debug does, prints that address (or "none") and runs until its
// stdin closes.
const fakeServiceCommand = "fake-service"

func fakeService() int {
	addr := "none"
	if a := os.Getenv("DEBUG_ADDR"); a != "" {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		mux := http.NewServeMux()
		mux.Handle("GET /debug/vars", expvar.Handler())
		go func() { _ = http.Serve(ln, mux) }()
		addr = ln.Addr().String()
	}
	fmt.Println(addr)
	var b [1]byte
	for {
		if _, err := os.Stdin.Read(b[:]); err != nil {
			return 0
		}
	}
}

// startFakeService starts the test binary as a service's process, with
// DEBUG_ADDR set to debugAddr ("": not set at all), and returns its pid and
// the debug address it listens on ("none" without one).
func startFakeService(t *testing.T, debugAddr string) (int, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], fakeServiceCommand)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DEBUG_ADDR=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if debugAddr != "" {
		cmd.Env = append(cmd.Env, "DEBUG_ADDR="+debugAddr)
	}
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
	var addr string
	if _, err := fmt.Fscanln(out, &addr); err != nil {
		t.Fatalf("the fake service's debug address: %v", err)
	}
	return cmd.Process.Pid, addr
}

// TestRunReportsAllocationPerService runs against a running stack whose
// notifications-api is a process of its own, and checks its allocation
// figures in latest.json and the table: read from the debug endpoint its
// DEBUG_ADDR opened (found from its environment and listening ports, as
// under kit up with DEBUG_ADDR=127.0.0.1:0) or given by -debug-urls, and
// n/a with the reason when neither tells the runner where it is. The
// runner's own figures are there every time.
func TestRunReportsAllocationPerService(t *testing.T) {
	tests := []struct {
		name      string
		debugAddr string // the service's DEBUG_ADDR; "" unset
		given     bool   // -debug-urls names an expvar endpoint
		wantNA    string // the reason in place of its figures; "": figures
	}{
		{name: "found from its DEBUG_ADDR and its ports", debugAddr: "127.0.0.1:0"},
		{name: "given by -debug-urls", given: true},
		{name: "unknown: n/a with the reason", wantNA: "DEBUG_ADDR is not set in its environment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := proc.Available(); err != nil {
				t.Skipf("CANNOT RUN HERE: %v", err)
			}
			pid, _ := startFakeService(t, tt.debugAddr)
			srv := fakeServices(t, false)
			// A broker that answers, so that the hop breakdown after the
			// run finds no records quickly rather than timing out.
			cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(cluster.Close)
			out := t.TempDir()
			args := []string{"loadtest", "-orders-url", srv.URL, "-notifications-url", srv.URL, "-stock-url", srv.URL,
				"-processor-url", srv.URL, "-brokers", strings.Join(cluster.ListenAddrs(), ","), "-pids", "notifications-api=" + strconv.Itoa(pid),
				"-floor=false", "-idle", "0s", "-rate", "40", "-duration", "1s", "-warmup", "250ms", "-ramp", "",
				"-max-ratio-p50", "0", "-max-ratio-p99", "0", "-out", out}
			if tt.given {
				vars := httptest.NewServer(expvar.Handler())
				t.Cleanup(vars.Close)
				args = append(args, "-debug-urls", "notifications-api="+vars.URL)
			}
			var stdout, stderr bytes.Buffer
			if err := run(context.Background(), args, env(nil), &stdout, &stderr); err != nil {
				t.Fatalf("run: %v\n%s", err, stderr.String())
			}
			b, err := os.ReadFile(filepath.Join(out, "latest.json"))
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				Main struct {
					Sent int64 `json:"sent"`
					CPU  struct {
						Alloc []struct {
							Name          string  `json:"name"`
							PID           int     `json:"pid"`
							Bytes         uint64  `json:"bytes"`
							BytesPerOrder float64 `json:"bytes_per_order"`
						} `json:"alloc"`
						AllocMissing map[string]string `json:"alloc_missing"`
					} `json:"cpu"`
				} `json:"main"`
			}
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			figures := map[string]int{}
			for _, a := range got.Main.CPU.Alloc {
				figures[a.Name] = a.PID
				if a.Name == "runner" && (a.Bytes == 0 || a.BytesPerOrder != float64(a.Bytes)/float64(got.Main.Sent)) {
					t.Errorf("runner: got %d bytes, %g per order over %d orders; want what placing them allocated, divided by them", a.Bytes, a.BytesPerOrder, got.Main.Sent)
				}
			}
			if _, ok := figures["runner"]; !ok {
				t.Errorf("main.cpu.alloc: got %v, want the runner's own (missing: %v)", figures, got.Main.CPU.AllocMissing)
			}
			table := stdout.String()
			if !strings.Contains(table, "allocation per order") {
				t.Errorf("the table has no allocation per order:\n%s", table)
			}
			service, read := figures["notifications-api"]
			reason := got.Main.CPU.AllocMissing["notifications-api"]
			if tt.wantNA == "" {
				if !read || service != pid || reason != "" {
					t.Errorf("notifications-api: got figures %v (pid %d), missing %q; want its figures, pid %d", read, service, reason, pid)
				}
				return
			}
			if read || !strings.Contains(reason, tt.wantNA) {
				t.Errorf("notifications-api: got figures %v, missing %q; want none and a reason containing %q", read, reason, tt.wantNA)
			}
			if want := "allocation not measured (n/a): notifications-api: " + tt.wantNA; !strings.Contains(table, want) {
				t.Errorf("the table does not say %q:\n%s", want, table)
			}
		})
	}
}

// TestSpawnedDebugURL: a service the harness spawned is read where its log
// says its debug endpoints opened; without that line, what its pid says, and
// why not when that says nothing either.
func TestSpawnedDebugURL(t *testing.T) {
	logs := `{"level":"INFO","msg":"starting"}
{"time":"2026-12-07T10:00:00Z","level":"WARN","msg":"debug endpoints exposed","addr":"127.0.0.1:41234"}
{"level":"INFO","msg":"listening","addr":"127.0.0.1:8081"}
`
	if got, unknown := spawnedDebugURL(0, logs, "http://127.0.0.1:8081"); got != "http://127.0.0.1:41234" || unknown != "" {
		t.Errorf("from its log: got %q / %q, want http://127.0.0.1:41234", got, unknown)
	}
	if err := proc.Available(); err != nil {
		t.Skipf("CANNOT RUN HERE (the rest reads /proc): %v", err)
	}
	pid, addr := startFakeService(t, "127.0.0.1:0")
	if got, unknown := spawnedDebugURL(pid, "", "http://127.0.0.1:1"); got != "http://"+addr || unknown != "" {
		t.Errorf("from its pid: got %q / %q, want http://%s", got, unknown, addr)
	}
	pid, _ = startFakeService(t, "")
	if got, unknown := spawnedDebugURL(pid, "", "http://127.0.0.1:1"); got != "" || !strings.Contains(unknown, "DEBUG_ADDR is not set") {
		t.Errorf("without DEBUG_ADDR: got %q / %q, want no URL and why", got, unknown)
	}
}
