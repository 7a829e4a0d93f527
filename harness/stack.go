// Package harness starts a Kafka broker and the kit's four services, and
// gives tests clients to drive and observe them: place an order, follow its
// event stream, read and seed stock, tail a topic. The features, the kit
// CLI (`make up`) and the load runner all stand on it.
package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kafkakit/kit/harness/broker"
	"github.com/kafkakit/kit/harness/broker/embedded"
	"github.com/kafkakit/kit/harness/broker/external"
	"github.com/kafkakit/kit/harness/broker/kafka"
	"github.com/kafkakit/kit/harness/broker/testcontainers"
)

// The four services.
const (
	OrdersAPI        = "orders-api"
	OrdersProcessor  = "orders-processor"
	NotificationsAPI = "notifications-api"
	StockService     = "stock-service"
)

// Services lists them in start order: consumers before the API, so that an
// order placed right after Start is consumed promptly.
var Services = []string{OrdersProcessor, StockService, NotificationsAPI, OrdersAPI}

// DefaultPorts are the ports DESIGN.md gives each service.
var DefaultPorts = map[string]int{OrdersAPI: 8081, OrdersProcessor: 8082, NotificationsAPI: 8083, StockService: 8084}

// Options says what to start.
type Options struct {
	// Broker is "embedded" (default), "kafka", "testcontainers" or "external".
	Broker string
	// BrokerPort fixes the broker's port (embedded, kafka); 0 picks a free one.
	BrokerPort int
	// ZooKeeperPort fixes ZooKeeper's port for the kafka broker; 0 picks one.
	ZooKeeperPort int
	// BrokerAddrs are the cluster's addresses when Broker is "external".
	BrokerAddrs []string
	// ServiceURLs, when set, are services already running (name -> base
	// URL): the harness uses them instead of spawning its own, for example
	// to verify a `docker compose up` deployment.
	ServiceURLs map[string]string
	// Ports fixes services' ports (name -> port); others get free ports.
	Ports map[string]int
	// ServiceEnv is added to every spawned service's environment, e.g.
	// PAYMENT_DELAY=0.
	ServiceEnv map[string]string
	// Dir holds binaries' data (the stock database); "" is a temp dir.
	Dir string
	// Log receives the broker's and services' output as it happens; the
	// harness keeps each service's output for Logs either way.
	Log io.Writer
}

// Stack is a running broker and the four services.
type Stack struct {
	broker broker.Broker
	procs  map[string]*process
	urls   map[string]string
	dir    string
	ownDir bool
}

// Start starts the broker, creates the kit's topics, starts the services
// and returns once every service answers /readyz. On error it stops
// whatever it started.
func Start(ctx context.Context, opts Options) (_ *Stack, err error) {
	s := &Stack{procs: map[string]*process{}, urls: map[string]string{}, dir: opts.Dir}
	defer func() {
		if err != nil {
			closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			_ = s.Close(closeCtx)
		}
	}()
	if s.dir == "" {
		if s.dir, err = os.MkdirTemp("", "kafkakit-stack-*"); err != nil {
			return nil, err
		}
		s.ownDir = true
	}
	if s.broker, err = StartBroker(ctx, opts); err != nil {
		return nil, err
	}
	if err := broker.CreateTopics(ctx, s.broker, broker.KitTopics()); err != nil {
		return nil, err
	}
	if len(opts.ServiceURLs) > 0 {
		for _, name := range Services {
			u := strings.TrimRight(opts.ServiceURLs[name], "/")
			if u == "" {
				return nil, fmt.Errorf("no URL for %s among the running services", name)
			}
			s.urls[name] = u
		}
		return s, s.waitReady(ctx, Services...)
	}

	bins, err := Build(ctx)
	if err != nil {
		return nil, err
	}
	for _, name := range Services {
		port := opts.Ports[name]
		if port == 0 {
			if port, err = FreePort(); err != nil {
				return nil, err
			}
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		env := []string{
			"KAFKA_BROKERS=" + strings.Join(s.broker.Addrs(), ","),
			"HTTP_ADDR=" + addr,
			"DB_DSN=" + filepath.Join(s.dir, name+".db"), // each service its own SQLite file
		}
		for k, v := range opts.ServiceEnv {
			env = append(env, k+"="+v)
		}
		p := &process{name: name, bin: bins[name], env: env, url: "http://" + addr, tee: opts.Log}
		s.procs[name], s.urls[name] = p, p.url
		if err := p.start(); err != nil {
			return nil, err
		}
	}
	return s, s.waitReady(ctx, Services...)
}

// StartBroker starts (or, for "external", connects to) the broker opts names.
func StartBroker(ctx context.Context, opts Options) (broker.Broker, error) {
	switch opts.Broker {
	case "", "embedded":
		return embedded.Start(ctx, embedded.Options{Port: opts.BrokerPort})
	case "kafka":
		return kafka.Start(ctx, kafka.Options{Port: opts.BrokerPort, ZooKeeperPort: opts.ZooKeeperPort, Log: opts.Log})
	case "testcontainers":
		return testcontainers.Start(ctx, testcontainers.Options{})
	case "external":
		return external.New(opts.BrokerAddrs)
	default:
		return nil, fmt.Errorf("unknown broker %q: want embedded, kafka, testcontainers or external", opts.Broker)
	}
}

func (s *Stack) waitReady(ctx context.Context, names ...string) error {
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, name := range names {
		p := s.procs[name]
		if p == nil {
			p = &process{name: name, url: s.urls[name]} // running elsewhere
		}
		wg.Go(func() {
			if err := p.waitReady(ctx); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Broker is the stack's broker.
func (s *Stack) Broker() broker.Broker { return s.broker }

// BrokerAddrs are the broker's bootstrap addresses.
func (s *Stack) BrokerAddrs() []string { return s.broker.Addrs() }

// URL is a service's base URL, such as http://127.0.0.1:8081.
func (s *Stack) URL(service string) string { return s.urls[service] }

// PID is a spawned service's process id, or 0.
func (s *Stack) PID(service string) int {
	if p := s.procs[service]; p != nil {
		pid, _ := p.running()
		return pid
	}
	return 0
}

// Exited returns a channel closed when the service's current process ends,
// or nil when it is not running (or not spawned by the harness).
func (s *Stack) Exited(service string) <-chan struct{} {
	if p := s.procs[service]; p != nil {
		_, exited := p.running()
		return exited
	}
	return nil
}

// Stop stops a service gracefully (SIGTERM), as an orchestrator would.
func (s *Stack) Stop(service string) error { return s.signal(service, syscall.SIGTERM) }

// Kill kills a service abruptly (SIGKILL): no shutdown, no final commit.
func (s *Stack) Kill(service string) error { return s.signal(service, syscall.SIGKILL) }

func (s *Stack) signal(service string, sig syscall.Signal) error {
	p := s.procs[service]
	if p == nil {
		return fmt.Errorf("%s: %w", service, errNotSpawned)
	}
	return p.stop(sig, 15*time.Second)
}

// Restart starts a stopped service again on the same port and data, and
// waits until it is ready.
func (s *Stack) Restart(ctx context.Context, service string) error {
	p := s.procs[service]
	if p == nil {
		return fmt.Errorf("%s: %w", service, errNotSpawned)
	}
	if err := p.start(); err != nil {
		return err
	}
	return s.waitReady(ctx, service)
}

// Logs returns what a spawned service has printed.
func (s *Stack) Logs(service string) string {
	if p := s.procs[service]; p != nil {
		return p.log.String()
	}
	return ""
}

// Close stops the services, then the broker, and removes the data dir the
// harness created.
func (s *Stack) Close(ctx context.Context) error {
	var errs []error
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, p := range s.procs {
		wg.Go(func() {
			if err := p.stop(syscall.SIGTERM, 15*time.Second); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if s.broker != nil {
		errs = append(errs, s.broker.Close(ctx))
	}
	if s.ownDir {
		errs = append(errs, os.RemoveAll(s.dir))
	}
	return errors.Join(errs...)
}

// FreePort asks the kernel for a free TCP port on 127.0.0.1.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

var (
	buildOnce sync.Once
	buildDir  string
	buildBins map[string]string
	buildErr  error
)

// Build compiles the four services once per process and returns name ->
// binary path. Each process builds into a temp dir of its own (Go's build
// cache keeps this quick), so a build never overwrites a binary another
// process is running. RemoveBuild deletes it.
func Build(ctx context.Context) (map[string]string, error) {
	buildOnce.Do(func() { buildDir, buildBins, buildErr = build(ctx) })
	return buildBins, buildErr
}

// RemoveBuild deletes the binaries Build made; call it when the process is
// done with every stack.
func RemoveBuild() error {
	if buildDir == "" {
		return nil
	}
	return os.RemoveAll(buildDir)
}

func build(ctx context.Context) (string, map[string]string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp("", "kafkakit-bin-*")
	if err != nil {
		return "", nil, err
	}
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	bins := map[string]string{}
	for _, name := range Services {
		args = append(args, "github.com/kafkakit/kit/services/"+name)
		bins[name] = filepath.Join(dir, name)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("build services: %w\n%s", err, out)
	}
	return dir, bins, nil
}

// RepoRoot finds the kit's root: the directory holding go.work, from the
// working directory upwards.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.work not found above the working directory: run from inside the kit's repository")
		}
		dir = parent
	}
}
