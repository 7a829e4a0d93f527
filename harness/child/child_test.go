package child

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kafkakit/kit/harness/internal/syncbuf"
)

// shell starts sh -c script under Start, stopped at the end of the test.
func shell(t *testing.T, spec Spec, log *Log, script string) *Process {
	t.Helper()
	spec.Path, spec.Args = "/bin/sh", []string{"-c", script}
	p, err := Start(spec, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	return p
}

func printed(t *testing.T, p *Process, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := p.WaitUntil(ctx, want, 5*time.Millisecond, func(context.Context) bool { return strings.Contains(p.Output(), want) })
	if err != nil {
		t.Fatal(err)
	}
}

// TestARestartedProcessKeepsItsOutput: a service the harness restarts on
// its port passes the same Output to each run, so its log reads across the
// restarts; each line reaches the shared log with the spec's prefix.
func TestARestartedProcessKeepsItsOutput(t *testing.T) {
	out := NewOutput(1 << 10)
	var sink syncbuf.Buffer
	log := NewLog(&sink)
	for _, run := range []string{"first", "second"} {
		p := shell(t, Spec{Name: "svc", LogPrefix: "svc | ", Output: out}, log, "echo "+run+" run")
		<-p.Done()
	}
	if got, want := out.String(), "first run\nsecond run\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
	if got, want := sink.String(), "svc | first run\nsvc | second run\n"; got != want {
		t.Errorf("log %q, want %q", got, want)
	}
}

// TestOutputKeepsTheEnd: a bounded Output keeps the latest bytes and says
// that earlier ones were dropped.
func TestOutputKeepsTheEnd(t *testing.T) {
	out := NewOutput(8)
	for _, s := range []string{"aaaa", "bbbb", "cccc"} {
		_, _ = out.Write([]byte(s))
	}
	got := out.String()
	if !strings.HasPrefix(got, "…(earlier output dropped)\n") || !strings.HasSuffix(got, "cccc") || strings.Contains(got, "aaaa") {
		t.Errorf("output %q, want the note, then the end (no aaaa) ending in cccc", got)
	}
}

// TestStopKillsWhatIgnoresItsSignal: a process that ignores SIGTERM is
// killed when ctx ends, and Stop says so.
func TestStopKillsWhatIgnoresItsSignal(t *testing.T) {
	p := shell(t, Spec{Name: "stubborn"}, NewLog(nil), `trap "" TERM; echo up; exec tail -f /dev/null`)
	printed(t, p, "up")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := p.Stop(ctx, syscall.SIGTERM)
	if err == nil || !strings.Contains(err.Error(), "stubborn did not stop") {
		t.Errorf("Stop = %v, want an error saying stubborn had to be killed", err)
	}
	if !p.Exited() {
		t.Error("Stop returned while the process runs")
	}
}

// TestStopSignalsTheWholeGroup: what a child started itself stops with it
// (the JVM launchers, a shell's children).
func TestStopSignalsTheWholeGroup(t *testing.T) {
	p := shell(t, Spec{Name: "parent"}, NewLog(nil), `tail -f /dev/null & echo "grandchild $!"; wait`)
	printed(t, p, "grandchild ")
	var pid int
	for line := range strings.Lines(p.Output()) {
		if _, err := fmt.Sscanf(line, "grandchild %d", &pid); err == nil {
			break
		}
	}
	if pid == 0 {
		t.Fatalf("no grandchild pid in %q", p.Output())
	}
	if err := p.Stop(context.Background(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for syscall.Kill(pid, 0) == nil {
		// The grandchild is a zombie until init reaps it; a zombie's
		// /proc status says so.
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status"); err != nil || strings.Contains(string(b), "zombie") {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("grandchild %d still runs after its group was stopped", pid)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestStdinReachesTheProcess: the load runner's broker reads its stdin to
// notice its runner is gone.
func TestStdinReachesTheProcess(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p := shell(t, Spec{Name: "reader", Stdin: r}, NewLog(nil), "cat")
	r.Close()
	if _, err := w.WriteString("hello\n"); err != nil {
		t.Fatal(err)
	}
	w.Close()
	<-p.Done()
	if got := p.Output(); got != "hello\n" {
		t.Errorf("output %q, want what was written to stdin", got)
	}
}
