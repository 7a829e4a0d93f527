// Package proc reads the CPU time processes spent (user + system, from
// /proc/<pid>/stat), finds the process listening on a local port (from
// /proc/net/tcp{,6} and /proc/<pid>/fd), and turns snapshots taken at the
// start and end of a stretch of load into CPU milliseconds per order. CPU time
// is the figure that stays put on a noisy shared machine, where latency does
// not. Linux only; elsewhere every reading fails with a clear error. In the
// same windows it reads the Go processes' allocation counters (alloc.go):
// the runner's own from its runtime, a service's from its debug endpoint.
package proc

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Process is one process whose CPU time a run reads.
type Process struct {
	// Name is its role in the stack: "orders-api", "broker", "runner", ...
	Name string `json:"name"`
	PID  int    `json:"pid"`
	// Command is what the process is (its /proc comm, and for a JVM the
	// main class), so a reader sees e.g. that the broker port is held by
	// the kit CLI, which runs the embedded broker in-process.
	Command string `json:"command,omitempty"`
	// Found says how the pid was learned: "spawned by the harness",
	// "listening on 127.0.0.1:8081", "-pids flag", "this process".
	Found string `json:"found"`
	// Kind is KindService, KindBroker (ZooKeeper too), KindDatabase,
	// KindRunner (the load runner itself, reported apart from the stack) or
	// KindOther.
	Kind string `json:"kind"`
	// Tree counts the CPU time of the process's descendants with its own:
	// PostgreSQL does its work in a backend process per connection, which
	// comes and goes with the services' connection pools.
	Tree bool `json:"tree,omitempty"`
	// DebugURL is the base URL of a Go process's debug endpoints
	// (DEBUG_ADDR), whose /debug/vars gives its allocation counters; ""
	// when the runner does not know it.
	DebugURL string `json:"debug_url,omitempty"`
	// DebugUnknown says why a service's DebugURL is "" (its DEBUG_ADDR
	// unset, its debug port not told apart): the report gives it in place
	// of the service's allocation figures.
	DebugUnknown string `json:"debug_unknown,omitempty"`
}

// The kinds of process.
const (
	KindService  = "service"
	KindBroker   = "broker"
	KindRunner   = "runner"
	KindDatabase = "database"
	KindOther    = "other"
)

// Stat is what the runner reads of /proc/<pid>/stat.
type Stat struct {
	PID   int
	Comm  string
	State byte
	PPID  int
	// UTime and STime are in clock ticks, and so are CUTime and CSTime:
	// the time of the children it has waited for.
	UTime, STime   uint64
	CUTime, CSTime uint64
}

// ParseStat parses one /proc/<pid>/stat line. The command name sits in
// parentheses and may itself hold spaces and parentheses, so the fields are
// counted from the last ')'.
func ParseStat(b []byte) (Stat, error) {
	open := bytes.IndexByte(b, '(')
	closing := bytes.LastIndexByte(b, ')')
	if open < 0 || closing < open {
		return Stat{}, fmt.Errorf("stat %.60q: no (comm)", b)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b[:open])))
	if err != nil {
		return Stat{}, fmt.Errorf("stat %.60q: pid: %w", b, err)
	}
	// After ") ": state(3) ppid(4) pgrp session tty_nr tpgid flags minflt
	// cminflt majflt cmajflt utime(14) stime(15) cutime(16) cstime(17) ...
	f := strings.Fields(string(b[closing+1:]))
	if len(f) < 15 {
		return Stat{}, fmt.Errorf("stat %.60q: %d fields after comm, want at least 15", b, len(f))
	}
	s := Stat{PID: pid, Comm: string(b[open+1 : closing]), State: f[0][0]}
	if s.PPID, err = strconv.Atoi(f[1]); err != nil {
		return Stat{}, fmt.Errorf("stat ppid %q: %w", f[1], err)
	}
	if s.UTime, err = strconv.ParseUint(f[11], 10, 64); err != nil {
		return Stat{}, fmt.Errorf("stat utime %q: %w", f[11], err)
	}
	if s.STime, err = strconv.ParseUint(f[12], 10, 64); err != nil {
		return Stat{}, fmt.Errorf("stat stime %q: %w", f[12], err)
	}
	if s.CUTime, err = strconv.ParseUint(f[13], 10, 64); err != nil {
		return Stat{}, fmt.Errorf("stat cutime %q: %w", f[13], err)
	}
	if s.CSTime, err = strconv.ParseUint(f[14], 10, 64); err != nil {
		return Stat{}, fmt.Errorf("stat cstime %q: %w", f[14], err)
	}
	return s, nil
}

// ReadStat reads /proc/<pid>/stat.
func ReadStat(pid int) (Stat, error) {
	b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "stat"))
	if err != nil {
		return Stat{}, fmt.Errorf("pid %d: %w", pid, err)
	}
	return ParseStat(b)
}

// procRoot is /proc; tests point it at a fake tree.
var procRoot = "/proc"

var (
	tickOnce sync.Once
	tick     time.Duration
)

// Tick is the length of one clock tick of /proc's CPU times: 1s/AT_CLKTCK
// from the process's auxiliary vector, 10ms when it cannot be read (the
// value on every Linux the kit runs on).
func Tick() time.Duration {
	tickOnce.Do(func() {
		tick = 10 * time.Millisecond
		if b, err := os.ReadFile(filepath.Join(procRoot, "self", "auxv")); err == nil {
			if hz := clockTicks(b); hz > 0 {
				tick = time.Second / time.Duration(hz)
			}
		}
	})
	return tick
}

// clockTicks finds AT_CLKTCK (17) in a 64-bit auxiliary vector.
func clockTicks(auxv []byte) uint64 {
	const atClkTck = 17
	for i := 0; i+16 <= len(auxv); i += 16 {
		key := binary.NativeEndian.Uint64(auxv[i:])
		val := binary.NativeEndian.Uint64(auxv[i+8:])
		if key == 0 {
			break
		}
		if key == atClkTck {
			return val
		}
	}
	return 0
}

// Time is the CPU time (user + system, every thread) pid has used so far.
func Time(pid int) (time.Duration, error) {
	s, err := ReadStat(pid)
	if err != nil {
		return 0, err
	}
	return time.Duration(s.UTime+s.STime) * Tick(), nil
}

// TreeTime is the CPU time pid and every process descended from it have
// used so far: each living one's own time plus that of the children it has
// waited for, so a child that ended (a PostgreSQL backend whose connection
// closed) still counts, in its parent's.
func TreeTime(pid int) (time.Duration, error) {
	root, err := ReadStat(pid)
	if err != nil {
		return 0, err
	}
	children := map[int][]Stat{}
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil || n == pid {
			continue
		}
		s, err := ReadStat(n)
		if err != nil {
			continue // gone since the listing: its parent has its time
		}
		children[s.PPID] = append(children[s.PPID], s)
	}
	var ticks uint64
	seen := map[int]bool{}
	queue := []Stat{root}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		if seen[s.PID] {
			continue
		}
		seen[s.PID] = true
		ticks += s.UTime + s.STime + s.CUTime + s.CSTime
		queue = append(queue, children[s.PID]...)
	}
	return time.Duration(ticks) * Tick(), nil
}

// Command describes pid: its comm, and for a JVM the main class (the first
// argument after the options), so "java" reads "java kafka.Kafka".
func Command(pid int) string {
	s, err := ReadStat(pid)
	if err != nil {
		return ""
	}
	b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "cmdline"))
	if err != nil || s.Comm != "java" {
		return s.Comm
	}
	args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	for i := 1; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-cp" || a == "-classpath":
			i++
		case strings.HasPrefix(a, "-"):
		default:
			return "java " + a
		}
	}
	return s.Comm
}

// ListeningPID returns the pid of the process listening on TCP port (any
// local address, IPv4 or IPv6): the socket's inode from /proc/net/tcp{,6},
// then the process holding that inode among /proc/<pid>/fd. Only processes
// of the same user (or all, as root) can be searched.
func ListeningPID(port int) (int, error) {
	inodes := map[string]bool{}
	for ino, p := range listeningSockets() {
		if p == port {
			inodes[ino] = true
		}
	}
	if len(inodes) == 0 {
		return 0, fmt.Errorf("no socket listens on port %d here", port)
	}
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		held, err := socketInodes(pid)
		if err != nil {
			continue // another user's process, or gone
		}
		for ino := range held {
			if inodes[ino] {
				return pid, nil
			}
		}
	}
	return 0, fmt.Errorf("port %d listens, but no process of this user holds the socket (another user's, or in a container)", port)
}

// ListeningPorts returns the TCP ports pid listens on (any local address,
// IPv4 or IPv6), sorted: the sockets among its /proc/<pid>/fd that
// /proc/net/tcp{,6} has in LISTEN state.
func ListeningPorts(pid int) ([]int, error) {
	held, err := socketInodes(pid)
	if err != nil {
		return nil, fmt.Errorf("pid %d's sockets: %w", pid, err)
	}
	var ports []int
	for ino, port := range listeningSockets() {
		if held[ino] && !slices.Contains(ports, port) {
			ports = append(ports, port)
		}
	}
	slices.Sort(ports)
	return ports, nil
}

// socketInodes returns the inodes of the sockets pid holds open.
func socketInodes(pid int) (map[string]bool, error) {
	dir := filepath.Join(procRoot, strconv.Itoa(pid), "fd")
	fds, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	held := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join(dir, fd.Name()))
		if err != nil {
			continue
		}
		if ino, ok := strings.CutPrefix(link, "socket:["); ok {
			held[strings.TrimSuffix(ino, "]")] = true
		}
	}
	return held, nil
}

// listeningSockets maps the inode of every TCP socket in LISTEN state on
// this machine, IPv4 and IPv6, to its port.
func listeningSockets() map[string]int {
	out := map[string]int{}
	for _, f := range []string{"tcp", "tcp6"} {
		b, err := os.ReadFile(filepath.Join(procRoot, "net", f))
		if err != nil {
			continue
		}
		maps.Copy(out, listeningPorts(bytes.NewReader(b)))
	}
	return out
}

// listeningPorts maps the inode of each socket in LISTEN state (0A) in a
// /proc/net/tcp or tcp6 table to its port.
func listeningPorts(r io.Reader) map[string]int {
	out := map[string]int{}
	sc := bufio.NewScanner(r)
	sc.Scan() // header
	for sc.Scan() {
		// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
		f := strings.Fields(sc.Text())
		if len(f) < 10 || f[3] != "0A" {
			continue
		}
		_, hexPort, ok := strings.Cut(f[1], ":")
		if !ok {
			continue
		}
		if port, err := strconv.ParseUint(hexPort, 16, 16); err == nil {
			out[f[9]] = int(port)
		}
	}
	return out
}

// Usage is the CPU time each process used over a window.
type Usage struct {
	Start, End time.Time
	// ByName is each process's CPU time in the window; a process whose time
	// could not be read at both ends is missing, with the reason in Errors.
	ByName map[string]time.Duration
	Errors map[string]string
	// Machine is the whole machine over the window; nil when /proc/stat
	// could not be read.
	Machine *Machine
	// Allocs is what each Go process allocated in the window; a process
	// whose counters could not be read at both ends is missing, with the
	// reason in AllocErrors. Processes that are not Go (a JVM, PostgreSQL)
	// are in neither.
	Allocs      map[string]Allocs
	AllocErrors map[string]string
}

// snapshot reads every process's CPU time now.
func snapshot(procs []Process) (map[string]time.Duration, map[string]string) {
	got, errs := map[string]time.Duration{}, map[string]string{}
	for _, p := range procs {
		read := Time
		if p.Tree {
			read = TreeTime
		}
		t, err := read(p.PID)
		if err != nil {
			errs[p.Name] = err.Error()
			continue
		}
		got[p.Name] = t
	}
	return got, errs
}

// Window reads the processes' CPU time at from and at to. Wait returns the
// usage in between; it blocks until to has passed, or returns what it has
// when stop is closed first (then End is the stop time).
type Window struct {
	done  chan struct{}
	usage Usage
}

// Measure starts a Window over procs from from to to.
func Measure(procs []Process, from, to time.Time, stop <-chan struct{}) *Window {
	w := &Window{done: make(chan struct{})}
	go func() {
		defer close(w.done)
		wait := func(t time.Time) bool {
			timer := time.NewTimer(time.Until(t))
			defer timer.Stop()
			select {
			case <-timer.C:
				return true
			case <-stop:
				return false
			}
		}
		u := Usage{ByName: map[string]time.Duration{}, Errors: map[string]string{}}
		if !wait(from) {
			w.usage = u
			return
		}
		// The allocation counters are read outside the CPU readings, so
		// that the HTTP requests for the services' stay out of the CPU
		// window; each service's own window then holds what answering
		// one of them allocates, a few KB.
		allocs0, allocErrs := allocSnapshot(procs, false)
		u.Start = time.Now()
		m0, merr := readMachine()
		before, errs := snapshot(procs)
		wait(to)
		u.End = time.Now()
		after, errs2 := snapshot(procs)
		if m1, err := readMachine(); err == nil && merr == nil {
			u.Machine = machineBetween(m0, m1)
		}
		allocs1, allocErrs2 := allocSnapshot(procs, true)
		u.Allocs, u.AllocErrors = allocsBetween(allocs0, allocs1, allocErrs, allocErrs2)
		for name, msg := range errs {
			u.Errors[name] = msg
		}
		for name, msg := range errs2 {
			if _, ok := u.Errors[name]; !ok {
				u.Errors[name] = msg
			}
		}
		for name, b := range before {
			a, ok := after[name]
			switch {
			case !ok:
			case a < b:
				u.Errors[name] = "its CPU time went backwards: the process was restarted during the window"
			default:
				u.ByName[name] = a - b
			}
		}
		w.usage = u
	}()
	return w
}

// Wait returns the window's usage once it is over.
func (w *Window) Wait() Usage {
	<-w.done
	return w.usage
}

// addWindows sums two windows' figures per process: a process is summed
// when both have its figure; one with an error in either keeps the error,
// and one read in one window only says so.
func addWindows[V any](u, v map[string]V, uErrs, vErrs map[string]string, plus func(V, V) V) (map[string]V, map[string]string) {
	out, errs := map[string]V{}, map[string]string{}
	for name, a := range u {
		if b, ok := v[name]; ok {
			out[name] = plus(a, b)
		}
	}
	for _, e := range []map[string]string{uErrs, vErrs} {
		for name, msg := range e {
			errs[name] = msg
			delete(out, name)
		}
	}
	for _, m := range []map[string]V{u, v} {
		for name := range m {
			if _, ok := out[name]; !ok && errs[name] == "" {
				errs[name] = "not read in every window"
			}
		}
	}
	return out, errs
}

// ErrNotLinux is returned where /proc is missing.
var ErrNotLinux = errors.New("no /proc here: CPU time is read on Linux only")

// Available reports whether this machine has the /proc the package reads.
func Available() error {
	if _, err := os.Stat(filepath.Join(procRoot, "self", "stat")); err != nil {
		return ErrNotLinux
	}
	return nil
}

// Environ returns the values of keys in pid's environment as it was when the
// process started (/proc/<pid>/environ); a key that is not set is absent.
func Environ(pid int, keys ...string) (map[string]string, error) {
	b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "environ"))
	if err != nil {
		return nil, fmt.Errorf("environment of pid %d: %w", pid, err)
	}
	return parseEnviron(b, keys), nil
}

func parseEnviron(b []byte, keys []string) map[string]string {
	want := map[string]bool{}
	for _, k := range keys {
		want[k] = true
	}
	out := map[string]string{}
	for kv := range strings.SplitSeq(string(b), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok && want[k] {
			out[k] = v
		}
	}
	return out
}

// Output says where pid's standard error goes: a terminal (/dev/pts/N), a
// pipe (to whatever reads it: a supervisor, a tee), a file, or /dev/null.
func Output(pid int) string {
	link, err := os.Readlink(filepath.Join(procRoot, strconv.Itoa(pid), "fd", "2"))
	if err != nil {
		return "unknown"
	}
	switch {
	case strings.HasPrefix(link, "pipe:"):
		return "a pipe"
	case strings.HasPrefix(link, "/dev/pts/"), strings.HasPrefix(link, "/dev/tty"):
		return "a terminal (" + link + ")"
	case strings.HasPrefix(link, "socket:"):
		return "a socket"
	}
	return link
}

// OpenFileLimit returns pid's soft limit on open files ("Max open files"
// in /proc/<pid>/limits), as text ("1024", "unlimited"); "" when unknown.
func OpenFileLimit(pid int) string {
	b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "limits"))
	if err != nil {
		return ""
	}
	return parseOpenFileLimit(b)
}

func parseOpenFileLimit(b []byte) string {
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Max open files"); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				return f[0]
			}
		}
	}
	return ""
}

// Add sums u and v, two windows over the same processes taken one after
// the other: CPU times add up, the window is as long as both, the machine's
// figures are weighted by each window's length. The zero Usage adds
// nothing.
func (u Usage) Add(v Usage) Usage {
	if v.End.Sub(v.Start) <= 0 {
		return u
	}
	if u.End.Sub(u.Start) <= 0 {
		return v
	}
	du, dv := u.End.Sub(u.Start), v.End.Sub(v.Start)
	out := Usage{Start: u.Start, End: u.Start.Add(du + dv)}
	out.ByName, out.Errors = addWindows(u.ByName, v.ByName, u.Errors, v.Errors, func(a, b time.Duration) time.Duration { return a + b })
	out.Allocs, out.AllocErrors = addWindows(u.Allocs, v.Allocs, u.AllocErrors, v.AllocErrors, Allocs.add)
	switch {
	case u.Machine == nil:
		out.Machine = v.Machine
	case v.Machine == nil:
		out.Machine = u.Machine
	default:
		wu, wv := du.Seconds()/(du+dv).Seconds(), dv.Seconds()/(du+dv).Seconds()
		m := *v.Machine
		m.BusyCores = u.Machine.BusyCores*wu + v.Machine.BusyCores*wv
		m.StealCores = u.Machine.StealCores*wu + v.Machine.StealCores*wv
		if u.Machine.CPUPressure >= 0 && v.Machine.CPUPressure >= 0 {
			m.CPUPressure = u.Machine.CPUPressure*wu + v.Machine.CPUPressure*wv
		} else {
			m.CPUPressure = -1
		}
		m.LoadAvg1 = max(u.Machine.LoadAvg1, v.Machine.LoadAvg1)
		out.Machine = &m
	}
	return out
}
