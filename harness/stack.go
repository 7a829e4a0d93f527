// Package harness starts a Kafka broker and the kit's four services, and
// gives tests clients to drive and observe them: place an order, follow its
// event stream, read and seed stock, tail a topic. The features, the kit
// CLI (`make up`) and the load runner all stand on it.
package harness

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/kafkakit/kit/harness/broker"
	"github.com/kafkakit/kit/harness/broker/embedded"
	"github.com/kafkakit/kit/harness/broker/external"
	"github.com/kafkakit/kit/harness/broker/kafka"
	"github.com/kafkakit/kit/harness/broker/security"
	"github.com/kafkakit/kit/harness/broker/testcontainers"
	"github.com/kafkakit/kit/harness/child"
	"github.com/kafkakit/kit/harness/netfault"
	"github.com/kafkakit/kit/harness/postgres"
	"github.com/kafkakit/kit/harness/registry"
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
	// Broker is "embedded" (default), "kafka", "kafka-cluster" (ZooKeeper
	// and three brokers), "testcontainers" or "external".
	Broker string
	// BrokerPort fixes the broker's port (embedded, kafka; kafka-cluster's
	// three brokers take it and the next two); 0 picks free ones.
	BrokerPort int
	// ZooKeeperPort fixes ZooKeeper's port for kafka and kafka-cluster; 0
	// picks one.
	ZooKeeperPort int
	// BrokerFullJIT has real Kafka's JVMs compile with C2 as a production
	// broker does (kafka.Options.FullJIT): for measuring a broker's cost
	// per record. Without it they start and idle on about half the CPU.
	BrokerFullJIT bool
	// BrokerAddrs are the cluster's addresses when Broker is "external".
	BrokerAddrs []string
	// Registry is the schema registry started beside the broker, whose
	// Confluent-compatible API every service gets as SCHEMA_REGISTRY_URL:
	// "apicurio" (Apicurio Registry on the machine's Java, in memory; the
	// default beside kafka and kafka-cluster), "in-process" (franz-go's
	// fake, which checks no compatibility; the default beside embedded
	// and testcontainers) or "none". Broker "external" starts none and
	// uses RegistryURL.
	Registry string
	// RegistryPort fixes the started registry's port on 127.0.0.1; 0
	// picks a free one.
	RegistryPort int
	// RegistryURL is a running registry's API, for Broker "external"
	// (e.g. compose's); "" leaves SCHEMA_REGISTRY_URL unset.
	RegistryURL string
	// ServiceURLs, when set, are services already running (name -> base
	// URL): the harness uses them instead of spawning its own, for example
	// to verify a `docker compose up` deployment.
	ServiceURLs map[string]string
	// Instances is how many copies of a service to run (name -> count, 1
	// to MaxInstances); a service not named runs once. Each instance has
	// its own port, log prefix (orders-processor#2) and, with SQLite, its
	// own database file: only DB "postgres" lets instances of orders-api,
	// stock-service or orders-processor share their state.
	Instances map[string]int
	// Ports fixes services' ports (name -> port of the first instance;
	// instance i listens 100*(i-1) above it: 8081, 8181, 8281, ...).
	// Services not named get free ports.
	Ports map[string]int
	// DB is where orders-api, stock-service and orders-processor keep
	// their state: "sqlite" (default; a file per instance in Dir) or
	// "postgres" (a PostgreSQL the harness starts, one database per service
	// shared by its instances).
	DB string
	// ServiceEnv is added to every spawned service's environment, e.g.
	// PAYMENT_DELAY=0.
	ServiceEnv map[string]string
	// Dir holds binaries' data (the SQLite databases); "" is a temp dir.
	Dir string
	// Log receives the broker's and services' output as it happens; the
	// harness keeps each service's output for Logs either way.
	Log io.Writer
	// Security "sasl_ssl" locks the broker down (SASL_SSL with
	// SCRAM-SHA-512, ACLs from events.Principals; see broker/security) and
	// starts each service as its own principal. "" is plaintext. The
	// embedded broker authenticates but enforces no ACL (it says so).
	Security string
	// Faults puts a TCP proxy on every link of every service instance
	// (harness/netfault): to each broker, on a listener of its own that
	// advertises the proxy (kafka, kafka-cluster; the embedded broker's
	// links are not proxied, and Start says so loudly), and to PostgreSQL
	// (DB postgres); on kafka-cluster also one in front of each broker for
	// the other brokers (brokers_to_broker-<id>: their fetches and the
	// controller's requests, inbound only). Stack.Links makes them slow,
	// narrow, flaky or cut. Without it nothing stands between a service
	// and what it reaches, nor between the brokers.
	Faults bool
	// Material, with Security and Broker "external", is the material the
	// external broker was locked down with (the load runner starts its
	// embedded broker in a process of its own, from material it made with
	// security.Generate); otherwise the harness makes the stack's own.
	Material *security.Material
}

// MaxInstances bounds Options.Instances: with fixed ports, a tenth instance
// would move into the 9000s where the brokers listen.
const MaxInstances = 9

// databases names the database of each service that keeps state: its
// SQLite file (name.db) or its PostgreSQL database — one per service, so
// no service reads another's tables (each has an outbox table of its own).
var databases = map[string]string{OrdersAPI: "orders", StockService: "stock", OrdersProcessor: "processor"}

// Stack is a running broker, its schema registry and the four services.
type Stack struct {
	broker    broker.Broker
	registry  schemaRegistry // nil when none was started
	regURL    string
	security  *security.Material // nil: plaintext
	pg        *postgres.Server
	links     *netfault.Links // nil without Options.Faults
	instances map[string][]*Instance
	dir       string
	ownDir    bool
}

// Start starts the broker, creates the kit's topics, starts the services
// and returns once every service answers /readyz. On error it stops
// whatever it started.
func Start(ctx context.Context, opts Options) (_ *Stack, err error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	s := &Stack{instances: map[string][]*Instance{}, dir: opts.Dir}
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
	if opts.Security == security.SASLSSL && opts.Material != nil {
		s.security = opts.Material
	} else if opts.Security == security.SASLSSL {
		if s.security, err = security.Generate(filepath.Join(s.dir, "security")); err != nil {
			return nil, err
		}
	}
	// The brokers must know, as they start, the ports of the proxies they
	// advertise to each service.
	plan, err := s.startLinksFor(opts)
	if err != nil {
		return nil, err
	}
	if err := s.startBrokerLinks(plan); err != nil {
		return nil, err
	}
	// The registry starts beside the broker: Apicurio takes as long as
	// Kafka to start, and neither needs the other.
	regDone := make(chan error, 1)
	go func() { regDone <- s.startRegistry(ctx, opts) }()
	s.broker, err = startBroker(ctx, opts, s.security, plan.clientListeners(), plan.brokerLinks())
	if err = errors.Join(err, <-regDone); err != nil {
		return nil, err
	}
	if err := s.startLinks(plan); err != nil {
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
			s.instances[name] = []*Instance{{service: name, n: 1, url: u}}
		}
		return s, s.waitReady(ctx, s.all())
	}

	dsns := map[string]string{}
	if opts.DB == "postgres" {
		if s.pg, err = postgres.Start(ctx, postgres.Options{Log: opts.Log}); err != nil {
			return nil, err
		}
		for service, db := range databases {
			if dsns[service], err = s.pg.CreateDatabase(ctx, db); err != nil {
				return nil, err
			}
		}
	}
	bins, err := Build(ctx)
	if err != nil {
		return nil, err
	}
	// First instances first: PostgreSQL does not let two sessions race to
	// create one schema (CREATE TABLE IF NOT EXISTS can fail on a unique
	// index of the catalog), so a service's first instance has made its
	// tables before any other starts.
	var first, rest []*Instance
	for _, name := range Services {
		count := max(opts.Instances[name], 1)
		for n := 1; n <= count; n++ {
			port := 0
			if base := opts.Ports[name]; base != 0 {
				port = InstancePort(base, n)
			} else if port, err = FreePort(); err != nil {
				return nil, err
			}
			addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
			in := &Instance{service: name, n: n, url: "http://" + addr}
			own := maps.Clone(dsns)
			if own[name], err = s.linkDatabase(name, n, dsns[name]); err != nil {
				return nil, err
			}
			env := instanceEnv(name, n, addr, s.linkBrokers(plan, name, n), s.dir, own, s.serviceEnv(opts.ServiceEnv))
			if s.security != nil {
				// Each service is the principal named after it.
				env = append(s.security.ServiceEnv(name), env...)
			}
			in.proc = newProcess(in.label(count), bins[name], env, in.url, opts.Log)
			s.instances[name] = append(s.instances[name], in)
			if n == 1 {
				first = append(first, in)
			} else {
				rest = append(rest, in)
			}
		}
	}
	for _, wave := range [][]*Instance{first, rest} {
		for _, in := range wave {
			if err := in.proc.start(); err != nil {
				return nil, err
			}
		}
		if err := s.waitReady(ctx, wave); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// instanceEnv is the environment of instance n of a service listening on
// addr: the brokers, its address, its database for a service that keeps
// state (the shared PostgreSQL database in dsns, or else its own SQLite file
// in dir), then extra.
func instanceEnv(service string, n int, addr string, brokers []string, dir string, dsns, extra map[string]string) []string {
	env := []string{
		"KAFKA_BROKERS=" + strings.Join(brokers, ","),
		"HTTP_ADDR=" + addr,
	}
	if db, ok := databases[service]; ok {
		dsn := dsns[service]
		if dsn == "" {
			dsn = filepath.Join(dir, sqliteFile(db, n))
		}
		env = append(env, "DB_DSN="+dsn)
	}
	for _, k := range slices.Sorted(maps.Keys(extra)) {
		env = append(env, k+"="+extra[k])
	}
	return env
}

// schemaRegistry is a registry the stack started.
type schemaRegistry interface {
	URL() string
	Close(ctx context.Context) error
}

// startRegistry starts the registry opts names (see Options.Registry).
func (s *Stack) startRegistry(ctx context.Context, opts Options) error {
	var err error
	switch registryKind(opts) {
	case "apicurio":
		s.registry, err = registry.StartApicurio(ctx, registry.ApicurioOptions{Port: opts.RegistryPort, Log: opts.Log})
	case "in-process":
		s.registry, err = registry.StartInProcess(opts.RegistryPort)
	case "none":
		s.regURL = opts.RegistryURL
		return nil
	}
	if err != nil {
		return fmt.Errorf("schema registry: %w", err)
	}
	s.regURL = s.registry.URL()
	// The services register their current schemas at start; the history
	// goes first so versions and the ids of older records are the
	// repository's.
	if err := registry.Seed(ctx, s.regURL); err != nil {
		return fmt.Errorf("schema registry: %w", err)
	}
	return nil
}

// registryKind is the registry opts asks for, its default resolved.
func registryKind(opts Options) string {
	if opts.Registry != "" {
		return opts.Registry
	}
	switch opts.Broker {
	case "kafka", "kafka-cluster":
		return "apicurio"
	case "external":
		return "none"
	default:
		return "in-process"
	}
}

// serviceEnv is extra plus SCHEMA_REGISTRY_URL, unless extra sets it.
func (s *Stack) serviceEnv(extra map[string]string) map[string]string {
	if s.regURL == "" {
		return extra
	}
	env := map[string]string{"SCHEMA_REGISTRY_URL": s.regURL}
	maps.Copy(env, extra)
	return env
}

// check refuses options that cannot work, before anything starts.
func (o Options) check() error {
	switch o.Registry {
	case "", "apicurio", "in-process", "none":
	default:
		return fmt.Errorf("unknown registry %q: want apicurio, in-process or none", o.Registry)
	}
	if o.Broker == "external" && o.Registry != "" && o.Registry != "none" {
		return fmt.Errorf("registry %q beside an external broker: give the running one's RegistryURL instead", o.Registry)
	}
	for name, n := range o.Instances {
		if !slices.Contains(Services, name) {
			return fmt.Errorf("instances of %q: no such service (want one of %s)", name, strings.Join(Services, ", "))
		}
		if n < 1 || n > MaxInstances {
			return fmt.Errorf("instances of %s: %d, want 1 to %d", name, n, MaxInstances)
		}
	}
	if err := security.Check(o.Security); err != nil {
		return err
	}
	if o.Material != nil && (o.Broker != "external" || o.Security == "") {
		return errors.New("Material is for an external broker locked down with it: give Broker external and Security too")
	}
	if b := cmp.Or(o.Broker, "embedded"); o.Security != "" && o.Material == nil && b != "embedded" && b != "kafka" && b != "kafka-cluster" {
		return fmt.Errorf("SECURITY=%s runs on BROKER=embedded, kafka or kafka-cluster; the %s broker has no secure mode in the harness yet", o.Security, b)
	}
	if o.Faults && o.Security != "" {
		// The client listeners copy the SASL_SSL listener's settings
		// (broker/kafka addClientListeners), but no run has proven the
		// pair yet: refused rather than trusted.
		return fmt.Errorf("faults with SECURITY=%s: not supported yet; run the network faults in plaintext", o.Security)
	}
	switch o.DB {
	case "", "sqlite", "postgres":
	default:
		return fmt.Errorf("unknown DB %q: want sqlite or postgres", o.DB)
	}
	if len(o.ServiceURLs) > 0 {
		for _, n := range o.Instances {
			if n > 1 {
				return errors.New("instances need services the harness starts; a running deployment is scaled by its own tools")
			}
		}
		if o.DB == "postgres" {
			return errors.New("DB postgres needs services the harness starts; a running deployment keeps its own database")
		}
		if o.Faults {
			return errors.New("faults need services the harness starts: a running deployment's links are its own")
		}
	}
	return nil
}

// InstancePort is the fixed port of instance n (from 1) of a service whose
// first instance listens on base: 8081, 8181, 8281, ...
func InstancePort(base, n int) int { return base + 100*(n-1) }

// sqliteFile is the database file of instance n: stock.db, stock-2.db, ...
func sqliteFile(db string, n int) string {
	if n == 1 {
		return db + ".db"
	}
	return fmt.Sprintf("%s-%d.db", db, n)
}

// ParseInstances reads instance counts written as kit up's -instances flag
// takes them: "orders-processor=3,notifications-api=2". Empty is none.
func ParseInstances(s string) (map[string]int, error) {
	out := map[string]int{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, part := range strings.Split(s, ",") {
		name, count, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("instances %q: want service=count, such as orders-processor=3", part)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("instances: %s is given twice", name)
		}
		n, err := strconv.Atoi(count)
		if err != nil {
			return nil, fmt.Errorf("instances %q: %q is not a whole number", part, count)
		}
		out[name] = n
	}
	return out, Options{Instances: out}.check()
}

// StartBroker starts (or, for "external", connects to) the broker opts
// names, in plaintext: a locked-down broker needs the TLS material and
// passwords that Start generates for its stack.
func StartBroker(ctx context.Context, opts Options) (broker.Broker, error) {
	if opts.Security != "" {
		return nil, errors.New("StartBroker starts a plaintext broker; start a secure one with Start")
	}
	return startBroker(ctx, opts, nil, nil, nil)
}

// startBroker starts the broker opts names, locked down with m when m is
// not nil, with a listener for each client of clients and, on a cluster,
// its brokers reaching one another through among (real Kafka only).
func startBroker(ctx context.Context, opts Options, m *security.Material, clients []kafka.ClientListener, among *kafka.BrokerLinks) (broker.Broker, error) {
	switch opts.Broker {
	case "", "embedded":
		return embedded.Start(ctx, embedded.Options{Port: opts.BrokerPort, Security: m, Log: opts.Log})
	case "kafka":
		return kafka.Start(ctx, kafka.Options{Port: opts.BrokerPort, ZooKeeperPort: opts.ZooKeeperPort, Log: opts.Log, Security: m, ClientListeners: clients, FullJIT: opts.BrokerFullJIT})
	case "kafka-cluster":
		return kafka.Start(ctx, kafka.Options{Brokers: 3, Port: opts.BrokerPort, ZooKeeperPort: opts.ZooKeeperPort, Log: opts.Log, Security: m, ClientListeners: clients, BrokerLinks: among, FullJIT: opts.BrokerFullJIT})
	case "testcontainers":
		return testcontainers.Start(ctx, testcontainers.Options{})
	case "external":
		if m != nil {
			return external.Secure(opts.BrokerAddrs, m)
		}
		return external.New(opts.BrokerAddrs)
	default:
		return nil, fmt.Errorf("unknown broker %q: want embedded, kafka, kafka-cluster, testcontainers or external", opts.Broker)
	}
}

// all is every instance of every service.
func (s *Stack) all() []*Instance {
	var out []*Instance
	for _, name := range Services {
		out = append(out, s.instances[name]...)
	}
	return out
}

func (s *Stack) waitReady(ctx context.Context, instances []*Instance) error {
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, in := range instances {
		wg.Go(func() {
			if err := in.waitReady(ctx); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// RegistryURL is the schema registry's Confluent-compatible API, what the
// services get as SCHEMA_REGISTRY_URL; "" when there is none.
func (s *Stack) RegistryURL() string { return s.regURL }

// Broker is the stack's broker. A kafka-cluster is also a broker.Cluster
// (kill and restart one broker, find a partition's leader); kafka and
// kafka-cluster are broker.Restarters (a whole-broker outage).
func (s *Stack) Broker() broker.Broker { return s.broker }

// BrokerAddrs are the broker's bootstrap addresses.
func (s *Stack) BrokerAddrs() []string { return s.broker.Addrs() }

// Security is the stack's TLS material and passwords (the CA file, each
// principal's password), or nil when the broker listens in plaintext.
func (s *Stack) Security() *security.Material { return s.security }

// KafkaDialer is a kafka-go dialer for the stack's broker: the kit super
// user's TLS and SASL when it is locked down, nil (kafka-go's default,
// plaintext) otherwise.
func (s *Stack) KafkaDialer() *kafkago.Dialer {
	if s.security == nil {
		return nil
	}
	return s.security.KitDialer()
}

// Postgres is the PostgreSQL the stack started for DB "postgres", or nil.
func (s *Stack) Postgres() *postgres.Server { return s.pg }

// Instances are a service's instances, first to last.
func (s *Stack) Instances(service string) []*Instance { return s.instances[service] }

// Instance is a service's instance n, counted from 1, or nil when it has
// fewer.
func (s *Stack) Instance(service string, n int) *Instance {
	if list := s.instances[service]; n >= 1 && n <= len(list) {
		return list[n-1]
	}
	return nil
}

// URL is a service's (first instance's) base URL, such as
// http://127.0.0.1:8081.
func (s *Stack) URL(service string) string {
	if in := s.Instance(service, 1); in != nil {
		return in.url
	}
	return ""
}

// URLs are the base URLs of every instance of a service, first to last.
func (s *Stack) URLs(service string) []string {
	var out []string
	for _, in := range s.instances[service] {
		out = append(out, in.url)
	}
	return out
}

// PID is a spawned service's (first instance's) process id, or 0.
func (s *Stack) PID(service string) int { return s.first(service).PID() }

// Exited returns a channel closed when the service's (first instance's)
// current process ends, or nil when it is not running (or not spawned by
// the harness).
func (s *Stack) Exited(service string) <-chan struct{} { return s.first(service).Exited() }

// Stop stops a service's first instance gracefully (SIGTERM), as an
// orchestrator would.
func (s *Stack) Stop(service string) error { return s.first(service).Stop() }

// Kill kills a service's first instance abruptly (SIGKILL): no shutdown, no
// final commit.
func (s *Stack) Kill(service string) error { return s.first(service).Kill() }

// Restart starts a service's stopped first instance again on the same port
// and data, and waits until it is ready.
func (s *Stack) Restart(ctx context.Context, service string) error {
	return s.first(service).Restart(ctx)
}

// Logs returns what a spawned service has printed: every instance's
// output, each under a header naming it when there are several.
func (s *Stack) Logs(service string) string {
	list := s.instances[service]
	if len(list) == 1 {
		return list[0].Logs()
	}
	var b strings.Builder
	for _, in := range list {
		fmt.Fprintf(&b, "----- %s -----\n%s", in.Name(), in.Logs())
	}
	return b.String()
}

// first is a service's first instance; a service the stack does not know
// gets a stand-in whose Stop, Kill and Restart say so.
func (s *Stack) first(service string) *Instance {
	if in := s.Instance(service, 1); in != nil {
		return in
	}
	return &Instance{service: service, n: 1}
}

// Close stops the services, then the broker and PostgreSQL, and removes
// the data dir the harness created.
func (s *Stack) Close(ctx context.Context) error {
	var errs []error
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, in := range s.all() {
		if in.proc == nil {
			continue
		}
		wg.Go(func() {
			if err := in.proc.stop(syscall.SIGTERM, 15*time.Second); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if s.links != nil {
		errs = append(errs, s.links.Close())
	}
	if s.broker != nil {
		errs = append(errs, s.broker.Close(ctx))
	}
	if s.registry != nil {
		errs = append(errs, s.registry.Close(ctx))
	}
	if s.pg != nil {
		errs = append(errs, s.pg.Close(ctx))
	}
	if s.ownDir {
		errs = append(errs, os.RemoveAll(s.dir))
	}
	return errors.Join(errs...)
}

// FreePort asks the kernel for a free TCP port on 127.0.0.1.
func FreePort() (int, error) { return child.FreePort() }

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
