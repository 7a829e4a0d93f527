// Command stock-service keeps inventory in SQLite: it takes stock for each
// order on orders.created, exactly once, and emits inventory.updated.
package main

import (
	"context"
	"fmt"
	"os"
)

func main() {
	if err := run(context.Background(), os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "stock-service:", err)
		os.Exit(1)
	}
}
