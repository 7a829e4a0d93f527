// Command orders-api accepts orders over HTTP and records each one on
// orders.created, answering 201 only after the broker acknowledged it.
package main

import (
	"context"
	"fmt"
	"os"
)

func main() {
	if err := run(context.Background(), os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "orders-api:", err)
		os.Exit(1)
	}
}
