package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/kafkakit/kit/harness"
)

// registryPort is the schema registry's port under kit up: beside the
// services' 8081-8084 (Confluent's own default, 8081, is orders-api's).
const registryPort = 8085

// upInstances is the instance count of every service: scale each, with
// the -instances list's counts over it.
func upInstances(scale int, list string) (map[string]int, error) {
	if scale < 1 || scale > harness.MaxInstances {
		return nil, fmt.Errorf("-scale %d: want 1 to %d instances of each service", scale, harness.MaxInstances)
	}
	counts, err := harness.ParseInstances(list)
	if err != nil {
		return nil, fmt.Errorf("-instances: %w", err)
	}
	out := map[string]int{}
	for _, name := range harness.Services {
		out[name] = scale
	}
	maps.Copy(out, counts)
	return out, nil
}

// upPortsFree checks every fixed port kit up is about to take: the
// broker's (three for kafka-cluster), ZooKeeper's, the schema registry's,
// each instance's, the web page's and Prometheus's, so that a busy one
// fails fast and clearly rather than half-starting.
func upPortsFree(opts harness.Options, webDir string, webPort int, prom bool) error {
	type use struct {
		what string
		port int
	}
	var uses []use
	switch opts.Broker {
	case "kafka-cluster":
		for i := range 3 {
			uses = append(uses, use{fmt.Sprintf("broker %d", i), opts.BrokerPort + i})
		}
		uses = append(uses, use{"zookeeper", opts.ZooKeeperPort})
	case "kafka":
		uses = append(uses, use{"broker", opts.BrokerPort}, use{"zookeeper", opts.ZooKeeperPort})
	default:
		uses = append(uses, use{"broker", opts.BrokerPort})
	}
	if webDir != "" {
		uses = append(uses, use{"web", webPort})
	}
	if opts.RegistryPort != 0 {
		uses = append(uses, use{"schema registry", opts.RegistryPort})
	}
	if prom {
		uses = append(uses, use{"prometheus", prometheusPort})
	}
	for _, name := range harness.Services {
		for n := 1; n <= max(opts.Instances[name], 1); n++ {
			uses = append(uses, use{fmt.Sprintf("%s #%d", name, n), harness.InstancePort(opts.Ports[name], n)})
		}
	}
	for _, u := range uses {
		if err := portFree(u.port); err != nil {
			return fmt.Errorf("%s needs port %d: %w (is another `make up` or docker compose running?)", u.what, u.port, err)
		}
	}
	return nil
}

// sqliteWarning says plainly what several instances of a service that keeps
// state mean on SQLite: each has a database of its own.
func sqliteWarning(w io.Writer, opts harness.Options) {
	if opts.DB == "postgres" {
		return
	}
	var split []string
	for _, name := range slices.Sorted(maps.Keys(opts.Instances)) {
		if opts.Instances[name] > 1 && (name == harness.OrdersAPI || name == harness.StockService) {
			split = append(split, fmt.Sprintf("%s (%d)", name, opts.Instances[name]))
		}
	}
	if len(split) > 0 {
		fmt.Fprintf(w, "kit: NOTE %s on SQLite: each instance keeps its own database (stock seeded on one is unknown to the others); -db postgres shares it\n",
			strings.Join(split, ", "))
	}
}
