// Command orders-processor takes each order from orders.created through
// payment and records CREATED, PROCESSING, then PAID or FAILED on
// orders.status.
package main

import (
	"context"
	"fmt"
	"os"
)

func main() {
	if err := run(context.Background(), os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "orders-processor:", err)
		os.Exit(1)
	}
}
