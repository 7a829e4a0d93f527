// Package testcontainers runs ZooKeeper and Kafka 3.9 in Docker through
// testcontainers-go, from the Confluent Platform 7.9 images that
// docker-compose.yml pins: the broker for laptops and CI with a Docker
// engine.
//
// Kafka gets two listeners, as in docker-compose.yml: INTERNAL kafka:9092 on
// the containers' own network, and EXTERNAL advertised as the host and port
// Docker maps 9093 to. That port is only known once the container exists, so
// the container starts with a shell that waits for a start script; a
// post-start hook writes the script with the mapped port as the advertised
// EXTERNAL listener, and the broker starts from there (the pattern of
// testcontainers-go's own Kafka module, which runs KRaft rather than
// ZooKeeper).
//
// Importing the package does nothing; Start first asks whether a Docker
// engine answers and returns an error wrapping ErrNoDocker when none does,
// before it creates anything (so neither Ryuk nor an image pull is needed to
// get that answer).
package testcontainers

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	"github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkakit/kit/harness/broker"
)

// ErrNoDocker is wrapped by the error Start returns when no Docker engine
// answers, so that callers can tell "this machine cannot run containers"
// from a broker that failed. Tests turn it into one skip line:
//
//	if errors.Is(err, testcontainers.ErrNoDocker) {
//		t.Skip("SKIP " + err.Error())
//	}
var ErrNoDocker = errors.New("no Docker engine answers here")

const (
	zookeeperAlias = "zookeeper"
	kafkaAlias     = "kafka"
	externalPort   = "9093/tcp"
	// InternalAddr is the bootstrap address of the INTERNAL listener, for
	// containers on the broker's network.
	InternalAddr = kafkaAlias + ":9092"

	startScript = "/tmp/kafkakit-start.sh"
)

// Options configures Start. The zero value is ready to use.
type Options struct {
	// ZooKeeperImage and KafkaImage replace DefaultZooKeeperImage and
	// DefaultKafkaImage (e.g. a mirror of the same tags).
	ZooKeeperImage string
	KafkaImage     string
	// Log receives both containers' output, one line at a time, prefixed
	// "zookeeper: " or "kafka: ", and testcontainers' own progress lines,
	// prefixed "testcontainers: ". nil discards them.
	Log io.Writer
	// ServerProperties are added to, or override, the broker's settings,
	// e.g. "log.retention.ms": they become the image's KAFKA_* variables.
	ServerProperties map[string]string
	// DockerTimeout bounds the question whether a Docker engine answers;
	// 0 means 15 s.
	DockerTimeout time.Duration
}

// Broker is a running ZooKeeper and Kafka pair in containers on a network of
// their own. Close removes all three.
type Broker struct {
	addr string

	mu        sync.Mutex
	closed    bool
	network   *testcontainers.DockerNetwork
	zookeeper *testcontainers.DockerContainer
	kafka     *testcontainers.DockerContainer
}

var _ broker.Broker = (*Broker)(nil)

// Start checks that a Docker engine answers, then starts ZooKeeper and Kafka
// and returns once Kafka answers a metadata request on the address Addrs
// gives. ctx bounds everything, image pulls included. On error nothing is
// left running.
func Start(ctx context.Context, opts Options) (_ *Broker, err error) {
	logger := newLogger(opts.Log)
	if err := dockerAnswers(ctx, opts.DockerTimeout, logger); err != nil {
		return nil, fmt.Errorf("broker testcontainers: %w (%v)", ErrNoDocker, err)
	}

	b := &Broker{}
	defer func() {
		if err != nil {
			_ = b.Close(context.WithoutCancel(ctx))
		}
	}()

	b.network, err = network.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("broker testcontainers: network: %w", err)
	}

	zkImage := cmpOr(opts.ZooKeeperImage, DefaultZooKeeperImage)
	b.zookeeper, err = testcontainers.Run(ctx, zkImage,
		testcontainers.WithLogger(logger),
		network.WithNetwork([]string{zookeeperAlias}, b.network),
		testcontainers.WithEnv(map[string]string{
			"ZOOKEEPER_CLIENT_PORT": "2181",
			"ZOOKEEPER_TICK_TIME":   "2000",
		}),
		withLog(opts.Log, "zookeeper: "),
		// srvr is the one four-letter word ZooKeeper answers by default;
		// bash's /dev/tcp needs no nc in the image.
		testcontainers.WithWaitStrategyAndDeadline(2*time.Minute,
			wait.ForExec([]string{"bash", "-c", `exec 3<>/dev/tcp/127.0.0.1/2181 && echo srvr >&3 && read -r line <&3 && [[ $line == Zookeeper* ]]`}).
				WithPollInterval(200*time.Millisecond)),
	)
	if err != nil {
		return nil, fmt.Errorf("broker testcontainers: zookeeper %s: %w", zkImage, err)
	}

	kafkaImage := cmpOr(opts.KafkaImage, DefaultKafkaImage)
	b.kafka, err = testcontainers.Run(ctx, kafkaImage,
		testcontainers.WithLogger(logger),
		network.WithNetwork([]string{kafkaAlias}, b.network),
		testcontainers.WithExposedPorts(externalPort),
		testcontainers.WithEnv(kafkaEnv(opts.ServerProperties)),
		withLog(opts.Log, "kafka: "),
		// The broker starts once the post-start hook has written the script
		// that knows the mapped port.
		testcontainers.WithEntrypoint("sh"),
		testcontainers.WithCmd("-c", "while [ ! -f "+startScript+" ]; do sleep 0.1; done; exec bash "+startScript),
		testcontainers.WithLifecycleHooks(testcontainers.ContainerLifecycleHooks{
			PostStarts: []testcontainers.ContainerHook{
				func(ctx context.Context, c testcontainers.Container) error {
					addr, err := writeStartScript(ctx, c)
					if err != nil {
						return err
					}
					b.addr = addr
					return wait.ForLog(`\[KafkaServer id=\d+\] started`).AsRegexp().
						WithStartupTimeout(2*time.Minute).WaitUntilReady(ctx, c)
				},
			},
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("broker testcontainers: kafka %s: %w", kafkaImage, err)
	}

	if err := answersMetadata(ctx, b.addr); err != nil {
		return nil, fmt.Errorf("broker testcontainers: kafka on %s: %w", b.addr, err)
	}
	return b, nil
}

// dockerAnswers asks the engine testcontainers would use (DOCKER_HOST,
// ~/.testcontainers.properties, the usual sockets) for its info. Creating the
// provider has no context of its own, so the wait for it is bounded here.
func dockerAnswers(ctx context.Context, timeout time.Duration, logger tclog.Logger) error {
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	answer := make(chan error, 1)
	go func() {
		provider, err := testcontainers.NewDockerProvider(testcontainers.WithLogger(logger))
		if err != nil {
			answer <- fmt.Errorf("testcontainers: %w", err)
			return
		}
		answer <- provider.Health(ctx) // Health closes the provider
	}()
	select {
	case err := <-answer:
		return err
	case <-ctx.Done():
		return fmt.Errorf("no answer within %s", timeout)
	}
}

// kafkaEnv is the broker's configuration, in the cp-kafka image's KAFKA_*
// variables, mirroring the kafka service of docker-compose.yml. The
// advertised listeners come from the start script.
func kafkaEnv(props map[string]string) map[string]string {
	env := map[string]string{
		"KAFKA_BROKER_ID":                      "1",
		"KAFKA_ZOOKEEPER_CONNECT":              zookeeperAlias + ":2181",
		"KAFKA_LISTENERS":                      "INTERNAL://0.0.0.0:9092,EXTERNAL://0.0.0.0:9093",
		"KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT",
		"KAFKA_INTER_BROKER_LISTENER_NAME":     "INTERNAL",
		// Topics are created explicitly; a first write to a topic being
		// auto-created fails.
		"KAFKA_AUTO_CREATE_TOPICS_ENABLE":                "false",
		"KAFKA_DEFAULT_REPLICATION_FACTOR":               "1",
		"KAFKA_MIN_INSYNC_REPLICAS":                      "1",
		"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR":         "1",
		"KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
		"KAFKA_TRANSACTION_STATE_LOG_MIN_ISR":            "1",
		"KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS":         "0",
	}
	for k, v := range props {
		env[propertyEnv(k)] = v
	}
	return env
}

// propertyEnv names the cp-kafka variable for a server property: KAFKA_,
// then the name upper-cased with '.' as '_', '_' as '__' and '-' as '___'.
func propertyEnv(property string) string {
	r := strings.NewReplacer("-", "___", "_", "__", ".", "_")
	return "KAFKA_" + strings.ToUpper(r.Replace(property))
}

// writeStartScript copies into the container the script that advertises the
// mapped EXTERNAL port and starts the broker, and returns that host:port.
func writeStartScript(ctx context.Context, c testcontainers.Container) (string, error) {
	if err := wait.ForMappedPort(externalPort).WaitUntilReady(ctx, c); err != nil {
		return "", fmt.Errorf("wait for mapped port: %w", err)
	}
	addr, err := c.PortEndpoint(ctx, externalPort, "")
	if err != nil {
		return "", fmt.Errorf("mapped port: %w", err)
	}
	script := startScriptFor(addr)
	if err := c.CopyToContainer(ctx, []byte(script), startScript, 0o755); err != nil {
		return "", fmt.Errorf("copy start script: %w", err)
	}
	return addr, nil
}

// startScriptFor is the script that starts the broker advertising addr, the
// host's way in, as the EXTERNAL listener.
func startScriptFor(addr string) string {
	return "#!/bin/bash\n" +
		fmt.Sprintf("export KAFKA_ADVERTISED_LISTENERS='INTERNAL://%s,EXTERNAL://%s'\n", InternalAddr, addr) +
		"exec /etc/confluent/docker/run\n"
}

// answersMetadata waits until the broker answers a metadata request from
// this process on addr, which proves the advertised address is reachable.
func answersMetadata(ctx context.Context, addr string) error {
	client, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return err
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		err := client.Ping(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no metadata answer: %w", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Name implements broker.Broker.
func (b *Broker) Name() string { return "testcontainers" }

// Addrs implements broker.Broker: the EXTERNAL listener on the host.
func (b *Broker) Addrs() []string { return []string{b.addr} }

// Close implements broker.Broker: it terminates both containers, removing
// their data, and the network. Closing twice does nothing.
func (b *Broker) Close(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	var errs []error
	for _, c := range []*testcontainers.DockerContainer{b.kafka, b.zookeeper} {
		if c == nil {
			continue
		}
		if err := c.Terminate(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if b.network != nil {
		if err := b.network.Remove(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("broker testcontainers: close: %w", err)
	}
	return nil
}

func cmpOr(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

// newLogger routes testcontainers' own progress lines to w.
func newLogger(w io.Writer) tclog.Logger {
	if w == nil {
		return tclog.NewNoopLogger()
	}
	return printfLogger{w: &lineWriter{w: w, prefix: "testcontainers: "}}
}

type printfLogger struct{ w io.Writer }

func (l printfLogger) Printf(format string, v ...any) {
	fmt.Fprintf(l.w, format+"\n", v...)
}

// withLog copies a container's output to w, each line prefixed.
func withLog(w io.Writer, prefix string) testcontainers.CustomizeRequestOption {
	return func(req *testcontainers.GenericContainerRequest) error {
		if w == nil {
			return nil
		}
		return testcontainers.WithLogConsumerConfig(&testcontainers.LogConsumerConfig{
			Consumers: []testcontainers.LogConsumer{logConsumer{w: &lineWriter{w: w, prefix: prefix}}},
		})(req)
	}
}

type logConsumer struct{ w io.Writer }

func (c logConsumer) Accept(l testcontainers.Log) { _, _ = c.w.Write(l.Content) }

// lineWriter writes whole lines, each prefixed, to a writer shared by
// several sources; the mutex is package-wide because sources share writers.
type lineWriter struct {
	w      io.Writer
	prefix string
}

var writeMu sync.Mutex

func (l *lineWriter) Write(p []byte) (int, error) {
	writeMu.Lock()
	defer writeMu.Unlock()
	sc := bufio.NewScanner(bytes.NewReader(p))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		if _, err := fmt.Fprintf(l.w, "%s%s\n", l.prefix, sc.Text()); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}
