// Command orders-processor takes each order stock-service answered on
// stock.reservations through payment and records CREATED, PROCESSING, then
// PAID or FAILED on orders.status — each status once, by its ledger and
// outbox.
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
