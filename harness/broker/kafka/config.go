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
# own broker before that broker's listener is up. One broker has no other
# peer, so nothing else is lost at these loggers.
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

// serverProperties is a single broker tuned for tests: it listens on the
// loopback only, creates nothing by itself (the harness creates every topic
// explicitly, as the design asks), keeps internal topics small and
// unreplicated, and lets a consumer group form without the initial
// rebalance delay.
func serverProperties(logDir string, port, zkPort int) map[string]string {
	listener := "PLAINTEXT://127.0.0.1:" + strconv.Itoa(port)
	return map[string]string{
		"broker.id":                                "0",
		"listeners":                                listener,
		"advertised.listeners":                     listener,
		"log.dirs":                                 logDir,
		"zookeeper.connect":                        "127.0.0.1:" + strconv.Itoa(zkPort),
		"zookeeper.connection.timeout.ms":          "30000",
		"zookeeper.session.timeout.ms":             "6000",
		"num.partitions":                           "3",
		"default.replication.factor":               "1",
		"min.insync.replicas":                      "1",
		"auto.create.topics.enable":                "false",
		"delete.topic.enable":                      "true",
		"offsets.topic.replication.factor":         "1",
		"offsets.topic.num.partitions":             "3",
		"transaction.state.log.replication.factor": "1",
		"transaction.state.log.min.isr":            "1",
		"transaction.state.log.num.partitions":     "3",
		"group.initial.rebalance.delay.ms":         "0",
		// One broker has nobody to hand leadership to; asking the
		// controller for it only slows every Stop down.
		"controlled.shutdown.enable": "false",
	}
}

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
