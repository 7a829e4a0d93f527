package proc

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime/metrics"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Allocs are a Go process's runtime counters: the bytes and objects it has
// allocated on its heap since it started, and the garbage collections it
// has completed. What a process allocates per order is what its collector
// then has to sweep: CPU per order, before it shows as CPU.
type Allocs struct {
	Bytes    uint64 `json:"bytes"`
	Objects  uint64 `json:"objects"`
	GCCycles uint64 `json:"gc_cycles"`
}

// sub is a-b, and false when a counter went backwards.
func (a Allocs) sub(b Allocs) (Allocs, bool) {
	if a.Bytes < b.Bytes || a.Objects < b.Objects || a.GCCycles < b.GCCycles {
		return Allocs{}, false
	}
	return Allocs{Bytes: a.Bytes - b.Bytes, Objects: a.Objects - b.Objects, GCCycles: a.GCCycles - b.GCCycles}, true
}

func (a Allocs) add(b Allocs) Allocs {
	return Allocs{Bytes: a.Bytes + b.Bytes, Objects: a.Objects + b.Objects, GCCycles: a.GCCycles + b.GCCycles}
}

// selfMetrics are the runtime/metrics samples SelfAllocs reads, in the
// order of Allocs' fields.
var selfMetrics = []string{"/gc/heap/allocs:bytes", "/gc/heap/allocs:objects", "/gc/cycles/total:gc-cycles"}

// SelfAllocs reads this process's counters through runtime/metrics, which,
// unlike runtime.ReadMemStats, does not stop the world.
func SelfAllocs() (Allocs, error) {
	samples := make([]metrics.Sample, len(selfMetrics))
	for i, name := range selfMetrics {
		samples[i].Name = name
	}
	metrics.Read(samples)
	var v [3]uint64
	for i, s := range samples {
		if s.Value.Kind() != metrics.KindUint64 {
			return Allocs{}, fmt.Errorf("runtime/metrics: %s is not supported by this Go", s.Name)
		}
		v[i] = s.Value.Uint64()
	}
	return Allocs{Bytes: v[0], Objects: v[1], GCCycles: v[2]}, nil
}

// varsClient reads the services' /debug/vars: loopback, never through a
// proxy, and never long enough to hold up a window.
var varsClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}

// VarsAllocs reads a Go process's counters from the expvar its debug
// endpoints serve (svc.Debug on DEBUG_ADDR): GET {base}/debug/vars.
func VarsAllocs(ctx context.Context, base string) (Allocs, error) {
	u, err := url.JoinPath(base, "debug", "vars")
	if err != nil {
		return Allocs{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return Allocs{}, err
	}
	resp, err := varsClient.Do(req)
	if err != nil {
		return Allocs{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Allocs{}, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	a, err := ParseVars(resp.Body)
	if err != nil {
		return Allocs{}, fmt.Errorf("GET %s: %w", u, err)
	}
	return a, nil
}

// ParseVars reads expvar's "memstats" (runtime.MemStats) from a
// /debug/vars body: TotalAlloc, Mallocs and NumGC. A body without them is
// an error, never zeros.
func ParseVars(r io.Reader) (Allocs, error) {
	var vars struct {
		Memstats *struct {
			TotalAlloc *uint64
			Mallocs    *uint64
			NumGC      *uint64
		} `json:"memstats"`
	}
	if err := json.NewDecoder(r).Decode(&vars); err != nil {
		return Allocs{}, fmt.Errorf("debug vars: %w", err)
	}
	m := vars.Memstats
	if m == nil {
		return Allocs{}, errors.New("debug vars: no memstats")
	}
	if m.TotalAlloc == nil || m.Mallocs == nil || m.NumGC == nil {
		return Allocs{}, errors.New("debug vars: memstats without TotalAlloc, Mallocs or NumGC")
	}
	return Allocs{Bytes: *m.TotalAlloc, Objects: *m.Mallocs, GCCycles: *m.NumGC}, nil
}

// ErrNoDebugURL is a service's reason for having no allocation figures when
// the runner does not know its debug endpoint.
var ErrNoDebugURL = errors.New("its debug endpoint (DEBUG_ADDR, /debug/vars) is not known to the runner")

// hasAllocs says whether the runner reads p's allocation counters: its own,
// and those of processes with a debug endpoint. A service without one has
// figures it cannot read; a JVM or PostgreSQL has none to read.
func hasAllocs(p Process) bool {
	return p.DebugURL != "" || p.Kind == KindService || p.isSelf()
}

func (p Process) isSelf() bool {
	return p.Kind == KindRunner && p.PID == os.Getpid()
}

// allocSnapshot reads the allocation counters of procs. The runner's own
// are read after the others' when a window opens and before them when it
// closes (selfFirst), so that what reading the others' /debug/vars
// allocates in the runner stays out of the runner's figures. The others'
// are read at once, each on its own, so that the CPU window, which opens
// after them, starts one request late at most, not one per service.
func allocSnapshot(procs []Process, selfFirst bool) (map[string]Allocs, map[string]string) {
	got, errs := map[string]Allocs{}, map[string]string{}
	readSelf := func() {
		for _, p := range procs {
			if p.isSelf() {
				a, err := SelfAllocs()
				if err != nil {
					errs[p.Name] = err.Error()
					continue
				}
				got[p.Name] = a
			}
		}
	}
	if selfFirst {
		readSelf()
	}
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for _, p := range procs {
		if p.isSelf() || !hasAllocs(p) {
			continue
		}
		if p.DebugURL == "" {
			mu.Lock()
			errs[p.Name] = cmp.Or(p.DebugUnknown, ErrNoDebugURL.Error())
			mu.Unlock()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			a, err := VarsAllocs(ctx, p.DebugURL)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs[p.Name] = err.Error()
				return
			}
			got[p.Name] = a
		}()
	}
	wg.Wait()
	if !selfFirst {
		readSelf()
	}
	return got, errs
}

// FindDebugURL finds the base URL of a running Go service's debug endpoints
// from how it was started: DEBUG_ADDR in its environment (svc.Debug listens
// there), checked against the ports pid listens on, so that a port another
// process holds is never read as this one's. A DEBUG_ADDR with port 0 (any
// free port, what the runner gives the services it starts) is the one port
// pid listens on besides its service's: servicePort (0 when unknown) and
// HTTP_ADDR's; with more than one left it is an error, never a guess.
func FindDebugURL(pid, servicePort int) (string, error) {
	env, err := Environ(pid, "DEBUG_ADDR", "HTTP_ADDR")
	if err != nil {
		return "", err
	}
	if env["DEBUG_ADDR"] == "" {
		return "", ErrNoDebugAddr
	}
	ports, err := ListeningPorts(pid)
	if err != nil {
		return "", err
	}
	return debugURLOf(env["DEBUG_ADDR"], env["HTTP_ADDR"], servicePort, ports)
}

// ErrNoDebugAddr is FindDebugURL's error for a process started without
// DEBUG_ADDR: it serves no debug endpoints.
var ErrNoDebugAddr = errors.New("DEBUG_ADDR is not set in its environment: it serves no /debug/vars")

// debugURLOf is FindDebugURL's answer from what it read: DEBUG_ADDR and
// HTTP_ADDR as set, the service's port when known, and the ports the
// process listens on.
func debugURLOf(debugAddr, httpAddr string, servicePort int, listening []int) (string, error) {
	host, p, err := net.SplitHostPort(debugAddr)
	if err != nil {
		return "", fmt.Errorf("DEBUG_ADDR=%q: %w", debugAddr, err)
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return "", fmt.Errorf("DEBUG_ADDR=%q: port %q is not a number", debugAddr, p)
	}
	// The debug endpoints answer loopback clients only: an address on
	// every interface is reached on 127.0.0.1.
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	if port != 0 {
		if !slices.Contains(listening, int(port)) {
			return "", fmt.Errorf("DEBUG_ADDR=%s, but it does not listen on port %d (its debug endpoints were not served: another process holds the port?)", debugAddr, port)
		}
		return "http://" + net.JoinHostPort(host, p), nil
	}
	service := []int{servicePort}
	if _, hp, err := net.SplitHostPort(httpAddr); err == nil {
		if n, err := strconv.Atoi(hp); err == nil {
			service = append(service, n)
		}
	}
	var others []int
	for _, l := range listening {
		if !slices.Contains(service, l) {
			others = append(others, l)
		}
	}
	switch len(others) {
	case 1:
		return "http://" + net.JoinHostPort(host, strconv.Itoa(others[0])), nil
	case 0:
		return "", fmt.Errorf("DEBUG_ADDR=%s, but it listens on no port besides its service's (%v): its debug endpoints were not served", debugAddr, listening)
	default:
		return "", fmt.Errorf("DEBUG_ADDR=%s and it listens on ports %v besides its service's: which is DEBUG_ADDR's is not known", debugAddr, others)
	}
}

// allocsBetween is each process's counters over a window from its readings
// at the start and at the end; a process missing at either end, or whose
// counters went backwards, has a reason instead.
func allocsBetween(before, after map[string]Allocs, errs ...map[string]string) (map[string]Allocs, map[string]string) {
	out, reasons := map[string]Allocs{}, map[string]string{}
	for _, e := range errs {
		for name, msg := range e {
			if _, ok := reasons[name]; !ok {
				reasons[name] = msg
			}
		}
	}
	for name, b := range before {
		a, ok := after[name]
		if !ok {
			continue // its error is in reasons
		}
		if d, ok := a.sub(b); ok {
			out[name] = d
		} else {
			reasons[name] = "its allocation counters went backwards: the process was restarted during the window"
		}
	}
	return out, reasons
}
