// Command kit runs the whole Kafka Microservice Kit on this machine:
//
//	kit up [-broker embedded|kafka] [-web web/dist] [-seed=false]
//
// It starts the broker at 127.0.0.1:9093, creates the topics, runs the four
// services on 8081-8084 and the web page on 5173, seeds demo stock,
// restarts a service that dies (as compose's restart policy would) and
// stops everything on Ctrl-C.
//
// Its other commands look inside any Kafka cluster (-brokers, default
// localhost:9093): kit topics, kit groups [-watch], kit tail <topic>,
// kit reset-offsets <group> <topic> -to ..., kit produce <topic> <value>,
// kit dlq list|replay <topic>. "kit help" lists them.
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
