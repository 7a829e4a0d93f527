// Package kafka runs a real Apache Kafka 3.9.1 broker in ZooKeeper mode,
// plus its ZooKeeper, as two child JVMs on the machine's Java 17. The jars
// come from Maven Central through the pom.xml next to this file, so neither
// Docker nor a Kafka download is needed: the broker the kit's guide names,
// wherever a JDK and Maven are installed.
//
// Both processes listen on 127.0.0.1 only, keep their data in a fresh
// directory and are stopped and removed by Close. A Broker satisfies
// broker.Restarter: Stop and Start bounce the Kafka process alone, on the
// same port and data, for outage scenarios.
package kafka

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkakit/kit/harness/broker"
)

// ErrMissingTool is wrapped by the error Start returns when java, or mvn
// when the jars still need resolving, is not on PATH, so that callers can
// tell "this machine cannot run a real broker" from a broker that failed.
var ErrMissingTool = errors.New("broker kafka")

// ErrClosed is returned by Start and Stop after Close.
var ErrClosed = errors.New("broker kafka: closed")

// Options configures Start. The zero value is ready to use.
type Options struct {
	// Port is Kafka's listener port on 127.0.0.1; 0 picks a free one.
	Port int
	// ZooKeeperPort is ZooKeeper's client port on 127.0.0.1; 0 picks a free one.
	ZooKeeperPort int
	// Dir holds the configuration and data of both processes. "" creates a
	// temporary directory that Close removes. A given Dir is created if
	// needed and its data subdirectories are wiped at Start (a ZooKeeper and
	// a Kafka log dir from different runs disagree on the cluster id, and
	// Kafka refuses to start); Close leaves it in place for inspection.
	Dir string
	// Log receives both processes' stdout and stderr, one line at a time,
	// prefixed "zookeeper: " or "kafka: ". nil discards them; the tail of a
	// process that dies during start-up is in Start's error either way.
	Log io.Writer
	// PomPath is the pom.xml whose dependencies form the classpath. ""
	// uses the pom.xml next to this package's source.
	PomPath string
	// CacheDir caches the resolved classpath so that Maven runs once per
	// pom. "" uses os.UserCacheDir()/kafkakit/broker-kafka.
	CacheDir string
	// ServerProperties are added to, or override, the generated
	// server.properties (e.g. "log.retention.ms").
	ServerProperties map[string]string
	// KafkaJVMOptions replaces the Kafka JVM's default options
	// (-Xms256m -Xmx768m and G1 with short pauses).
	KafkaJVMOptions []string
}

// Broker is a running ZooKeeper and Kafka pair. Its methods are safe for
// concurrent use.
type Broker struct {
	java      string
	classpath string
	dir       string
	ownDir    bool // dir is a temporary directory Close removes
	port      int
	zkPort    int
	kafkaArgs []string
	logDirs   []string // Kafka's log.dirs
	log       *lockedWriter

	mu     sync.Mutex // serialises Start, Stop and Close
	zk     *process
	kafka  *process // nil while stopped
	closed bool
}

var _ broker.Restarter = (*Broker)(nil)

// Start resolves the jars (the first run on a machine asks Maven, which may
// download for a minute; ctx bounds it), writes the configuration, starts
// ZooKeeper and then Kafka, and returns once Kafka answers a metadata
// request naming itself as broker 0 and controller. On error nothing is
// left running.
func Start(ctx context.Context, opts Options) (_ *Broker, err error) {
	java, err := exec.LookPath("java")
	if err != nil {
		return nil, fmt.Errorf("%w: java not found on PATH (install a JDK 17: apt-get install openjdk-17-jre-headless)", ErrMissingTool)
	}
	pom := opts.PomPath
	if pom == "" {
		if pom, err = defaultPomPath(); err != nil {
			return nil, err
		}
	}
	cacheDir := opts.CacheDir
	if cacheDir == "" {
		if cacheDir, err = defaultCacheDir(); err != nil {
			return nil, err
		}
	}
	classpath, err := resolveClasspath(ctx, pom, cacheDir)
	if err != nil {
		return nil, err
	}

	b := &Broker{
		java:      java,
		classpath: classpath,
		dir:       opts.Dir,
		port:      opts.Port,
		zkPort:    opts.ZooKeeperPort,
		log:       &lockedWriter{w: io.Discard},
	}
	if opts.Log != nil {
		b.log.w = opts.Log
	}
	if b.dir == "" {
		if b.dir, err = os.MkdirTemp("", "kafkakit-kafka-"); err != nil {
			return nil, fmt.Errorf("broker kafka: %w", err)
		}
		b.ownDir = true
	}
	// The JVMs run in b.dir, so the paths written into their configuration
	// must not be relative to the harness's working directory.
	if b.dir, err = filepath.Abs(b.dir); err != nil {
		return nil, fmt.Errorf("broker kafka: %w", err)
	}
	defer func() {
		if err != nil {
			_ = b.Close(context.WithoutCancel(ctx))
		}
	}()
	if err := b.prepareDir(opts); err != nil {
		return nil, err
	}
	if err := b.startZooKeeper(ctx); err != nil {
		return nil, err
	}
	if err := b.startKafka(ctx); err != nil {
		return nil, err
	}
	return b, nil
}

// prepareDir picks the free ports and writes fresh configuration and empty
// data directories.
func (b *Broker) prepareDir(opts Options) error {
	ports, err := freePorts(b.port == 0, b.zkPort == 0)
	if err != nil {
		return err
	}
	if b.port == 0 {
		b.port = ports[0]
	}
	if b.zkPort == 0 {
		b.zkPort = ports[1]
	}
	zkData := filepath.Join(b.dir, "zookeeper-data")
	kafkaLogs := filepath.Join(b.dir, "kafka-logs")
	for _, d := range []string{zkData, kafkaLogs} {
		if err := os.RemoveAll(d); err != nil {
			return fmt.Errorf("broker kafka: wipe %s: %w", d, err)
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("broker kafka: %w", err)
		}
	}
	server := serverProperties(kafkaLogs, b.port, b.zkPort)
	for k, v := range opts.ServerProperties {
		server[k] = v
	}
	b.logDirs = strings.Split(server["log.dirs"], ",")
	if err := writeProperties(filepath.Join(b.dir, "zookeeper.properties"), zookeeperProperties(zkData, b.zkPort)); err != nil {
		return err
	}
	if err := writeProperties(filepath.Join(b.dir, "server.properties"), server); err != nil {
		return err
	}
	log4j := filepath.Join(b.dir, "log4j.properties")
	if err := os.WriteFile(log4j, []byte(log4jProperties), 0o644); err != nil {
		return fmt.Errorf("broker kafka: write log4j.properties: %w", err)
	}

	jvm := opts.KafkaJVMOptions
	if jvm == nil {
		jvm = []string{"-Xms256m", "-Xmx768m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20"}
	}
	b.kafkaArgs = append(b.commonJVMArgs(), jvm...)
	b.kafkaArgs = append(b.kafkaArgs, "kafka.Kafka", filepath.Join(b.dir, "server.properties"))
	return nil
}

// commonJVMArgs are the options both JVMs share.
func (b *Broker) commonJVMArgs() []string {
	return []string{
		"-cp", b.classpath,
		"-Djava.awt.headless=true",
		"-Dlog4j.configuration=" + (&url.URL{Scheme: "file", Path: filepath.Join(b.dir, "log4j.properties")}).String(),
		// A JVM out of heap is better dead, with the reason in the log
		// tail, than limping on.
		"-XX:+ExitOnOutOfMemoryError",
	}
}

// startZooKeeper starts ZooKeeper and waits until it answers "ruok".
func (b *Broker) startZooKeeper(ctx context.Context) error {
	args := append(b.commonJVMArgs(), "-Xms64m", "-Xmx256m",
		"-Dzookeeper.jmx.log4j.disable=true",
		"org.apache.zookeeper.server.quorum.QuorumPeerMain", filepath.Join(b.dir, "zookeeper.properties"))
	zk, err := startProcess("zookeeper", b.java, args, b.dir, b.log)
	if err != nil {
		return err
	}
	b.zk = zk
	return waitUntil(ctx, zk, "ZooKeeper answering on "+b.ZooKeeperAddr(), func(ctx context.Context) bool {
		return zookeeperOK(ctx, b.ZooKeeperAddr())
	})
}

// startKafka starts the Kafka process and waits until it answers metadata
// and leads every partition it has a log for.
//
// A restarted broker answers metadata before the controller has told it
// about its topics: for a moment it names itself but calls every topic
// unknown. A client that refreshes its metadata then (kafka-go's writer
// keeps that view until its next refresh) fails every write, so Start
// returns only once the partitions on disk are led again.
//
// A Kafka that died without closing its ZooKeeper session (SIGKILL, a
// crash) leaves its registration behind until the session expires
// (zookeeper.session.timeout.ms, 6 s here); a new process started before
// then exits with NodeExistsException. That case is retried until ctx is
// done, so Start after a crash works rather than failing for a few seconds.
func (b *Broker) startKafka(ctx context.Context) error {
	addr := b.Addrs()[0]
	want, err := partitionsOnDisk(b.logDirs)
	if err != nil {
		return err
	}
	for {
		p, err := startProcess("kafka", b.java, b.kafkaArgs, b.dir, b.log)
		if err != nil {
			return err
		}
		err = waitUntil(ctx, p, "Kafka answering metadata on "+addr, func(ctx context.Context) bool {
			return brokerReady(ctx, addr, want)
		})
		if err == nil {
			b.kafka = p
			return nil
		}
		p.stop(context.WithoutCancel(ctx))
		// With ctx still live, waitUntil failed because the process exited.
		if ctx.Err() != nil || !strings.Contains(p.tail.String(), "NodeExistsException") {
			return err
		}
		fmt.Fprintln(b.log, "kafka: [harness] the previous broker's ZooKeeper session has not expired yet; starting again")
		select {
		case <-ctx.Done():
			return err
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// Name is "kafka".
func (b *Broker) Name() string { return "kafka" }

// Addrs is the one bootstrap address, 127.0.0.1:Port. It does not change
// across Stop and Start.
func (b *Broker) Addrs() []string {
	return []string{net.JoinHostPort("127.0.0.1", strconv.Itoa(b.port))}
}

// ZooKeeperAddr is ZooKeeper's client address, for tools that still speak
// to ZooKeeper directly.
func (b *Broker) ZooKeeperAddr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(b.zkPort))
}

// Dir is the directory holding both processes' configuration and data.
func (b *Broker) Dir() string { return b.dir }

// Stop stops the Kafka process (SIGTERM, then SIGKILL after a grace
// period or when ctx is done), keeping its data and port; ZooKeeper keeps
// running. Stopping a stopped broker does nothing.
func (b *Broker) Stop(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	if b.kafka == nil {
		return nil
	}
	b.kafka.stop(ctx)
	b.kafka = nil
	return nil
}

// Start starts a stopped Kafka process again on the same port and data and
// returns once it answers metadata. Starting a running broker does
// nothing; if its process died on its own, Start replaces it.
func (b *Broker) Start(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	if b.kafka != nil {
		if !b.kafka.exited() {
			return nil
		}
		b.kafka = nil
	}
	if b.zk.exited() {
		return fmt.Errorf("broker kafka: cannot start Kafka, ZooKeeper is gone (%v); last output:\n%s",
			b.zk.err, lastLines(b.zk.tail.String(), 20))
	}
	return b.startKafka(ctx)
}

// Close stops Kafka, then ZooKeeper (so Kafka can still close its session),
// and removes the directory if Start created it. A ctx that is done turns
// SIGTERM into SIGKILL at once. Closing twice does nothing.
func (b *Broker) Close(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	if b.kafka != nil {
		b.kafka.stop(ctx)
		b.kafka = nil
	}
	if b.zk != nil {
		b.zk.stop(ctx)
	}
	if b.ownDir {
		if err := os.RemoveAll(b.dir); err != nil {
			return fmt.Errorf("broker kafka: remove %s: %w", b.dir, err)
		}
	}
	return nil
}

// waitUntil polls ready until it reports true, p exits (an error carrying
// p's last output) or ctx is done. Polling keeps start-up as fast as the
// JVM allows instead of guessing a sleep.
func waitUntil(ctx context.Context, p *process, what string, ready func(context.Context) bool) error {
	const interval = 100 * time.Millisecond
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		attempt, cancel := context.WithTimeout(ctx, 2*time.Second)
		ok := ready(attempt)
		cancel()
		if ok {
			return nil
		}
		select {
		case <-p.done:
			return p.exitError()
		case <-ctx.Done():
			return fmt.Errorf("broker kafka: waiting for %s: %w; last output:\n%s",
				what, ctx.Err(), lastLines(p.tail.String(), 20))
		case <-tick.C:
		}
	}
}

// zookeeperOK reports whether ZooKeeper at addr answers "ruok" with "imok",
// which it does only once it serves requests (a bare TCP accept can come
// earlier).
func zookeeperOK(ctx context.Context, addr string) bool {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	if _, err := conn.Write([]byte("ruok")); err != nil {
		return false
	}
	answer, _ := io.ReadAll(bufio.NewReader(io.LimitReader(conn, 16)))
	return string(answer) == "imok"
}

// brokerReady reports whether the broker at addr answers a metadata request
// that lists broker 0, names a controller (the point from which topics can
// be created) and has a leader for every partition of want.
func brokerReady(ctx context.Context, addr string, want []broker.Topic) bool {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DialTimeout(time.Second))
	if err != nil {
		return false
	}
	defer cl.Close()
	m, err := kadm.NewClient(cl).Metadata(ctx)
	if err != nil || m.Controller != 0 || len(m.Brokers) != 1 || m.Brokers[0].NodeID != 0 {
		return false
	}
	return broker.AllLed(m, want)
}

// partitionsOnDisk lists the topics that have a log in dirs, which Kafka
// names <topic>-<partition>, each with its highest partition plus one. Logs
// of deleted topics end in "-delete" and are left out; so is anything else
// that is not a directory.
func partitionsOnDisk(dirs []string) ([]broker.Topic, error) {
	counts := map[string]int32{}
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("broker kafka: list the partitions in %s: %w", dir, err)
		}
		for _, e := range entries {
			i := strings.LastIndexByte(e.Name(), '-')
			if !e.IsDir() || i <= 0 {
				continue
			}
			p, err := strconv.ParseInt(e.Name()[i+1:], 10, 32)
			if err != nil {
				continue
			}
			counts[e.Name()[:i]] = max(counts[e.Name()[:i]], int32(p)+1)
		}
	}
	var out []broker.Topic
	for _, name := range slices.Sorted(maps.Keys(counts)) {
		out = append(out, broker.Topic{Name: name, Partitions: counts[name]})
	}
	return out, nil
}

// freePorts returns two distinct free loopback ports, holding both
// listeners until both are chosen so they cannot be the same port. Another
// process could still take one before the JVM binds it; Kafka then exits
// with "Address already in use" in Start's error.
func freePorts(wantKafka, wantZK bool) ([2]int, error) {
	var ports [2]int
	for i, want := range []bool{wantKafka, wantZK} {
		if !want {
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return ports, fmt.Errorf("broker kafka: pick a free port: %w", err)
		}
		defer l.Close()
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}
