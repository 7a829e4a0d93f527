// Command notifications-api streams each order's statuses from
// orders.status to browsers over Server-Sent Events.
package main

import (
	"context"
	"fmt"
	"os"
)

func main() {
	if err := run(context.Background(), os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "notifications-api:", err)
		os.Exit(1)
	}
}
