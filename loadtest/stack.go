package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/kafkakit/kit/harness"
	"github.com/kafkakit/kit/harness/broker/embedded"
	"github.com/kafkakit/kit/harness/broker/security"
	"github.com/kafkakit/kit/harness/registry"
	"github.com/kafkakit/kit/loadtest/internal/proc"
	"github.com/kafkakit/kit/loadtest/internal/report"
)

// serviceEnv is what the runner gives the services it starts: the payment
// delay asked for (0 by default, as benchmarks want), only warnings logged
// (at thousands of orders a second, one info line per order per service is
// work the measurement should not include), and Go's debug endpoints on a
// free loopback port (allocation per order from /debug/vars, pprof for
// -profile, memory figures for -mode sse).
// -mode sse also lifts notifications-api's caps on streams waiting for an
// order it has not seen, which is what the capacity run opens.
func serviceEnv(cfg config) map[string]string {
	env := map[string]string{
		"PAYMENT_DELAY": cfg.paymentDelay.String(),
		"LOG_LEVEL":     "warn",
		"DEBUG_ADDR":    "127.0.0.1:0",
	}
	if cfg.mode == "sse" {
		wait := 10*time.Minute + cfg.deliveryTimeout + cfg.settle
		env["UNKNOWN_ORDER_WAIT"] = wait.String()
		env["UNKNOWN_ORDER_STREAMS"] = strconv.Itoa(max(15_000, cfg.streams+1000))
		env["SSE_MAX_STREAMS"] = strconv.Itoa(max(20_000, cfg.streams+1000))
	}
	return env
}

// startStack starts a broker and the four services through the harness. The
// embedded broker runs in a child process of the runner's (broker.go), the
// real one in its JVMs, so the broker's CPU time is always its own.
func startStack(ctx context.Context, cfg config, stderr io.Writer) (_ *target, err error) {
	fmt.Fprintf(stderr, "loadtest: starting the stack on the %s broker (building the services on first use)...\n", cfg.broker)
	began := time.Now()
	t := &target{kind: "harness", broker: cfg.broker}
	opts := harness.Options{Broker: cfg.broker, ServiceEnv: serviceEnv(cfg), Instances: cfg.instances, DB: cfg.db, Security: cfg.security,
		Faults: cfg.fault != nil,
		// Real Kafka's cost per record is a production broker's: C2 compiles its hot code.
		BrokerFullJIT: true}
	var closers []func(context.Context) error
	t.close = func(ctx context.Context) error {
		var errs []error
		for i := len(closers) - 1; i >= 0; i-- {
			errs = append(errs, closers[i](ctx))
		}
		return errors.Join(errs...)
	}
	defer func() {
		if err != nil {
			_ = t.close(context.WithoutCancel(ctx))
		}
	}()
	var brokerProc proc.Process
	if cfg.broker == "embedded" {
		// Locked down, the broker process and the harness share one
		// stack's material: the broker takes it from a directory, the
		// harness hands it to the services.
		var securityDir string
		if cfg.security != "" {
			if securityDir, err = os.MkdirTemp("", "loadtest-security-*"); err != nil {
				return nil, err
			}
			closers = append(closers, func(context.Context) error { return os.RemoveAll(securityDir) })
			if opts.Material, err = security.Generate(securityDir); err != nil {
				return nil, err
			}
		}
		b, err := startBrokerProcess(ctx, securityDir)
		if err != nil {
			return nil, err
		}
		closers = append(closers, func(context.Context) error { return b.close() })
		if cfg.security != "" {
			// kfake enforces the sign-in and TLS, not the ACLs: said loud.
			fmt.Fprintln(stderr, embedded.NotEnforced)
		}
		opts.Broker, opts.BrokerAddrs = "external", b.addrs
		// The harness starts no registry beside an external broker: the
		// services would read ids from whatever answers at
		// svc.DefaultRegistryURL (another stack's, or nothing). The
		// stack gets its own, as the harness gives its embedded broker.
		reg, err := registry.StartInProcess(0)
		if err != nil {
			return nil, err
		}
		closers = append(closers, reg.Close)
		if err := registry.Seed(ctx, reg.URL()); err != nil {
			return nil, fmt.Errorf("schema registry: %w", err)
		}
		opts.RegistryURL = reg.URL()
		brokerProc = proc.Process{Name: procBroker, PID: b.pid(), Command: "kfake (" + brokerCommand + ")", Found: "started by the runner", Kind: proc.KindBroker}
		t.stack.Broker = fmt.Sprintf("embedded (franz-go kfake) in a child process of the runner, pid %d, at %s", b.pid(), strings.Join(b.addrs, ","))
	}
	// The services' binaries are built into a temporary folder of the
	// runner's; it goes once the stack has stopped.
	closers = append(closers, func(context.Context) error { return harness.RemoveBuild() })
	stack, err := harness.Start(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("start the stack (%s broker): %w", cfg.broker, err)
	}
	closers = append(closers, stack.Close)
	fmt.Fprintf(stderr, "loadtest: stack ready in %.1fs, broker %v\n", time.Since(began).Seconds(), stack.BrokerAddrs())

	if cfg.fault != nil {
		if t.faults, err = newHarnessFaults(stack.Links(), cfg.fault); err != nil {
			return nil, err
		}
	}
	t.ordersURLs = stack.URLs(harness.OrdersAPI)
	t.notificationsURLs = stack.URLs(harness.NotificationsAPI)
	t.stockURL = stack.URL(harness.StockService)
	t.brokers = stack.BrokerAddrs()
	t.registryURL = stack.RegistryURL()
	if m := stack.Security(); m != nil {
		// The runner's own Kafka clients (the floor, the hop breakdown)
		// sign in as the kit, over TLS like the services.
		t.dialer, t.kgoOpts = m.KitDialer(), m.KitOpts()
		t.stack.Notes = append(t.stack.Notes, "SECURITY=sasl_ssl: SASL_SSL with SCRAM-SHA-512, each service as its own principal, the floor and the runner's clients as the kit")
	}
	if r, ok := stack.Broker().(interface{ ReplicationFactor() int16 }); ok {
		t.replication = int(r.ReplicationFactor())
	}
	t.notificationsPID = stack.PID(harness.NotificationsAPI)
	t.debugURLs = map[string]string{}
	t.stack.Shape = &report.Shape{DB: cfg.db, Broker: cfg.broker}
	for _, service := range orderPath {
		t.stack.Shape.Instances = append(t.stack.Shape.Instances, report.ServiceCount{Service: service, Instances: len(stack.Instances(service))})
	}
	// Every instance is a process of its own: each is measured under its
	// name in the logs (orders-processor#2), and the report sums a
	// service's instances.
	for _, service := range harness.Services {
		for _, in := range stack.Instances(service) {
			pid := in.PID()
			p := proc.Process{Name: in.Name(), PID: pid, Command: proc.Command(pid), Found: "spawned by the harness at " + in.URL(), Kind: proc.KindService}
			p.DebugURL, p.DebugUnknown = spawnedDebugURL(pid, in.Logs(), in.URL())
			if p.DebugURL != "" {
				t.debugURLs[in.Name()] = p.DebugURL
			}
			t.processes = append(t.processes, p)
		}
	}
	if brokerProc.PID != 0 {
		t.processes = append(t.processes, brokerProc)
	} else {
		t.processes = append(t.processes, jvmProcesses(stack, &t.stack.Notes)...)
		t.stack.Broker = fmt.Sprintf("%s, started by the harness at %s", cfg.broker, strings.Join(t.brokers, ","))
	}
	if pg := stack.Postgres(); pg != nil {
		t.processes = append(t.processes, postgresProcess(pg.Addr(), &t.stack.Notes)...)
	}
	t.processes = append(t.processes, self())
	t.stack.StartedBy = "the runner, through the harness (the standard profile)"
	t.describe()
	return t, nil
}

// jvmProcesses finds the real broker's processes by their listening ports:
// each Kafka broker's (broker#1..#3 on a cluster), and ZooKeeper's when the
// broker has one.
func jvmProcesses(stack *harness.Stack, notes *[]string) []proc.Process {
	type named struct{ name, addr string }
	var want []named
	addrs := stack.BrokerAddrs()
	for i, addr := range addrs {
		name := procBroker
		if len(addrs) > 1 {
			name = fmt.Sprintf("%s#%d", procBroker, i+1)
		}
		want = append(want, named{name, addr})
	}
	if zk, ok := stack.Broker().(interface{ ZooKeeperAddr() string }); ok {
		want = append(want, named{procZooKeeper, zk.ZooKeeperAddr()})
	}
	var out []proc.Process
	for _, w := range want {
		pid, err := listeningPID(w.addr)
		if err != nil {
			*notes = append(*notes, fmt.Sprintf("%s at %s: %v; its CPU time is not counted", w.name, w.addr, err))
			continue
		}
		out = append(out, proc.Process{Name: w.name, PID: pid, Command: proc.Command(pid), Found: "listening on " + w.addr, Kind: proc.KindBroker})
	}
	return out
}

// postgresProcess finds the PostgreSQL server the harness started by its
// port. Its CPU time is its whole process tree's: the server does each
// connection's work in a backend process of its own.
func postgresProcess(addr string, notes *[]string) []proc.Process {
	pid, err := listeningPID(addr)
	if err != nil {
		*notes = append(*notes, fmt.Sprintf("%s at %s: %v; its CPU time is not counted", procPostgres, addr, err))
		return nil
	}
	return []proc.Process{{Name: procPostgres, PID: pid, Command: proc.Command(pid), Found: "listening on " + addr + ", with its backends and workers",
		Kind: proc.KindDatabase, Tree: true}}
}

// listeningPID is the process listening on addr's port here.
func listeningPID(addr string) (int, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		return 0, fmt.Errorf("port %q: %w", port, err)
	}
	return proc.ListeningPID(n)
}

// spawnedDebugURL is where the debug endpoints of a service the harness
// spawned are (serviceEnv gives each DEBUG_ADDR=127.0.0.1:0): the address it
// logged when it opened them, else what its environment and listening ports
// say, should the line not have reached its log yet; or why neither tells.
func spawnedDebugURL(pid int, logs, serviceURL string) (debugURL, unknown string) {
	if addr := debugAddr(logs); addr != "" {
		return "http://" + addr, ""
	}
	var port int
	if u, err := url.Parse(serviceURL); err == nil {
		port, _ = strconv.Atoi(u.Port())
	}
	u, err := proc.FindDebugURL(pid, port)
	if err != nil {
		return "", fmt.Sprintf("it logged no debug address, and from its pid: %v", err)
	}
	return u, ""
}

// debugAddr finds the address a service logged when it opened its debug
// endpoints (svc.Debug: "debug endpoints exposed", addr).
func debugAddr(logs string) string {
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var line struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "debug endpoints exposed" && line.Addr != "" {
			return line.Addr
		}
	}
	return ""
}
