// Package features runs the kit's Gherkin features with godog through
// `go test`: they start a broker and the four services (or use a running
// deployment) and verify the definition of done.
//
//	go test ./features                      # embedded broker
//	BROKER=kafka go test ./features         # real Apache Kafka 3.9 + ZooKeeper
//	BROKER=kafka-cluster DB=postgres INSTANCES=orders-processor=3 go test ./features
//	GODOG_TAGS='@scaling,@cluster' go test ./features  # only scenarios with either tag (make features-cluster)
//	BROKER=kafka SECURITY=sasl_ssl GODOG_TAGS=@security go test ./features  # who may write where (make features-security)
//	go test ./features -run 'TestFeatures/Taking_stock'
//	GODOG_SEED=8462 go test ./features      # replay the scenario order of a failed run
//	GODOG_FORMAT=pretty,junit:/tmp/f.xml go test ./features  # also a JUnit report (make features writes them)
package features

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cucumber/godog"

	"github.com/kafkakit/kit/harness"
	"github.com/kafkakit/kit/harness/broker"
)

// env is what every scenario shares: the stack under test and clients of it.
type env struct {
	stack  *harness.Stack
	client *harness.Client
	kafka  *harness.Kafka
	broker string
	// ownsServices is false when the services are an already running
	// deployment, which the harness cannot stop or restart.
	ownsServices bool
}

func TestFeatures(t *testing.T) {
	e, err := startEnv(t)
	if err != nil {
		t.Fatal(err)
	}
	opts := &godog.Options{
		Format:    envOr("GODOG_FORMAT", "pretty"),
		Paths:     []string{"."},
		Strict:    true, // pending or undefined steps fail the run
		Randomize: -1,   // random order, seed printed so a failure can be replayed
		TestingT:  t,
		Output:    os.Stdout,
	}
	opts.Tags = narrowTags(os.Getenv("GODOG_TAGS"), tagFilter(e))
	if seed := os.Getenv("GODOG_SEED"); seed != "" {
		// Replay the order of a failed run: its seed is printed at the end.
		n, err := strconv.ParseInt(seed, 10, 64)
		if err != nil {
			t.Fatalf("GODOG_SEED=%q is not a number: %v", seed, err)
		}
		opts.Randomize = n
	}
	suite := godog.TestSuite{
		Name: "kit on " + e.broker,
		ScenarioInitializer: func(sc *godog.ScenarioContext) {
			sc.Before(e.beginScenario)
			sc.After(e.endScenario)
			orderSteps(sc)
			paymentSteps(sc)
			notificationSteps(sc)
			stockSteps(sc)
			deadLetterSteps(sc)
			contractSteps(sc)
			outageSteps(sc)
			kafkaSteps(sc)
			scalingSteps(sc)
			failoverSteps(sc)
			securitySteps(sc)
			transactionSteps(sc)
			networkSteps(sc)
		},
		Options: opts,
	}
	if status := suite.Run(); status != 0 {
		t.Fatalf("features failed on the %s broker (status %d)", e.broker, status)
	}
}

// tagFilter returns the godog tag expression that leaves out the scenarios
// this environment cannot run, and says so loudly for each kind left out.
func tagFilter(e *env) string {
	var skip []string
	if e.broker != "kafka" && e.broker != "kafka-cluster" && e.broker != "testcontainers" {
		// Brokers that lack behaviour some scenarios need (such as being
		// stopped and started again): those scenarios run on BROKER=kafka.
		fmt.Printf("NOTE: scenarios tagged @real-kafka do not run on the %s broker; `make test` runs them on real Kafka\n", e.broker)
		skip = append(skip, "~@real-kafka")
	}
	if !e.ownsServices {
		// Outage scenarios stop, kill and restart services, which only
		// processes the harness started can be.
		fmt.Println("NOTE: scenarios tagged @fault do not run against an already running deployment; they need services the harness starts")
		skip = append(skip, "~@fault")
	}
	if _, ok := e.stack.Broker().(broker.Restarter); !ok {
		// A broker outage needs a broker the harness can stop and start
		// again; the kafka broker can, the testcontainers one cannot (yet).
		fmt.Printf("NOTE: scenarios tagged @broker-outage do not run on the %s broker, which cannot be stopped and started again; BROKER=kafka runs them\n", e.broker)
		skip = append(skip, "~@broker-outage")
	}
	if missing := scalingMissing(e.stack); missing != "" {
		// Scaling scenarios stop and start some of several instances and
		// share one PostgreSQL between them.
		fmt.Printf("NOTE: scenarios tagged @scaling do not run on this stack, which runs %s; `make test` runs them with BROKER=kafka-cluster DB=postgres INSTANCES=%s\n", missing, scalingInstances)
		skip = append(skip, "~@scaling")
	}
	if e.stack.Security() == nil {
		// Security scenarios need a locked-down broker: SASL_SSL, SCRAM
		// users and ACLs.
		fmt.Printf("NOTE: scenarios tagged @security do not run on this plaintext stack; `make test` runs them with BROKER=kafka SECURITY=sasl_ssl\n")
		skip = append(skip, "~@security")
	}
	if !linksProxied(e.stack) {
		// Network scenarios break the links between the services and the
		// brokers, which only proxies on real Kafka's per-service
		// listeners can.
		fmt.Printf("NOTE: scenarios tagged @network do not run on this stack, whose links to the %s broker are not proxied; `make test` runs them with BROKER=kafka FAULTS=1 (make features-network, and the @cluster one in make features-cluster)\n", e.broker)
		skip = append(skip, "~@network")
	}
	if e.stack.Postgres() == nil {
		// make test's features-network stage runs them on DB=postgres.
		fmt.Println("NOTE: scenarios tagged @postgres do not run on this stack, whose services keep SQLite files; `make test` runs them with BROKER=kafka DB=postgres FAULTS=1 (make features-network)")
		skip = append(skip, "~@postgres")
	}
	if _, ok := failoverCluster(e.stack.Broker()); !ok {
		// Failover scenarios kill one broker of several.
		fmt.Printf("NOTE: scenarios tagged @cluster do not run on the %s broker, which is not a cluster whose brokers can fail one by one; `make test` runs them with BROKER=kafka-cluster\n", e.broker)
		skip = append(skip, "~@cluster")
	}
	return strings.Join(skip, " && ")
}

// narrowTags keeps, of what filter selects, only the scenarios the tag
// expression only (GODOG_TAGS, e.g. "@scaling,@cluster") selects. godog
// reads a comma as an OR of groups joined by && (the comma binds loosest),
// so filter, a plain && group, is added to each alternative.
func narrowTags(only, filter string) string {
	if strings.TrimSpace(only) == "" {
		return filter
	}
	alternatives := strings.Split(only, ",")
	for i, a := range alternatives {
		if a = strings.TrimSpace(a); filter != "" {
			a += " && " + filter
		}
		alternatives[i] = a
	}
	return strings.Join(alternatives, ",")
}

func startEnv(t *testing.T) (*env, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	opts := harness.Options{
		Broker: os.Getenv("BROKER"), // embedded, kafka, kafka-cluster, testcontainers
		DB:     os.Getenv("DB"),     // sqlite or postgres
		// sasl_ssl: SASL_SSL, SCRAM users and ACLs (real Kafka only).
		Security: os.Getenv("SECURITY"),
		// 1: a proxy on every link of every service (its links to the
		// brokers on real Kafka only), for the @network scenarios, which
		// asking for them by tag turns on too.
		Faults: os.Getenv("FAULTS") == "1" || strings.Contains(os.Getenv("GODOG_TAGS"), "@network"),
		// A short simulated payment, so a follower sees PAID arrive live.
		ServiceEnv: map[string]string{"PAYMENT_DELAY": "300ms"},
	}
	instances, err := harness.ParseInstances(os.Getenv("INSTANCES")) // e.g. orders-processor=3
	if err != nil {
		return nil, fmt.Errorf("INSTANCES: %w", err)
	}
	opts.Instances = instances
	if urls := runningServices(); urls != nil {
		// Verify a running deployment (`make scenarios`), e.g. docker compose.
		opts.Broker, opts.ServiceURLs = "external", urls
		opts.BrokerAddrs = strings.Split(envOr("KAFKA_BROKERS", "localhost:9093"), ",")
		opts.RegistryURL = os.Getenv("SCHEMA_REGISTRY_URL")
	}
	if opts.Broker == "" {
		opts.Broker = "embedded"
	}
	stack, err := harness.Start(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("start the %s stack: %w", opts.Broker, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := stack.Close(ctx); err != nil {
			t.Errorf("stop the stack: %v", err)
		}
		_ = harness.RemoveBuild()
	})
	return &env{stack: stack, client: stack.Client(), kafka: stack.Kafka(), broker: opts.Broker, ownsServices: opts.ServiceURLs == nil}, nil
}

// runningServices returns the URLs of an already running deployment when
// all four are given in the environment, or nil.
func runningServices() map[string]string {
	urls := map[string]string{
		harness.OrdersAPI:        os.Getenv("ORDERS_API_URL"),
		harness.OrdersProcessor:  os.Getenv("ORDERS_PROCESSOR_URL"),
		harness.NotificationsAPI: os.Getenv("NOTIFICATIONS_API_URL"),
		harness.StockService:     os.Getenv("STOCK_SERVICE_URL"),
	}
	for _, u := range urls {
		if u == "" {
			return nil
		}
	}
	return urls
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
