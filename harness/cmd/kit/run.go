package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kafkakit/kit/harness"
	"github.com/kafkakit/kit/harness/prometheus"
	"github.com/kafkakit/kit/services/events"
)

const usage = `usage: kit up [flags]

Runs the broker, the four services and the web page on this machine.
Flags:
`

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "up" {
		return dispatch(ctx, args, getenv, stdout, stderr) // commands.go: topics, groups, tail, ...
	}
	fs := flag.NewFlagSet("kit up", flag.ContinueOnError)
	fs.SetOutput(stderr)
	brokerName := fs.String("broker", envOr(getenv, "BROKER", "embedded"), "broker to run: embedded, kafka or kafka-cluster (env BROKER)")
	securityMode := fs.String("security", getenv("SECURITY"), "sasl_ssl locks the broker down: TLS, SCRAM-SHA-512, one principal per service, ACLs (env SECURITY); empty is plaintext")
	brokerPort := fs.Int("broker-port", 9093, "broker port on 127.0.0.1 (kafka-cluster: this one and the next two)")
	db := fs.String("db", envOr(getenv, "DB", "sqlite"), "where orders-api, stock-service and orders-processor keep state: sqlite or postgres (env DB)")
	scale := fs.Int("scale", 1, "instances of every service (the second on 8181-8184, the third on 8281-8284, ...)")
	instancesFlag := fs.String("instances", "", "instances of single services, over -scale: orders-processor=3,notifications-api=2")
	webDir := fs.String("web", "web/dist", "built web page to serve; empty to serve none")
	webPort := fs.Int("web-port", 5173, "web page port")
	paymentDelay := fs.String("payment-delay", envOr(getenv, "PAYMENT_DELAY", "1s"), "simulated payment time (env PAYMENT_DELAY)")
	quiet := fs.Bool("quiet", false, "do not print the services' logs")
	seed := fs.Bool("seed", true, "seed demo stock once the services are ready (demo.go)")
	faults := fs.Bool("faults", getenv("FAULTS") == "1", "put a proxy on every link of every service (to each broker on real Kafka, to PostgreSQL) and answer kit faults on "+faultsAPI+" (env FAULTS=1)")
	prom := fs.Bool("prometheus", getenv("PROMETHEUS") == "1", "also run Prometheus on :9090 scraping every instance, with deploy/prometheus's rules (env PROMETHEUS=1; make setup-prometheus installs it)")
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}

	instances, err := upInstances(*scale, *instancesFlag)
	if err != nil {
		return err
	}
	if *prom {
		if _, err := prometheus.Find(); err != nil {
			return fmt.Errorf("-prometheus: %w", err)
		}
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts := harness.Options{
		Broker:        *brokerName,
		BrokerPort:    *brokerPort,
		ZooKeeperPort: 2181,
		RegistryPort:  registryPort,
		Ports:         harness.DefaultPorts,
		Instances:     instances,
		DB:            *db,
		ServiceEnv:    map[string]string{"PAYMENT_DELAY": *paymentDelay},
		Security:      *securityMode,
		Faults:        *faults,
		// A stack that runs for a while, and that the load runner may
		// measure: its brokers compile as the runner's own do.
		BrokerFullJIT: true,
	}
	if !*quiet {
		opts.Log = stderr
	}
	// Fail fast and clearly on a busy port rather than half-starting.
	if err := upPortsFree(opts, *webDir, *webPort, *prom); err != nil {
		return err
	}
	sqliteWarning(stderr, opts)
	// The services inherit the kit's open-file limit; the load runner
	// raises its own the same way, so the services either starts get the
	// same one.
	if _, err := harness.RaiseOpenFileLimit(); err != nil {
		fmt.Fprintf(stderr, "kit: raising the open-file limit: %v\n", err)
	}

	fmt.Fprintf(stdout, "starting the %s broker and the services...\n", *brokerName)
	startCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	stack, err := harness.Start(startCtx, opts)
	cancel()
	if err != nil {
		return err
	}
	defer harness.RemoveBuild()
	defer func() {
		fmt.Fprintln(stdout, "stopping...")
		closeCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := stack.Close(closeCtx); err != nil {
			fmt.Fprintln(stderr, "kit: stop:", err)
		}
	}()

	settings, err := writeSettings(stack)
	if err != nil {
		return fmt.Errorf("write the stack's client settings for the kit CLI: %w", err)
	}
	defer removeSettings()
	if stack.Security() != nil {
		if err := createOutsider(ctx, stack); err != nil {
			return err
		}
	}

	seeded := *seed && seedDemoStock(ctx, stack.Client(), stderr)
	demo := newProducer(cluster{brokers: stack.BrokerAddrs(), dialer: stack.KafkaDialer()}, stack.RegistryURL())
	defer demo.Close()
	webURL := ""
	if *webDir != "" {
		if webURL, err = serveWeb(ctx, *webDir, *webPort, demoAPI(demo)); err != nil {
			return err
		}
	}
	promURL := ""
	if *prom {
		startCtx, cancel := context.WithTimeout(ctx, time.Minute)
		srv, err := startPrometheus(startCtx, stack, opts.Log)
		cancel()
		if err != nil {
			return err
		}
		defer srv.Close(context.Background())
		promURL = srv.URL()
	}
	if *faults {
		ln, err := net.Listen("tcp", faultsAPI)
		if err != nil {
			return fmt.Errorf("-faults: the fault API needs %s: %w", faultsAPI, err)
		}
		go func() {
			if err := stack.ServeLinks(ctx, ln); err != nil {
				fmt.Fprintln(stderr, "kit: fault API:", err)
			}
		}()
	}
	printURLs(stdout, stack, webURL, promURL, seeded)
	if *faults {
		fmt.Fprintf(stdout, "\n  %d links proxied (kit faults list shows them): kit faults add|clear, e.g. kit faults add stock-service broker cut 30s\n", len(stack.Links().Names()))
	}
	if m := stack.Security(); m != nil {
		fmt.Fprintf(stdout, "\n  Kafka is locked down: SASL_SSL, SCRAM-SHA-512, CA %s\n", settingsCA(settings))
		fmt.Fprintf(stdout, "  the kit CLI signs in as %s by itself (settings in %s)\n", events.PrincipalKit, settings)
		fmt.Fprintf(stdout, "  an outsider to try: user %s, password %s — it signs in and may do nothing\n", outsiderUser, outsiderPassword)
	}

	for _, name := range harness.Services {
		for _, in := range stack.Instances(name) {
			go superviseService(ctx, in, stderr)
		}
	}
	<-ctx.Done()
	return nil
}

// superviseService restarts a service that exits while the kit is up, with
// a growing pause between attempts, like compose's restart: unless-stopped.
func superviseService(ctx context.Context, in *harness.Instance, stderr io.Writer) {
	name := in.Name()
	pause := time.Second
	for {
		if exited := in.Exited(); exited != nil {
			select {
			case <-ctx.Done():
				return
			case <-exited:
			}
		}
		if ctx.Err() != nil {
			return
		}
		fmt.Fprintf(stderr, "kit: %s is not running; restarting in %s\n", name, pause)
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		restartCtx, cancel := context.WithTimeout(ctx, time.Minute)
		err := in.Restart(restartCtx)
		cancel()
		if err != nil {
			fmt.Fprintf(stderr, "kit: restart %s: %v\n", name, err)
			pause = min(pause*2, 30*time.Second)
			continue
		}
		pause = time.Second
	}
}

func printURLs(w io.Writer, stack *harness.Stack, webURL, promURL string, seeded bool) {
	fmt.Fprintf(w, "\nKafka Microservice Kit is up (broker %s at %s)\n\n", stack.Broker().Name(), strings.Join(stack.BrokerAddrs(), ","))
	if webURL != "" {
		fmt.Fprintf(w, "  %-20s %s\n", "web page", webURL)
	}
	for _, name := range []string{harness.OrdersAPI, harness.OrdersProcessor, harness.NotificationsAPI, harness.StockService} {
		for _, in := range stack.Instances(name) {
			fmt.Fprintf(w, "  %-20s %s\n", in.Name(), in.URL())
		}
	}
	if pg := stack.Postgres(); pg != nil {
		fmt.Fprintf(w, "  %-20s %s\n", "postgres", pg.Addr())
	}
	if u := stack.RegistryURL(); u != "" {
		fmt.Fprintf(w, "  %-20s %s (SCHEMA_REGISTRY_URL)\n", "schema registry", u)
	}
	if promURL != "" {
		fmt.Fprintf(w, "  %-20s %s\n", "prometheus", promURL)
	}
	printTry(w, stack.URL, seeded)
}

// serveWeb serves the built page, falling back to index.html for client
// routes, and api under /kit/.
func serveWeb(ctx context.Context, dir string, port int, api http.Handler) (string, error) {
	if root, err := harness.RepoRoot(); err == nil && !filepath.IsAbs(dir) {
		dir = filepath.Join(root, dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "index.html")); err != nil {
		return "", fmt.Errorf("web page not built at %s (run `make web`, or pass -web '' to skip it): %w", dir, err)
	}
	files := http.FileServer(http.Dir(dir))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := os.Stat(filepath.Join(dir, filepath.Clean("/"+r.URL.Path))); err != nil {
			r.URL.Path = "/"
		}
		files.ServeHTTP(w, r)
	})
	ln, err := net.Listen("tcp", net.JoinHostPort("localhost", strconv.Itoa(port)))
	if err != nil {
		return "", err
	}
	mux := http.NewServeMux()
	mux.Handle("/kit/", api)
	mux.Handle("/", h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	return fmt.Sprintf("http://localhost:%d", port), nil
}

func portFree(port int) error {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return err
	}
	return ln.Close()
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}
