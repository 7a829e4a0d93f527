// Package kafka runs real Apache Kafka 3.9.1 in ZooKeeper mode, plus its
// ZooKeeper, as child JVMs on the machine's Java 17: one broker by default,
// or a replicated cluster of several (Options.Brokers). The jars come from
// Maven Central through the pom.xml next to this file, so neither Docker nor
// a Kafka download is needed: the broker the kit's guide names, wherever a
// JDK and Maven are installed.
//
// Every process listens on 127.0.0.1 only, keeps its data in a fresh
// directory and is stopped and removed by Close. A Broker satisfies
// broker.Restarter (Stop and Start bounce every Kafka process, on the same
// ports and data, for outage scenarios) and broker.Cluster (KillBroker and
// RestartBroker take one broker down and back, Leader says who leads a
// partition, for failover scenarios).
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
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkakit/kit/harness/broker"
	"github.com/kafkakit/kit/harness/broker/security"
	"github.com/kafkakit/kit/harness/child"
)

// ErrMissingTool is wrapped by the error Start returns when java, or mvn
// when the jars still need resolving, is not on PATH, so that callers can
// tell "this machine cannot run a real broker" from a broker that failed.
var ErrMissingTool = errors.New("broker kafka")

// ErrClosed is returned by Start and Stop after Close.
var ErrClosed = errors.New("broker kafka: closed")

// Options configures Start. The zero value is ready to use.
type Options struct {
	// Brokers is how many Kafka brokers share the ZooKeeper: 0 or 1 for a
	// single broker, 3 for the replicated cluster the failover scenarios
	// need (replication factor 3, min.insync.replicas 2). Broker i has
	// broker.id i.
	Brokers int
	// Port is the first broker's listener port on 127.0.0.1; broker i
	// listens on Port+i. 0 picks free ports.
	Port int
	// ZooKeeperPort is ZooKeeper's client port on 127.0.0.1; 0 picks a free one.
	ZooKeeperPort int
	// Dir holds the configuration and data of every process. "" creates a
	// temporary directory that Close removes. A given Dir is created if
	// needed and its data subdirectories are wiped at Start (a ZooKeeper and
	// a Kafka log dir from different runs disagree on the cluster id, and
	// Kafka refuses to start); Close leaves it in place for inspection.
	Dir string
	// Log receives every process's stdout and stderr, one line at a time,
	// prefixed "zookeeper: ", "kafka: " (one broker) or "kafka-<id>: " (a
	// cluster). nil discards them; the tail of a process that dies during
	// start-up is in Start's error either way.
	Log io.Writer
	// PomPath is the pom.xml whose dependencies form the classpath. ""
	// uses the pom.xml next to this package's source.
	PomPath string
	// CacheDir caches the resolved classpath so that Maven runs once per
	// pom. "" uses os.UserCacheDir()/kafkakit/broker-kafka.
	CacheDir string
	// ServerProperties are added to, or override, the generated
	// server.properties of every broker (e.g. "log.retention.ms"). The
	// per-broker keys (broker.id, listeners, advertised.listeners,
	// log.dirs) may only be set for a single broker.
	ServerProperties map[string]string
	// KafkaJVMOptions replaces each Kafka JVM's default options: -Xms256m
	// -Xmx768m for a single broker, -Xms128m -Xmx256m each in a cluster
	// (several JVMs share the machine), G1 with short pauses, and the JIT
	// FullJIT says.
	KafkaJVMOptions []string
	// FullJIT lets each Kafka JVM compile its hot code with C2, as a
	// production broker does. Without it a broker compiles with C1 alone
	// (-XX:TieredStopAtLevel=1): it is ready on about half the CPU (2.5
	// against 4.2–5.0 CPU-seconds on a 2-core machine) and idles on half,
	// which is what tests and learning stacks want, but its steady cost
	// per record is not a production broker's: the load runner sets it.
	// ZooKeeper always runs C1 alone; its load is a few requests a second.
	FullJIT bool
	// Security, when set, locks the brokers down (SECURITY=sasl_ssl): a
	// SASL_SSL listener only, SCRAM-SHA-512 between clients and brokers and
	// among brokers, the AclAuthorizer allowing nothing without an ACL, the
	// users and ACLs of events.Principals created by Start. nil is the
	// plaintext listener of the learning path.
	Security *security.Material
	// ClientListeners are listeners of their own for some clients, each
	// reached through a proxy (harness/netfault): every broker listens for
	// that client on a port of its own and advertises the proxy's port, so
	// that the client, which dials whatever the brokers advertise, goes
	// through its proxy on every connection, not only the first. The
	// brokers among themselves, and every other client, keep the main
	// listener.
	ClientListeners []ClientListener
	// BrokerLinks, when set, has the brokers reach one another through a
	// proxy each (harness/netfault): every broker listens on a listener of
	// their own, BrokerListenerName, on Ports[id], advertises Advertised[id]
	// (where broker id's proxy listens), and names it
	// inter.broker.listener.name. So everything another broker sends
	// broker id — its followers' fetches, the controller's requests — goes
	// through id's proxy, and cutting that proxy cuts id off from the
	// others inbound while clients, on the main and client listeners,
	// still reach it. A cluster only: a single broker has no one to talk to.
	BrokerLinks *BrokerLinks
}

// BrokerLinks are the ports of the brokers' own listener when they talk
// among themselves through proxies (Options.BrokerLinks).
type BrokerLinks struct {
	// Ports are, per broker (by id), the port it listens on for the other
	// brokers: its proxy's upstream.
	Ports []int
	// Advertised are, per broker, the port it advertises to the other
	// brokers: where its proxy listens.
	Advertised []int
}

// ClientListener is one client's listener on every broker.
type ClientListener struct {
	// Name is Kafka's listener name: upper-case letters, digits and _,
	// not PLAINTEXT or SASL_SSL.
	Name string
	// Ports are, per broker (by id), the port it listens on for this
	// client: the proxy's upstream.
	Ports []int
	// Advertised are, per broker, the port it advertises to this client:
	// where the proxy listens.
	Advertised []int
}

// Broker is a running ZooKeeper and one or more Kafka brokers. Its methods
// are safe for concurrent use.
type Broker struct {
	java      string
	classpath string
	dir       string
	ownDir    bool // dir is a temporary directory Close removes
	zkPort    int
	log       *child.Log
	security  *security.Material // nil: plaintext

	mu     sync.Mutex // serialises Start, Stop, KillBroker, RestartBroker and Close
	zk     *child.Process
	nodes  []*node
	closed bool
}

// node is one Kafka broker of the cluster.
type node struct {
	id      int32
	name    string // its log prefix: "kafka", or "kafka-<id>" in a cluster
	port    int
	args    []string       // the JVM's arguments
	logDirs []string       // its log.dirs
	proc    *child.Process // nil while stopped or killed
}

var (
	_ broker.Restarter = (*Broker)(nil)
	_ broker.Cluster   = (*Broker)(nil)
)

// Start resolves the jars (the first run on a machine asks Maven, which may
// download for a minute; ctx bounds it), writes the configuration, starts
// ZooKeeper and then every Kafka broker, and returns once each broker
// answers a metadata request listing all of them and a controller. On
// error nothing is left running.
func Start(ctx context.Context, opts Options) (_ *Broker, err error) {
	if opts.Brokers < 0 {
		return nil, fmt.Errorf("broker kafka: Brokers = %d, want 1 or more", opts.Brokers)
	}
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
		zkPort:    opts.ZooKeeperPort,
		log:       child.NewLog(opts.Log),
		security:  opts.Security,
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
	if err := b.bootstrapUsers(ctx); err != nil {
		return nil, err
	}
	if err := b.startNodes(ctx, b.nodes); err != nil {
		return nil, err
	}
	if err := b.lockDown(ctx); err != nil {
		return nil, err
	}
	return b, nil
}

// perBrokerProperties are the settings that differ from broker to broker,
// which Options.ServerProperties may not set for a cluster.
var perBrokerProperties = []string{"broker.id", "listeners", "advertised.listeners", "log.dirs", "log.dir"}

// prepareDir picks the free ports and writes fresh configuration and empty
// data directories for ZooKeeper and each broker.
func (b *Broker) prepareDir(opts Options) error {
	n := max(opts.Brokers, 1)
	if n > 1 {
		for _, k := range perBrokerProperties {
			if _, ok := opts.ServerProperties[k]; ok {
				return fmt.Errorf("broker kafka: ServerProperties sets %s, which differs per broker in a cluster of %d", k, n)
			}
		}
	}
	ports := make([]int, n)
	if opts.Port != 0 {
		for i := range ports {
			ports[i] = opts.Port + i
		}
	}
	wantFree := n
	if opts.Port != 0 {
		wantFree = 0
	}
	if b.zkPort == 0 {
		wantFree++
	}
	free, err := child.FreePorts(wantFree)
	if err != nil {
		return fmt.Errorf("broker kafka: %w", err)
	}
	if opts.Port == 0 {
		copy(ports, free)
		free = free[n:]
	}
	if b.zkPort == 0 {
		b.zkPort = free[0]
	}

	zkData := filepath.Join(b.dir, "zookeeper-data")
	if err := emptyDir(zkData); err != nil {
		return err
	}
	if err := writeProperties(filepath.Join(b.dir, "zookeeper.properties"), zookeeperProperties(zkData, b.zkPort)); err != nil {
		return err
	}
	log4j := filepath.Join(b.dir, "log4j.properties")
	if err := os.WriteFile(log4j, []byte(log4jProperties), 0o644); err != nil {
		return fmt.Errorf("broker kafka: write log4j.properties: %w", err)
	}
	jvm := opts.KafkaJVMOptions
	if jvm == nil {
		jvm = []string{"-Xms256m", "-Xmx768m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20"}
		if n > 1 {
			jvm = []string{"-Xms128m", "-Xmx256m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20"}
		}
		if !opts.FullJIT {
			jvm = append(jvm, quickJIT)
		}
	}

	b.nodes = make([]*node, n)
	for i := range n {
		nd := &node{id: int32(i), name: "kafka", port: ports[i]}
		logs, props := filepath.Join(b.dir, "kafka-logs"), filepath.Join(b.dir, "server.properties")
		if n > 1 {
			nd.name = "kafka-" + strconv.Itoa(i)
			logs, props = filepath.Join(b.dir, nd.name+"-logs"), filepath.Join(b.dir, nd.name+".properties")
		}
		if err := emptyDir(logs); err != nil {
			return err
		}
		server := serverProperties(int32(i), n, logs, nd.port, b.zkPort)
		if b.security != nil {
			maps.Copy(server, b.security.ServerProperties(nd.addr()))
		}
		if err := addClientListeners(server, i, opts.ClientListeners); err != nil {
			return err
		}
		if err := addBrokerListener(server, i, n, opts.BrokerLinks); err != nil {
			return err
		}
		maps.Copy(server, opts.ServerProperties)
		nd.logDirs = strings.Split(server["log.dirs"], ",")
		if err := writeProperties(props, server); err != nil {
			return err
		}
		nd.args = append(append(b.commonJVMArgs(), jvm...), "kafka.Kafka", props)
		b.nodes[i] = nd
	}
	return nil
}

// emptyDir removes d and creates it again, empty.
func emptyDir(d string) error {
	if err := os.RemoveAll(d); err != nil {
		return fmt.Errorf("broker kafka: wipe %s: %w", d, err)
	}
	if err := os.MkdirAll(d, 0o755); err != nil {
		return fmt.Errorf("broker kafka: %w", err)
	}
	return nil
}

// quickJIT has a JVM compile with C1 alone: C2's compiler threads are
// most of a short-lived JVM's CPU (Options.FullJIT).
const quickJIT = "-XX:TieredStopAtLevel=1"

// commonJVMArgs are the options every JVM shares.
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
	args := append(b.commonJVMArgs(), "-Xms64m", "-Xmx256m", quickJIT,
		"-Dzookeeper.jmx.log4j.disable=true",
		"org.apache.zookeeper.server.quorum.QuorumPeerMain", filepath.Join(b.dir, "zookeeper.properties"))
	zk, err := b.startJVM("zookeeper", args)
	if err != nil {
		return err
	}
	b.zk = zk
	return waitUntil(ctx, zk, "ZooKeeper answering on "+b.ZooKeeperAddr(), func(ctx context.Context) bool {
		return zookeeperOK(ctx, b.ZooKeeperAddr())
	})
}

// startNodes starts the given brokers at once and waits for all of them.
// They start together because after a full stop a partition's leader can
// only be the last replica that was in sync, which may be any of them:
// started one by one, the first could wait for the last.
func (b *Broker) startNodes(ctx context.Context, nodes []*node) error {
	if b.zk.Exited() {
		return fmt.Errorf("broker kafka: cannot start Kafka, ZooKeeper is gone (%v); last output:\n%s",
			b.zk.Err(), b.zk.Tail(20))
	}
	up := len(nodes)
	for _, nd := range b.nodes {
		if nd.proc != nil && !slices.Contains(nodes, nd) {
			up++
		}
	}
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, nd := range nodes {
		wg.Go(func() { errs[i] = b.startNode(ctx, nd, up) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// startNode starts one Kafka process and waits until it answers metadata
// listing at least brokers brokers (itself among them) and a controller,
// and knows, for every partition it has a log for, a leader and enough
// replicas in sync to accept writes with acks=all. After a whole cluster
// stopped, the last broker to stop is the only replica in sync until the
// others have caught up, and a write would be refused until then.
//
// A restarted broker answers metadata before the controller has told it
// about its topics: for a moment it names itself but calls every topic
// unknown. A client that refreshes its metadata then (kafka-go's writer
// keeps that view until its next refresh) fails every write, so a restart
// returns only once the partitions on disk are led again.
//
// A Kafka that died without closing its ZooKeeper session (SIGKILL, a
// crash) leaves its registration behind until the session expires
// (zookeeper.session.timeout.ms, 6 s here); a new process started before
// then exits with NodeExistsException. That case is retried until ctx is
// done, so a start after a crash works rather than failing for a few seconds.
func (b *Broker) startNode(ctx context.Context, nd *node, brokers int) error {
	addr := nd.addr()
	want, err := partitionsOnDisk(nd.logDirs)
	if err != nil {
		return err
	}
	for {
		p, err := b.startJVM(nd.name, nd.args)
		if err != nil {
			return err
		}
		err = waitUntil(ctx, p, nd.name+" answering metadata on "+addr, func(ctx context.Context) bool {
			return nodeReady(ctx, b.clientOpts(kgo.SeedBrokers(addr), kgo.DialTimeout(time.Second)), nd.id, brokers, minInSyncOf(len(b.nodes)), want)
		})
		if err == nil {
			nd.proc = p
			return nil
		}
		p.Stop(context.WithoutCancel(ctx), syscall.SIGTERM)
		// With ctx still live, waitUntil failed because the process exited.
		if ctx.Err() != nil || !strings.Contains(p.Tail(200), "NodeExistsException") {
			return err
		}
		fmt.Fprintf(b.log, "%s: [harness] the previous broker's ZooKeeper session has not expired yet; starting again\n", nd.name)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (nd *node) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(nd.port)) }

// Name is "kafka" for a single broker and "kafka-cluster" for several.
func (b *Broker) Name() string {
	if len(b.nodes) > 1 {
		return "kafka-cluster"
	}
	return "kafka"
}

// Addrs are the bootstrap addresses, 127.0.0.1:Port and up, one per
// broker. They do not change across Stop and Start, nor when a broker is
// killed (a client tries the next).
func (b *Broker) Addrs() []string {
	addrs := make([]string, len(b.nodes))
	for i, nd := range b.nodes {
		addrs[i] = nd.addr()
	}
	return addrs
}

// ReplicationFactor is the replication factor topics get: every broker up
// to three. broker.CreateTopics asks for it.
func (b *Broker) ReplicationFactor() int16 {
	return int16(replicationOf(len(b.nodes)))
}

// BrokerIDs are the brokers' ids, 0 and up.
func (b *Broker) BrokerIDs() []int32 {
	ids := make([]int32, len(b.nodes))
	for i, nd := range b.nodes {
		ids[i] = nd.id
	}
	return ids
}

// ZooKeeperAddr is ZooKeeper's client address, for tools that still speak
// to ZooKeeper directly.
func (b *Broker) ZooKeeperAddr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(b.zkPort))
}

// Dir is the directory holding every process's configuration and data.
func (b *Broker) Dir() string { return b.dir }

// Stop stops every Kafka process (SIGTERM, then SIGKILL after a grace
// period or when ctx is done), keeping their data and ports; ZooKeeper
// keeps running. Stopping a stopped broker does nothing.
func (b *Broker) Stop(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	b.stopNodes(ctx)
	return nil
}

// stopNodes stops the running brokers one after the other: in a cluster
// each hands the leadership of its partitions to the others before it goes
// (controlled shutdown).
func (b *Broker) stopNodes(ctx context.Context) {
	for _, nd := range b.nodes {
		if nd.proc != nil {
			nd.proc.Stop(ctx, syscall.SIGTERM)
			nd.proc = nil
		}
	}
}

// Start starts every stopped Kafka process again on the same ports and data
// and returns once each answers metadata. Running brokers are left alone; a
// process that died on its own is replaced.
func (b *Broker) Start(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	var down []*node
	for _, nd := range b.nodes {
		if nd.proc != nil && nd.proc.Exited() {
			nd.proc = nil
		}
		if nd.proc == nil {
			down = append(down, nd)
		}
	}
	return b.startNodes(ctx, down)
}

// KillBroker kills broker id with SIGKILL, as a crash or a lost machine
// would: no controlled shutdown, its ZooKeeper session lingers until it
// expires (6 s), and only then does the controller move its partitions'
// leadership to replicas in sync. Killing a broker that is down does nothing.
func (b *Broker) KillBroker(id int32) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	nd, err := b.node(id)
	if err != nil {
		return err
	}
	if nd.proc != nil {
		nd.proc.Kill()
		nd.proc = nil
	}
	return nil
}

// RestartBroker starts broker id again on its port and data and returns
// once it answers metadata with a leader for each of its partitions. It
// does not wait for the broker to catch up and rejoin the in-sync
// replicas; Leader shows when it has. Restarting a running broker does
// nothing; one whose process died on its own is replaced.
func (b *Broker) RestartBroker(ctx context.Context, id int32) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	nd, err := b.node(id)
	if err != nil {
		return err
	}
	if nd.proc != nil {
		if !nd.proc.Exited() {
			return nil
		}
		nd.proc = nil
	}
	return b.startNodes(ctx, []*node{nd})
}

func (b *Broker) node(id int32) (*node, error) {
	if id < 0 || int(id) >= len(b.nodes) {
		return nil, fmt.Errorf("broker kafka: no broker %d (the brokers are 0 to %d)", id, len(b.nodes)-1)
	}
	return b.nodes[id], nil
}

// Leader asks the cluster which broker leads topic's partition, which
// brokers hold a replica and which of those are in sync.
func (b *Broker) Leader(ctx context.Context, topic string, partition int32) (broker.Partition, error) {
	cl, err := kgo.NewClient(b.clientOpts(kgo.SeedBrokers(b.Addrs()...), kgo.DialTimeout(time.Second))...)
	if err != nil {
		return broker.Partition{}, err
	}
	defer cl.Close()
	md, err := kadm.NewClient(cl).Metadata(ctx, topic)
	if err != nil {
		return broker.Partition{}, fmt.Errorf("broker kafka: metadata of %s: %w", topic, err)
	}
	td, ok := md.Topics[topic]
	if !ok || td.Err != nil {
		return broker.Partition{}, fmt.Errorf("broker kafka: topic %s: %v", topic, td.Err)
	}
	pd, ok := td.Partitions[partition]
	if !ok {
		return broker.Partition{}, fmt.Errorf("broker kafka: %s has no partition %d", topic, partition)
	}
	if pd.Err != nil {
		return broker.Partition{}, fmt.Errorf("broker kafka: %s/%d: %w", topic, partition, pd.Err)
	}
	return broker.Partition{Leader: pd.Leader, Replicas: slices.Clone(pd.Replicas), ISR: slices.Clone(pd.ISR)}, nil
}

// Close stops Kafka, then ZooKeeper (so Kafka can still close its session),
// and removes the directory if Start created it: then the brokers are
// killed outright, as a graceful shutdown would only protect data about to
// be deleted. A ctx that is done turns SIGTERM into SIGKILL at once.
// Closing twice does nothing.
func (b *Broker) Close(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	if b.ownDir {
		// All at once, so that no broker spends its last moments logging
		// that another has gone.
		var wg sync.WaitGroup
		for _, nd := range b.nodes {
			if p := nd.proc; p != nil {
				wg.Go(p.Kill)
				nd.proc = nil
			}
		}
		wg.Wait()
	}
	b.stopNodes(ctx)
	if b.zk != nil {
		b.zk.Stop(ctx, syscall.SIGTERM)
	}
	if b.ownDir {
		if err := os.RemoveAll(b.dir); err != nil {
			return fmt.Errorf("broker kafka: remove %s: %w", b.dir, err)
		}
	}
	return nil
}

// startJVM starts one JVM in the broker's directory.
func (b *Broker) startJVM(name string, args []string) (*child.Process, error) {
	p, err := child.Start(child.Spec{Name: name, Path: b.java, Args: args, Dir: b.dir}, b.log)
	if err != nil {
		return nil, fmt.Errorf("broker kafka: %w", err)
	}
	return p, nil
}

// waitUntil polls ready every 100 ms until it reports true, p exits or ctx
// is done.
func waitUntil(ctx context.Context, p *child.Process, what string, ready func(context.Context) bool) error {
	if err := p.WaitUntil(ctx, what, 100*time.Millisecond, ready); err != nil {
		return fmt.Errorf("broker kafka: %w", err)
	}
	return nil
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

// nodeReady reports whether the broker opts seed, asked itself, answers a
// metadata request that lists it as broker id among at least brokers
// brokers, names a controller (the point from which topics can be created)
// and has, for every partition of want, a leader and at least inSync
// replicas in sync: min.insync.replicas, below which a write with acks=all
// is refused.
func nodeReady(ctx context.Context, opts []kgo.Opt, id int32, brokers, inSync int, want []broker.Topic) bool {
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return false
	}
	defer cl.Close()
	// The seed itself, not whichever broker the client would pick: it is
	// this broker's view that clients bootstrapping from it will get.
	resp, err := cl.SeedBrokers()[0].Request(ctx, kmsg.NewPtrMetadataRequest())
	if err != nil {
		return false
	}
	m := resp.(*kmsg.MetadataResponse)
	if m.ControllerID < 0 || len(m.Brokers) < brokers ||
		!slices.ContainsFunc(m.Brokers, func(b kmsg.MetadataResponseBroker) bool { return b.NodeID == id }) {
		return false
	}
	return broker.Led(m, want, inSync)
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

// Security is the stack's TLS material and passwords, or nil when the
// brokers listen in plaintext. broker.ClientOpts reads it.
func (b *Broker) Security() *security.Material { return b.security }

// clientOpts are opts plus, on a locked-down cluster, the kit super user's
// TLS and SASL.
func (b *Broker) clientOpts(opts ...kgo.Opt) []kgo.Opt {
	if b.security == nil {
		return opts
	}
	return append(opts, b.security.KitOpts()...)
}

// bootstrapUsers stores, in ZooKeeper and before any broker starts, the
// SCRAM credentials without which nothing could start: the brokers' own,
// which they use among themselves, and the kit's, which creates the rest.
// It runs Kafka's own ConfigCommand from the jars already on the classpath,
// one JVM per user, side by side.
func (b *Broker) bootstrapUsers(ctx context.Context) error {
	if b.security == nil {
		return nil
	}
	users := security.BootstrapUsers()
	errs := make([]error, len(users))
	var wg sync.WaitGroup
	for i, user := range users {
		wg.Go(func() {
			args := append(b.commonJVMArgs(), "-Xms32m", "-Xmx128m", "kafka.admin.ConfigCommand",
				"--zookeeper", b.ZooKeeperAddr(), "--alter", "--entity-type", "users", "--entity-name", user,
				"--add-config", b.security.SCRAMConfig(user))
			cmd := exec.CommandContext(ctx, b.java, args...)
			cmd.Dir = b.dir
			if out, err := cmd.CombinedOutput(); err != nil {
				// Never a password in a log or an error, even one
				// ConfigCommand might echo.
				errs[i] = fmt.Errorf("broker kafka: SCRAM user %s in ZooKeeper: %w\n%s", user, err,
					strings.ReplaceAll(string(out), b.security.Password(user), "<password>"))
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// lockDown creates, as the kit super user, the SCRAM users of every service
// principal and the ACLs of events.Principals.
func (b *Broker) lockDown(ctx context.Context) error {
	if b.security == nil {
		return nil
	}
	cl, err := kgo.NewClient(b.clientOpts(kgo.SeedBrokers(b.Addrs()...))...)
	if err != nil {
		return fmt.Errorf("broker kafka: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if err := b.security.CreateUsers(ctx, adm); err != nil {
		return fmt.Errorf("broker kafka: %w", err)
	}
	if err := security.ApplyACLs(ctx, adm); err != nil {
		return fmt.Errorf("broker kafka: %w", err)
	}
	return nil
}
