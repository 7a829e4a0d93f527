package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkakit/kit/harness"
	"github.com/kafkakit/kit/loadtest/internal/proc"
	"github.com/kafkakit/kit/loadtest/internal/report"
)

// target is the stack under test, started by the runner or already running.
type target struct {
	kind     string // "harness" or "running"
	broker   string // "embedded", "kafka", "kafka-cluster" or "external"
	stockURL string
	// ordersURLs and notificationsURLs are every instance's base URL; the
	// orders are spread over them.
	ordersURLs        []string
	notificationsURLs []string
	brokers           []string
	// registryURL is the schema registry the stack's services read ids
	// from: -mode sse frames the order it places with it.
	registryURL string
	// dialer and kgoOpts sign the runner's own Kafka clients in on a
	// locked-down stack (nil: plaintext).
	dialer  *kafka.Dialer
	kgoOpts []kgo.Opt
	// replication is the kit's topics' replication factor on the broker
	// the harness started (3 on kafka-cluster); 0 when unknown.
	replication      int
	notificationsPID int
	// processes are the stack's processes whose CPU time a run reads,
	// and the runner itself.
	processes []proc.Process
	// debugURLs are the services' DEBUG_ADDR base URLs (pprof, expvar).
	debugURLs map[string]string
	stack     report.Stack
	// faults holds -fault on the stack's links; nil without -fault.
	faults faultSwitch
	close  func(context.Context) error
}

// The names the report gives the processes.
const (
	procBroker    = "broker"
	procZooKeeper = "zookeeper"
	procPostgres  = "postgres"
	procRunner    = "runner"
)

// settingKeys are the environment variables that change what a service
// costs per order; the report prints each process's values.
var settingKeys = []string{"PAYMENT_DELAY", "LOG_LEVEL", "GOGC", "GOMAXPROCS", "GOMEMLIMIT", "GODEBUG", "PRODUCER_BATCH_TIMEOUT", "DEBUG_ADDR"}

func openTarget(ctx context.Context, cfg config, stderr io.Writer) (*target, error) {
	if cfg.target == "harness" {
		return startStack(ctx, cfg, stderr)
	}
	t := &target{
		kind:              "running",
		broker:            "external",
		stockURL:          cfg.stockURL,
		ordersURLs:        []string{cfg.ordersURL},
		notificationsURLs: []string{cfg.notificationsURL},
		brokers:           cfg.brokers,
		registryURL:       cfg.registryURL,
		debugURLs:         maps.Clone(cfg.debugURLs),
		close:             func(context.Context) error { return nil },
	}
	urls := map[string]string{"orders-api": cfg.ordersURL, "notifications-api": cfg.notificationsURL}
	for name, base := range urls {
		if err := checkReady(ctx, base); err != nil {
			return nil, fmt.Errorf("%s at %s is not ready: %w (start the stack, e.g. `make up`, or omit the URLs to let the runner start one)", name, base, err)
		}
	}
	if cfg.fault != nil {
		faults, err := newAPIFaults(cfg.faultsAPI, cfg.fault)
		if err != nil {
			return nil, err
		}
		t.faults = faults
	}
	t.processes, t.stack.Notes = findRunning(cfg)
	if t.debugURLs == nil {
		t.debugURLs = map[string]string{}
	}
	for _, p := range t.processes {
		if p.Name == "notifications-api" {
			t.notificationsPID = p.PID
		}
		// A debug endpoint found from the process serves -profile and
		// -mode sse's heap figures as one given by -debug-urls does.
		if p.DebugURL != "" {
			t.debugURLs[p.Name] = p.DebugURL
		}
	}
	t.stack.StartedBy = "already running; the runner was given its URLs"
	t.stack.Broker = "external at " + strings.Join(cfg.brokers, ",")
	t.describe()
	return t, nil
}

// findRunning finds the processes of a running stack: those -pids names,
// then each service by the port of its URL and each broker by the port of
// its address, when that port listens on this machine.
func findRunning(cfg config) ([]proc.Process, []string) {
	var notes []string
	wanted := map[string]string{} // name -> "pid" or ":port"
	found := map[string]string{}
	servicePort := map[string]int{} // a service's HTTP port, when on this machine
	portOf := func(rawURL string) string {
		u, err := url.Parse(rawURL)
		if err != nil || u.Port() == "" {
			return ""
		}
		if !isLocal(u.Hostname()) {
			return ""
		}
		return ":" + u.Port()
	}
	for name, u := range map[string]string{"orders-api": cfg.ordersURL, "orders-processor": cfg.processorURL,
		"notifications-api": cfg.notificationsURL, "stock-service": cfg.stockURL} {
		if p := portOf(u); p != "" {
			wanted[name], found[name] = p, "listening on "+p
			servicePort[name], _ = strconv.Atoi(strings.TrimPrefix(p, ":"))
		} else {
			notes = append(notes, fmt.Sprintf("%s: %s is not on this machine; pass -pids %s=PID to read its CPU time", name, u, name))
		}
	}
	for i, b := range cfg.brokers {
		name := procBroker
		if len(cfg.brokers) > 1 {
			name = fmt.Sprintf("%s %d", procBroker, i+1)
		}
		host, port, err := net.SplitHostPort(b)
		if err != nil || !isLocal(host) {
			notes = append(notes, fmt.Sprintf("%s: %s is not on this machine; pass -pids '%s=PID' to read its CPU time", name, b, name))
			continue
		}
		wanted[name], found[name] = ":"+port, "listening on :"+port
	}
	for name, v := range cfg.pids {
		wanted[name], found[name] = v, "-pids flag"
	}
	var procs []proc.Process
	seen := map[int]string{}
	for _, name := range slices.Sorted(maps.Keys(wanted)) {
		v := wanted[name]
		var pid int
		port, byPort := strings.CutPrefix(v, ":")
		if byPort {
			n, _ := strconv.Atoi(port)
			var err error
			if pid, err = proc.ListeningPID(n); err != nil {
				notes = append(notes, fmt.Sprintf("%s: %v; its CPU time is not counted", name, err))
				continue
			}
		} else {
			pid, _ = strconv.Atoi(v)
		}
		cmd := proc.Command(pid)
		if byPort && cmd == "docker-proxy" {
			notes = append(notes, fmt.Sprintf("%s: port %s is held by docker-proxy, not the service; pass -pids %s=PID", name, port, name))
			continue
		}
		if other, dup := seen[pid]; dup {
			notes = append(notes, fmt.Sprintf("%s is the same process as %s (pid %d): counted once, as %s", name, other, pid, other))
			continue
		}
		seen[pid] = name
		p := proc.Process{Name: name, PID: pid, Command: cmd, Found: found[name], Kind: kindOf(name)}
		if p.Kind == proc.KindService {
			// Found by its port, that port is its service's.
			httpPort := servicePort[name]
			if byPort {
				httpPort, _ = strconv.Atoi(port)
			}
			p.DebugURL, p.DebugUnknown = runningDebugURL(name, pid, httpPort, cfg.debugURLs)
		}
		procs = append(procs, p)
	}
	procs = append(procs, self())
	return procs, notes
}

// runningDebugURL is where a running service's debug endpoints are: the
// -debug-urls given, else what its environment and listening ports say
// (proc.FindDebugURL, servicePort 0 when unknown); or why that is not known,
// with what would tell the runner.
func runningDebugURL(name string, pid, servicePort int, given map[string]string) (debugURL, unknown string) {
	if u := given[name]; u != "" {
		return u, ""
	}
	u, err := proc.FindDebugURL(pid, servicePort)
	switch {
	case errors.Is(err, proc.ErrNoDebugAddr):
		return "", fmt.Sprintf("%v (start the stack with DEBUG_ADDR=127.0.0.1:0, which kit up passes on to every service, each taking a free port; or pass -debug-urls %s=URL)", err, name)
	case err != nil:
		return "", fmt.Sprintf("its debug endpoint: %v (pass -debug-urls %s=URL)", err, name)
	}
	return u, ""
}

// orderPath is the services in the order an order passes through them.
var orderPath = []string{harness.OrdersAPI, harness.StockService, harness.OrdersProcessor, harness.NotificationsAPI}

// processOrder is the order the report lists processes in: the order's
// path through the services, then the broker and the database; others by
// name; the runner last. Instances of one service (orders-processor#2) sit
// together, by name.
var processOrder = append(slices.Clip(orderPath), procBroker, procZooKeeper, procPostgres)

// sortProcesses puts procs in processOrder.
func sortProcesses(procs []proc.Process) {
	rank := func(p proc.Process) int {
		if p.Kind == proc.KindRunner {
			return len(processOrder) + 1
		}
		for i, name := range processOrder {
			if report.ServiceOf(p.Name) == name {
				return i
			}
		}
		return len(processOrder)
	}
	sort.SliceStable(procs, func(i, j int) bool {
		if ri, rj := rank(procs[i]), rank(procs[j]); ri != rj {
			return ri < rj
		}
		return procs[i].Name < procs[j].Name
	})
}

// self is the runner's own process.
func self() proc.Process {
	return proc.Process{Name: procRunner, PID: os.Getpid(), Command: proc.Command(os.Getpid()), Found: "this process", Kind: proc.KindRunner}
}

func isLocal(host string) bool {
	if host == "localhost" || host == "" {
		return true
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return false
	}
	if ip.IsLoopback() || ip.IsUnspecified() {
		return true
	}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
			return true
		}
	}
	return false
}

// describe fills the report's account of the stack from the processes
// themselves: each one's settings (its environment when it started) and
// where its log goes, and warns of settings the published numbers do not
// use.
func (t *target) describe() {
	sortProcesses(t.processes)
	t.stack.Processes = t.processes
	t.stack.Env = map[string]map[string]string{}
	t.stack.Output = map[string]string{}
	for _, p := range t.processes {
		env, err := proc.Environ(p.PID, settingKeys...)
		if err != nil {
			t.stack.Notes = append(t.stack.Notes, fmt.Sprintf("%s: %v", p.Name, err))
			continue
		}
		// The soft open-file limit is part of how a process was started:
		// one SSE stream or connection is one file, and a service started
		// by the runner inherits the limit the runner raised.
		if n := proc.OpenFileLimit(p.PID); n != "" {
			env["open files"] = n
		}
		t.stack.Env[p.Name] = env
		t.stack.Output[p.Name] = proc.Output(p.PID)
		if !isService(p.Name) {
			continue
		}
		if d := env["PAYMENT_DELAY"]; report.ServiceOf(p.Name) == "orders-processor" && d != "0" && d != "0s" {
			t.stack.Warnings = append(t.stack.Warnings, fmt.Sprintf("orders-processor runs with PAYMENT_DELAY=%q (default 500ms): every order waits that long; the numbers need PAYMENT_DELAY=0", d))
		}
		if n, err := strconv.Atoi(env["open files"]); err == nil && n < 10_000 {
			t.stack.Warnings = append(t.stack.Warnings, fmt.Sprintf("%s may open at most %d files: one connection or SSE stream is one file, so under load or in -mode sse it refuses connections (raise the soft limit, ulimit -n, before starting it)", p.Name, n))
		}
		if l := strings.ToLower(env["LOG_LEVEL"]); l != "warn" && l != "error" {
			t.stack.Warnings = append(t.stack.Warnings, fmt.Sprintf("%s runs with LOG_LEVEL=%q: it logs a line per order; the numbers need LOG_LEVEL=warn", p.Name, env["LOG_LEVEL"]))
		}
	}
}

// isService says whether name is a service's process, or an instance's
// (orders-processor#2).
func isService(name string) bool {
	return slices.Contains(orderPath, report.ServiceOf(name))
}

// checkReady asks a service's /readyz, falling back to /healthz.
func checkReady(ctx context.Context, base string) error {
	var last error
	for _, path := range []string{"readyz", "healthz"} {
		u, err := url.JoinPath(base, path)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		resp, err := http.DefaultClient.Do(req)
		cancel()
		if err != nil {
			last = err
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nil
		}
		last = fmt.Errorf("GET /%s: %s", path, resp.Status)
	}
	return last
}

// seedStock gives each SKU a stock no run exhausts, so stock-service never
// rejects an order of the runner's (the order's way to PAID does not depend
// on stock, but the stock-service's work should be the normal one).
func seedStock(ctx context.Context, stockURL string, skus []string) error {
	body := map[string]int{}
	for _, s := range skus {
		body[s] = 1_000_000_000
	}
	b, _ := json.Marshal(body)
	u, err := url.JoinPath(stockURL, "seed")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("POST /seed: %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}

// kindOf tells a process's kind by the name the runner or -pids gave it.
func kindOf(name string) string {
	switch {
	case isService(name):
		return proc.KindService
	case strings.HasPrefix(name, procBroker), strings.HasPrefix(name, procZooKeeper):
		return proc.KindBroker
	}
	return proc.KindOther
}
