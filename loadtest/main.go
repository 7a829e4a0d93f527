// Command loadtest measures order-to-browser latency and throughput of the
// kit's services under an open-model load, against the broker's own floor.
// See run for the flags; README in this folder for the profiles.
package main

import (
	"context"
	"os"
)

func main() {
	os.Exit(exitCode(run(context.Background(), os.Args, os.Getenv, os.Stdout, os.Stderr), os.Stderr))
}
