package kafka

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// log4jProperties keeps both JVMs quiet (WARN and up, to stdout, where the
// harness captures them) while leaving the lines that explain a failure.
const log4jProperties = `log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.Target=System.out
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
# Start-up noise at WARN: ZooKeeper announcing standalone mode and its
# default (unlimited) connection limit, and Kafka's controller dialling its
# own broker before that broker's listener is up. In a cluster the last two
# also warn, at every retry, that a killed broker cannot be reached, which
# a failover scenario does on purpose; their ERROR lines still show.
log4j.logger.org.apache.zookeeper.server.quorum.QuorumPeerMain=ERROR
log4j.logger.org.apache.zookeeper.server.ServerCnxnFactory=ERROR
log4j.logger.kafka.controller.RequestSendThread=ERROR
log4j.logger.org.apache.kafka.clients.NetworkClient=ERROR
`

// zookeeperProperties is a standalone ZooKeeper for one broker. A short
// tick lets Kafka use a short session timeout (ZooKeeper allows 2 to 20
// ticks), so the ephemeral registration of a broker that died uncleanly
// expires in seconds rather than eighteen. The admin server (Jetty on 8080)
// is off so that parallel runs do not fight over a fixed port; "ruok" is on
// because start-up waits for its answer.
func zookeeperProperties(dataDir string, port int) map[string]string {
	return map[string]string{
		"dataDir":                 dataDir,
		"clientPort":              strconv.Itoa(port),
		"clientPortAddress":       "127.0.0.1",
		"tickTime":                "500",
		"initLimit":               "10",
		"syncLimit":               "5",
		"maxClientCnxns":          "0",
		"admin.enableServer":      "false",
		"4lw.commands.whitelist":  "ruok,srvr,stat",
		"autopurge.purgeInterval": "0",
	}
}

// serverProperties configures broker id of a cluster of n (1 for a single
// broker) for tests: it listens on the loopback only, creates nothing by
// itself (the harness creates every topic explicitly, as the design asks),
// keeps internal topics small, replicated as much as the cluster allows, and
// lets a consumer group form without the initial rebalance delay.
func serverProperties(id int32, n int, logDir string, port, zkPort int) map[string]string {
	listener := "PLAINTEXT://127.0.0.1:" + strconv.Itoa(port)
	rf, minISR := strconv.Itoa(replicationOf(n)), strconv.Itoa(minInSyncOf(n))
	return map[string]string{
		"broker.id":                                strconv.Itoa(int(id)),
		"listeners":                                listener,
		"advertised.listeners":                     listener,
		"log.dirs":                                 logDir,
		"zookeeper.connect":                        "127.0.0.1:" + strconv.Itoa(zkPort),
		"zookeeper.connection.timeout.ms":          "30000",
		"zookeeper.session.timeout.ms":             "6000",
		"num.partitions":                           "3",
		"default.replication.factor":               rf,
		"min.insync.replicas":                      minISR,
		"unclean.leader.election.enable":           "false",
		"auto.create.topics.enable":                "false",
		"delete.topic.enable":                      "true",
		"offsets.topic.replication.factor":         rf,
		"offsets.topic.num.partitions":             "3",
		"transaction.state.log.replication.factor": rf,
		"transaction.state.log.min.isr":            minISR,
		"transaction.state.log.num.partitions":     "3",
		"group.initial.rebalance.delay.ms":         "0",
		// A broker that stops hands the leadership of its partitions to
		// the others first, so clients see no leaderless partition. A
		// single broker has nobody to hand it to; asking the controller
		// only slows every Stop down.
		"controlled.shutdown.enable": strconv.FormatBool(n > 1),
		// The last broker of a cluster to stop has nobody to hand its
		// partitions to either: its requests are refused and retried
		// three times, 5 s apart by default. Half a second apart, a full
		// stop takes a second or two instead of fifteen.
		"controlled.shutdown.retry.backoff.ms": "500",
	}
}

// replicationOf is the replication factor of every topic on n brokers:
// all of them, up to three.
func replicationOf(n int) int { return min(max(n, 1), 3) }

// minInSyncOf is min.insync.replicas on n brokers: with acks=all, a write
// needs every replica but one, so that one broker may be lost without
// losing writes or acknowledged data (2 of 3).
func minInSyncOf(n int) int { return max(replicationOf(n)-1, 1) }

// writeProperties writes props, sorted by key, as a Java properties file.
// Backslashes are escaped so that paths survive Java's parser.
func writeProperties(path string, props map[string]string) error {
	var b strings.Builder
	b.WriteString("# Written by github.com/kafkakit/kit/harness/broker/kafka; rewritten at every start.\n")
	for _, k := range slices.Sorted(maps.Keys(props)) {
		fmt.Fprintf(&b, "%s=%s\n", k, strings.ReplaceAll(props[k], `\`, `\\`))
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("broker kafka: write %s: %w", filepath.Base(path), err)
	}
	return nil
}

// addClientListeners adds to broker id's server properties a listener per
// client (see Options.ClientListeners), speaking what its main listener
// speaks. The brokers keep talking among themselves on the main listener,
// which security.inter.broker.protocol names; a secured listener's login
// (listener.name.<name>.*) is copied to each client listener.
func addClientListeners(server map[string]string, id int, clients []ClientListener) error {
	if len(clients) == 0 {
		return nil
	}
	mainName, _, ok := strings.Cut(server["listeners"], "://")
	if !ok || strings.Contains(server["listeners"], ",") {
		return fmt.Errorf("broker kafka: client listeners need one main listener, not %q", server["listeners"])
	}
	protocols := []string{mainName + ":" + mainName}
	prefix := "listener.name." + strings.ToLower(mainName) + "."
	for _, c := range clients {
		if c.Name == "" || c.Name == mainName || strings.Trim(c.Name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != "" {
			return fmt.Errorf("broker kafka: client listener name %q: want upper-case letters, digits and _, not %s", c.Name, mainName)
		}
		if id >= len(c.Ports) || id >= len(c.Advertised) {
			return fmt.Errorf("broker kafka: client listener %s has no port for broker %d", c.Name, id)
		}
		server["listeners"] += fmt.Sprintf(",%s://127.0.0.1:%d", c.Name, c.Ports[id])
		server["advertised.listeners"] += fmt.Sprintf(",%s://127.0.0.1:%d", c.Name, c.Advertised[id])
		protocols = append(protocols, c.Name+":"+mainName)
		for _, k := range slices.Sorted(maps.Keys(server)) {
			if rest, ok := strings.CutPrefix(k, prefix); ok {
				server["listener.name."+strings.ToLower(c.Name)+"."+rest] = server[k]
			}
		}
	}
	server["listener.security.protocol.map"] = strings.Join(protocols, ",")
	return nil
}

// BrokerListenerName is the listener the brokers talk among themselves on
// when they do so through proxies (Options.BrokerLinks).
const BrokerListenerName = "BROKERS"

// brokerLinksLagMs is replica.lag.time.max.ms when the brokers talk
// through proxies: how long a follower may fetch nothing before its
// leader drops it from the in-sync replicas. Kafka's 30 s default would
// leave a scenario that cuts a broker off for half a minute without ever
// seeing the ISR shrink (the leader checks every half of it, so the drop
// comes 30 to 45 s after the cut); 10 s shows it within the cut while a
// follower that a loaded machine pauses for a few seconds stays in sync.
const brokerLinksLagMs = "10000"

// addBrokerListener adds to broker id's server properties (of a cluster of
// n) the listener the brokers reach one another on through proxies, names
// it inter.broker.listener.name (in place of security.inter.broker.protocol,
// which Kafka refuses beside it), speaking what the main listener speaks
// with its settings copied, and shortens replica.lag.time.max.ms (see
// brokerLinksLagMs). Nothing changes without links; bad links change
// nothing and say why.
func addBrokerListener(server map[string]string, id, n int, links *BrokerLinks) error {
	if links == nil {
		return nil
	}
	if n < 2 {
		return fmt.Errorf("broker kafka: broker links need a cluster; a single broker has no other broker to reach")
	}
	if len(links.Ports) < n || len(links.Advertised) < n {
		return fmt.Errorf("broker kafka: broker links have %d ports and %d advertised ports, want one of each per broker (%d)", len(links.Ports), len(links.Advertised), n)
	}
	mainName, _, ok := strings.Cut(server["listeners"], "://")
	if !ok {
		return fmt.Errorf("broker kafka: broker links need a main listener, not %q", server["listeners"])
	}
	protocols := server["listener.security.protocol.map"]
	if protocols == "" {
		protocols = mainName + ":" + mainName
	}
	prefix := "listener.name." + strings.ToLower(mainName) + "."
	for _, k := range slices.Sorted(maps.Keys(server)) {
		if rest, ok := strings.CutPrefix(k, prefix); ok {
			server["listener.name."+strings.ToLower(BrokerListenerName)+"."+rest] = server[k]
		}
	}
	server["listeners"] += fmt.Sprintf(",%s://127.0.0.1:%d", BrokerListenerName, links.Ports[id])
	server["advertised.listeners"] += fmt.Sprintf(",%s://127.0.0.1:%d", BrokerListenerName, links.Advertised[id])
	server["listener.security.protocol.map"] = protocols + "," + BrokerListenerName + ":" + mainName
	delete(server, "security.inter.broker.protocol")
	server["inter.broker.listener.name"] = BrokerListenerName
	server["replica.lag.time.max.ms"] = brokerLinksLagMs
	return nil
}
