package main

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kafkakit/kit/harness"
	"github.com/kafkakit/kit/harness/broker/security"
	"github.com/kafkakit/kit/loadtest/internal/floor"
	"github.com/kafkakit/kit/loadtest/internal/pace"
	"github.com/kafkakit/kit/loadtest/internal/report"
	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/svc"
)

// config is every setting of a run, parsed once from the flags (defaults are
// the standard profile `make loadtest` runs) and the environment.
type config struct {
	mode string // "orders" or "sse"

	target string // "harness" or "running"
	broker string // harness broker: "embedded", "kafka" or "kafka-cluster"
	// instances and db are the shape of the stack the harness starts:
	// instances per service (harness.ParseInstances), sqlite or postgres.
	instances        map[string]int
	db               string
	ordersURL        string
	notificationsURL string
	stockURL         string
	processorURL     string
	brokers          []string
	registryURL      string // running target: the services' SCHEMA_REGISTRY_URL
	notificationsPID int
	pids             map[string]string // name -> pid or :port, for CPU time
	debugURLs        map[string]string // name -> DEBUG_ADDR base URL
	paymentDelay     time.Duration

	rate         float64
	duration     time.Duration
	slices       int
	warmup       time.Duration
	ramp         []float64
	stepDuration time.Duration
	rampContinue bool
	floor        bool
	floorPrefix  string
	// floorProducers are the relays to measure: the first is the floor
	// the ratios are computed against, the others are reference lines.
	floorProducers []floor.Producer
	floorBatch     time.Duration
	floorReplicas  int // 0: as the kit's topics
	floorMaxWait   time.Duration
	brokerWarmup   time.Duration
	idle           time.Duration
	profile        time.Duration
	cpuProfile     string // the runner's own CPU profile, "" for none
	orderTimeout   time.Duration
	lateAfter      time.Duration
	maxInFlight    int
	sourceIPs      int
	skus           int
	seed           bool
	total          float64
	out            string
	security       string

	thresholds report.Thresholds

	// fault is held during each ramp step, run beside the same step
	// without it (fault.go); nil: none. faultsAPI is a running kit up
	// -faults stack's fault API.
	fault     *stepFault
	faultsAPI string

	streams            int
	connectConcurrency int
	settle             time.Duration
	deliveryTimeout    time.Duration
	ordersTopic        string
	maxStreamBytes     float64
	maxDeliveryP99     time.Duration
}

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet(filepath.Base(args[0]), flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s [flags]\n\nWith no flags: the standard profile on a stack started through the harness\n(BROKER=kafka for the real broker). Give -orders-url/-notifications-url/-brokers\nto measure a running stack instead. Exit 0 pass, 99 thresholds missed, 1 tool error.\n\nFlags:\n", fs.Name())
		fs.PrintDefaults()
	}

	fs.StringVar(&c.mode, "mode", "orders", "orders: latency and throughput of placed orders; sse: idle-stream capacity of one notifications-api")
	fs.StringVar(&c.target, "target", "auto", "harness: start the services through the harness; running: use the URLs and brokers given; auto: running when any of them is given")
	fs.StringVar(&c.broker, "broker", "", "broker the harness starts: embedded, kafka or kafka-cluster (ZooKeeper and three brokers, replication 3, min.insync.replicas 2) (default $BROKER, else embedded)")
	instances := fs.String("instances", getenv("INSTANCES"), "instances of services the harness starts, as kit up -instances takes them: orders-processor=2,stock-service=2,notifications-api=2 (default $INSTANCES; a service not named runs once)")
	fs.StringVar(&c.security, "security", getenv("SECURITY"), "lock the stack the harness starts down: sasl_ssl (TLS, SCRAM-SHA-512, ACLs; the services sign in as themselves, the floor and the runner's own Kafka clients as the kit), or \"\" for plaintext (default $SECURITY)")
	fs.StringVar(&c.db, "db", "", "where the orders-api, stock-service and orders-processor the harness starts keep state: sqlite or postgres (a PostgreSQL the harness starts, shared by their instances) (default $DB, else sqlite)")
	fs.StringVar(&c.ordersURL, "orders-url", "http://localhost:8081", "orders-api base URL (running target)")
	fs.StringVar(&c.notificationsURL, "notifications-url", "http://localhost:8083", "notifications-api base URL (running target)")
	fs.StringVar(&c.stockURL, "stock-url", "http://localhost:8084", "stock-service base URL, to seed the runner's SKUs (running target)")
	fs.StringVar(&c.processorURL, "processor-url", "http://localhost:8082", "orders-processor base URL, only to find its process for CPU time (running target)")
	brokers := fs.String("brokers", "localhost:9093", "Kafka bootstrap brokers, comma-separated (running target): for the floor relay and -mode sse")
	fs.IntVar(&c.notificationsPID, "notifications-pid", 0, "pid of notifications-api, for its RSS in -mode sse (same as -pids notifications-api=PID)")
	pids := fs.String("pids", "", "running target: processes whose CPU time to read, name=PID or name=:PORT (the process listening there), comma-separated, e.g. zookeeper=:2181; by default each service and broker is found by the port of its URL or address")
	debugURLs := fs.String("debug-urls", "", "running target: services' DEBUG_ADDR base URLs, name=URL, comma-separated: allocation per order, Go heap figures in -mode sse and -profile (by default each is found from the service's DEBUG_ADDR and listening ports; the harness sets DEBUG_ADDR itself)")
	fs.DurationVar(&c.paymentDelay, "payment-delay", 0, "simulated payment delay of the processor the harness starts (PAYMENT_DELAY)")

	fs.Float64Var(&c.rate, "rate", 200, "constant arrival rate, orders/s, of the main run and the floor (0: no main run)")
	fs.DurationVar(&c.duration, "duration", 20*time.Second, "measured duration of the main run and of each floor relay")
	fs.IntVar(&c.slices, "slices", 4, "cut -duration into this many slices and measure the floor relays and the main run in turns, one slice each, so they share the machine's moods")
	fs.DurationVar(&c.warmup, "warmup", 5*time.Second, "unmeasured warm-up before the main run, the floor and the ramp")
	ramp := fs.String("ramp", "500,1000,1500,2000,2500", `step ramp rates, orders/s, to find the knee ("" for none)`)
	fs.DurationVar(&c.stepDuration, "step-duration", 10*time.Second, "measured duration of each ramp step")
	fs.BoolVar(&c.rampContinue, "ramp-continue", false, "keep ramping after a step that was not sustained")
	fs.BoolVar(&c.floor, "floor", true, "measure the broker floor (a kafka-go relay with one hop per topic an order crosses) at -rate before the main run")
	fs.StringVar(&c.floorPrefix, "floor-topic-prefix", floor.DefaultPrefix, "each floor relay's topics are PREFIX.<producer>.<each topic the order crosses>")
	producers := fs.String("floor-producers", "client,writer-linger", "relays to measure, comma-separated: the first is the floor the ratios use, the others are reference lines; client (kafka.Client.Produce per record: the honest floor), writer-batch1 (kafka.Writer, BatchSize 1), writer-linger (kafka.Writer with the services' former settings: BatchSize 1000, a linger), stream (the services' producer today)")
	fs.DurationVar(&c.floorBatch, "floor-batch-timeout", time.Millisecond, "the linger of the writer-linger relay (the services' former PRODUCER_BATCH_TIMEOUT)")
	fs.IntVar(&c.floorReplicas, "floor-replication", 0, "replication factor of the floor topics when the runner creates them (0: as the kit's topics on the broker the harness starts: 3 on kafka-cluster, else 1)")
	fs.DurationVar(&c.brokerWarmup, "broker-warmup", 10*time.Second, "extra unmeasured warm-up of the first floor relay, so a JVM broker has compiled its hot paths before anything is measured")
	fs.DurationVar(&c.idle, "idle", 5*time.Second, "read every process's CPU time this long with no load first: the background every per-order figure includes (0: skip)")
	fs.DurationVar(&c.floorMaxWait, "floor-max-wait", floor.DefaultMaxWait, "the floor consumers' fetch MaxWait: how long the broker may hold a fetch on an idle partition (readers ask for 1 byte, so a record is returned the moment it arrives; a shorter wait only polls more)")
	fs.DurationVar(&c.profile, "profile", 0, "take a CPU profile of this length from each service during the main run's first slice, into <out>/profiles (needs the services' DEBUG_ADDR: set by the harness, -debug-urls otherwise)")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write the runner's own CPU profile, from the stack being up to the end of the run, to this file (go tool pprof -top FILE)")
	fs.DurationVar(&c.orderTimeout, "order-timeout", 10*time.Second, "an order not final this long after its intended send time counts as never final")
	fs.DurationVar(&c.lateAfter, "late-after", 10*time.Millisecond, "an order sent more than this behind its intended time counts as sent late")
	fs.IntVar(&c.maxInFlight, "max-in-flight", 8000, "orders in flight at most; an order due beyond it is not sent and counted")
	fs.IntVar(&c.sourceIPs, "source-ips", 1, "spread connections to a loopback target over 127.0.0.1..127.0.0.N")
	fs.IntVar(&c.skus, "skus", 16, "distinct SKUs the orders use")
	fs.BoolVar(&c.seed, "seed", true, "seed the SKUs with a generous stock before the run")
	fs.Float64Var(&c.total, "total", 9.99, "order total (the processor fails orders over 1000)")
	fs.StringVar(&c.out, "out", defaultOut(), "results directory")

	faultFlag := fs.String("fault", "", "hold a network fault during each ramp step and run the step without it first, side by side in the report: SERVICE:LINK:FAULT, e.g. stock-service:broker:latency=50ms (LINK broker, broker-<id> or database; FAULT as kit faults add takes it: latency=, bandwidth=, reset=, cut, down). Needs proxied links: -broker kafka or kafka-cluster (a database link: -db postgres), or a running kit up -faults")
	fs.StringVar(&c.faultsAPI, "faults-api", cmp.Or(getenv("KIT_FAULTS_API"), "http://127.0.0.1:8474"), "running target: the fault API of kit up -faults, for -fault (env KIT_FAULTS_API)")
	fs.Float64Var(&c.thresholds.MaxRatioP50, "max-ratio-p50", 1.5, "threshold: pipeline p50 / floor p50 at most (0: off)")
	fs.Float64Var(&c.thresholds.MaxRatioP99, "max-ratio-p99", 2, "threshold: pipeline p99 / floor p99 at most (0: off)")
	fs.DurationVar(&c.thresholds.MaxP99, "max-p99", 0, "threshold: pipeline p99 at most (0: off)")
	fs.Float64Var(&c.thresholds.MaxNotFinalRatio, "max-not-final", 0, "threshold: share of scheduled orders never sent or never final at most (-1: off)")
	fs.DurationVar(&c.thresholds.StepP99, "step-p99", 50*time.Millisecond, "a ramp step counts as sustained only with p99 at most this")
	fs.Float64Var(&c.thresholds.MinSustainedRate, "min-sustained-rate", 2000, "threshold: max sustained ramp rate at least, orders/s (0: off; only with -ramp)")

	fs.IntVar(&c.streams, "streams", 10000, "sse mode: concurrent idle streams")
	fs.IntVar(&c.connectConcurrency, "connect-concurrency", 256, "sse mode: streams being opened at once")
	fs.DurationVar(&c.settle, "settle", 3*time.Second, "sse mode: wait after connecting before reading memory")
	fs.DurationVar(&c.deliveryTimeout, "delivery-timeout", 30*time.Second, "sse mode: wait this long for the status to reach every stream")
	fs.StringVar(&c.ordersTopic, "orders-topic", events.TopicOrdersCreated, "sse mode: topic the order is produced to (ids are assigned by orders-api, so the runner produces the record itself)")
	fs.Float64Var(&c.maxStreamBytes, "max-stream-bytes", 20000, "sse threshold: notifications-api memory per stream at most, bytes (0: off)")
	fs.DurationVar(&c.maxDeliveryP99, "max-delivery-p99", 0, "sse threshold: p99 of the status delivery to all streams at most (0: off)")

	if err := fs.Parse(args[1:]); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	var errs []error
	var err error
	for b := range strings.SplitSeq(*brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			c.brokers = append(c.brokers, b)
		}
	}
	for name := range strings.SplitSeq(*producers, ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		p, err := floor.ParseProducer(name)
		if err != nil {
			errs = append(errs, fmt.Errorf("-floor-producers: %w", err))
			continue
		}
		c.floorProducers = append(c.floorProducers, p)
	}
	if len(c.floorProducers) == 0 {
		c.floor = false
	}
	if c.pids, err = parsePairs(*pids); err != nil {
		errs = append(errs, fmt.Errorf("-pids: %w", err))
	}
	for name, v := range c.pids {
		if _, err := strconv.Atoi(strings.TrimPrefix(v, ":")); err != nil {
			errs = append(errs, fmt.Errorf("-pids %s=%s: want a pid or :port", name, v))
		}
	}
	if c.notificationsPID > 0 {
		c.pids["notifications-api"] = strconv.Itoa(c.notificationsPID)
	}
	if c.debugURLs, err = parsePairs(*debugURLs); err != nil {
		errs = append(errs, fmt.Errorf("-debug-urls: %w", err))
	}
	r, err := pace.ParseRates(*ramp)
	if err != nil {
		errs = append(errs, fmt.Errorf("-ramp: %w", err))
	}
	c.ramp = r
	if c.broker == "" {
		c.broker = getenv("BROKER")
	}
	if c.broker == "" {
		c.broker = "embedded"
	}
	if c.db == "" {
		c.db = getenv("DB")
	}
	// The registry the services read ids from, as they find it.
	if c.registryURL = getenv("SCHEMA_REGISTRY_URL"); c.registryURL == "" {
		c.registryURL = svc.DefaultRegistryURL
	}
	if c.db == "" {
		c.db = "sqlite"
	}
	if c.instances, err = harness.ParseInstances(*instances); err != nil {
		errs = append(errs, fmt.Errorf("-instances: %w", err))
	}
	if c.target == "auto" {
		c.target = "harness"
		for _, name := range []string{"orders-url", "notifications-url", "stock-url", "processor-url", "brokers", "notifications-pid", "pids", "debug-urls", "faults-api"} {
			if set[name] {
				c.target = "running"
			}
		}
	}
	switch {
	case c.mode != "orders" && c.mode != "sse":
		errs = append(errs, fmt.Errorf("-mode %q: want orders or sse", c.mode))
	case c.target != "harness" && c.target != "running":
		errs = append(errs, fmt.Errorf("-target %q: want auto, harness or running", c.target))
	case c.target == "harness" && c.broker != "embedded" && c.broker != "kafka" && c.broker != "kafka-cluster":
		errs = append(errs, fmt.Errorf("broker %q: the harness starts embedded, kafka or kafka-cluster", c.broker))
	case c.security != "" && c.security != security.SASLSSL:
		errs = append(errs, fmt.Errorf("-security %q: want sasl_ssl, or nothing for plaintext", c.security))
	case c.security != "" && (c.target != "harness" || c.mode != "orders"):
		errs = append(errs, errors.New("-security locks down a stack the runner starts (-target harness, -mode orders); a running stack is as it was started"))
	case c.db != "sqlite" && c.db != "postgres":
		errs = append(errs, fmt.Errorf("-db %q: want sqlite or postgres", c.db))
	case c.target == "running" && (c.db != "sqlite" || scaled(c.instances)):
		errs = append(errs, errors.New("-instances and -db shape a stack the runner starts; a running stack has the shape it was started with (kit up -instances ... -db ...)"))
	case c.instances[harness.StockService] > 1 && c.db != "postgres":
		errs = append(errs, fmt.Errorf("-instances stock-service=%d needs -db postgres: on SQLite each instance keeps an inventory of its own, and an order's stock would depend on the instance its partition landed on", c.instances[harness.StockService]))
	case c.floorReplicas < 0:
		errs = append(errs, errors.New("-floor-replication must be >= 0"))
	case c.mode == "orders" && c.rate <= 0 && len(c.ramp) == 0:
		errs = append(errs, errors.New("nothing to run: -rate is 0 and -ramp is empty"))
	case c.rate < 0:
		errs = append(errs, errors.New("-rate must be >= 0"))
	case c.duration <= 0 || c.stepDuration <= 0 || c.orderTimeout <= 0:
		errs = append(errs, errors.New("-duration, -step-duration and -order-timeout must be > 0"))
	case c.slices < 1 || c.duration/time.Duration(max(c.slices, 1)) < 10*time.Millisecond:
		errs = append(errs, errors.New("-slices must be at least 1 and leave each slice 10ms or more of -duration"))
	case c.warmup < 0 || c.brokerWarmup < 0 || c.idle < 0:
		errs = append(errs, errors.New("-warmup, -broker-warmup and -idle must be >= 0"))
	case c.skus <= 0:
		errs = append(errs, errors.New("-skus must be > 0"))
	case c.total < 0 || c.total > 1000:
		errs = append(errs, errors.New("-total must be in 0..1000: the processor fails orders over 1000"))
	case c.mode == "sse" && c.streams <= 0:
		errs = append(errs, errors.New("-streams must be > 0"))
	case (c.mode == "sse" || c.floor) && len(c.brokers) == 0 && c.target == "running":
		errs = append(errs, errors.New("-brokers is needed for the floor and for -mode sse"))
	case c.sourceIPs < 1 || c.sourceIPs > 65000:
		errs = append(errs, errors.New("-source-ips must be in 1..65000"))
	case c.profile < 0 || c.profile > c.duration/time.Duration(c.slices):
		errs = append(errs, errors.New("-profile must be between 0 and -duration / -slices: it is taken during the main run's first slice"))
	}
	if *faultFlag != "" {
		if c.fault, err = parseStepFault(*faultFlag); err != nil {
			errs = append(errs, err)
		} else if err := checkFault(c); err != nil {
			errs = append(errs, err)
		}
	}
	if c.target == "running" && c.paymentDelay != 0 {
		errs = append(errs, errors.New("-payment-delay only applies to a stack the runner starts; set PAYMENT_DELAY on the running processor instead"))
	}
	if len(c.ramp) == 0 {
		c.thresholds.MinSustainedRate = 0
	}
	if c.rate == 0 {
		c.floor = false
	}
	c.thresholds.SustainedFraction = 0.95
	return c, errors.Join(errs...)
}

// scaled says whether any service runs more than once.
func scaled(instances map[string]int) bool {
	for _, n := range instances {
		if n > 1 {
			return true
		}
	}
	return false
}

// parsePairs parses "name=value,name=value".
func parsePairs(s string) (map[string]string, error) {
	out := map[string]string{}
	for kv := range strings.SplitSeq(s, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(k) == "" || strings.TrimSpace(v) == "" {
			return nil, fmt.Errorf("%q: want name=value", kv)
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out, nil
}

// defaultOut is loadtest/results from the repository root, results from the
// loadtest folder itself.
func defaultOut() string {
	if _, err := os.Stat(filepath.Join("loadtest", "go.mod")); err == nil {
		return filepath.Join("loadtest", "results")
	}
	if b, err := os.ReadFile("go.mod"); err == nil && strings.Contains(string(b), "module github.com/kafkakit/kit/loadtest\n") {
		return "results"
	}
	return "loadtest-results"
}
