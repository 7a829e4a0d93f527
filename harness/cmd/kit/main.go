// Command kit runs the whole Kafka Microservice Kit on this machine:
//
//	kit up [-broker embedded|kafka|kafka-cluster] [-db sqlite|postgres]
//	       [-scale n] [-instances orders-processor=3,...] [-web web/dist] [-seed=false]
//
// It starts the broker at 127.0.0.1:9093 (a cluster on 9093-9095), creates
// the topics, runs the four services on 8081-8084 (further instances on
// 8181-8184, 8281-8284, ...) and the web page on 5173, seeds demo stock,
// restarts an instance that dies (as compose's restart policy would) and
// stops everything on Ctrl-C.
//
// Its other commands look inside any Kafka cluster (-brokers, default
// localhost:9093): kit topics, kit groups [-watch], kit tail <topic>,
// kit reset-offsets <group> <topic> -to ..., kit produce <topic> <value>,
// kit dlq list|replay <topic>, kit txn (Kafka transactions on scratch
// topics, for lesson 10). "kit help" lists them.
package main

import (
	"context"
	"fmt"
	"os"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "kit:", err)
		os.Exit(1)
	}
}
