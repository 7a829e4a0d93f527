package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kafkakit/kit/services/platform/inspect"
)

const usageAll = `usage: kit <command> [arguments] [flags]

Run the kit, and look inside Kafka while it runs:

  up              run the broker, the four services and the web page on this machine
  topics          every topic: partitions, leader, replicas/ISR, earliest and latest offsets
  groups          every consumer group: state, members and their partitions,
                  committed offset, end offset and lag per partition (-watch refreshes)
  tail            print a topic's records: partition, offset, timestamp, key, headers, value
  reset-offsets   move a stopped group's committed offsets: replay, or skip ahead
  produce         write one record, partitioned by key as the services do
  acls            the cluster's ACLs: who may read, write or describe which topic or group
  dlq list        print a topic's dead letters with the headers that say why
  dlq replay      produce dead letters back to the topic they came from
  schemas list    every contract's versions, in the repository and in a registry
  schemas check   register every contract's history in a registry; fail on a break
  schemas diff    what changed between two versions of a contract, field by field
  txn             Kafka transactions on scratch topics: aborted, committed,
                  a zombie fenced, a crash in a read-process-write (lesson 10)
  faults          list, add and clear network faults on a "kit up -faults" stack

"kit <command> -h" shows a command's flags. Every command but up takes
-brokers host:port[,host:port] (default localhost:9093, env KAFKA_BROKERS)
and connects as KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_* and KAFKA_CA_FILE say,
or, when unset, as the kit to a running "kit up -security sasl_ssl" stack;
but schemas, which takes -registry URL (env SCHEMA_REGISTRY_URL).
`

// A command runs with its arguments after the command's name; ctx ends on
// Ctrl-C.
type command func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error

// commands are the inspection and operation commands (up has its own path
// in run.go).
var commands = map[string]command{
	"topics":        runTopics,
	"groups":        runGroups,
	"tail":          runTail,
	"reset-offsets": runResetOffsets,
	"produce":       runProduce,
	"dlq":           runDLQ,
	"acls":          runACLs,
	"schemas":       runSchemas,
	"txn":           runTxn,
	"faults":        runFaults,
}

// dispatch runs every command but up.
func dispatch(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageAll)
		return errors.New("want a command")
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usageAll)
		return nil
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprint(stderr, usageAll)
		return fmt.Errorf("unknown command %q", args[0])
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := cmd(ctx, args[1:], getenv, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

// flags is a command's flag set with the flag every command shares.
type flags struct {
	*flag.FlagSet
	brokers *string
	getenv  func(string) string
}

// newFlags returns the flag set of a command; synopsis and about head its
// usage text.
func newFlags(name, synopsis, about string, getenv func(string) string, stderr io.Writer) flags {
	fs := flag.NewFlagSet("kit "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := flags{FlagSet: fs, getenv: getenv}
	f.brokers = fs.String("brokers", envOr(getenv, "KAFKA_BROKERS", "localhost:9093"), "bootstrap brokers, host:port[,host:port] (env KAFKA_BROKERS)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: kit %s\n\n%s\nFlags:\n", synopsis, about)
		fs.PrintDefaults()
	}
	return f
}

// positional parses flags wherever they stand among the positional
// arguments (kit tail orders.created -from earliest) and returns the
// positional ones.
func (f flags) positional(args []string) ([]string, error) {
	var pos []string
	for {
		if err := f.Parse(args); err != nil {
			return nil, err
		}
		rest := f.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil // after --, everything is an argument
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

// parse is positional for a command that takes exactly the arguments want
// names.
func (f flags) parse(args []string, want ...string) ([]string, error) {
	pos, err := f.positional(args)
	if err != nil {
		return nil, err
	}
	if len(pos) != len(want) {
		f.Usage()
		name := strings.TrimPrefix(f.Name(), "kit ")
		if len(pos) < len(want) {
			return nil, fmt.Errorf("%s: missing %s", name, strings.Join(want[len(pos):], " and "))
		}
		return nil, fmt.Errorf("%s: unexpected argument %q", name, pos[len(want)])
	}
	return pos, nil
}

// client checks -brokers and returns an inspection client of that cluster,
// connected as connect says (settings.go).
func (f flags) client() (*inspect.Client, cluster, error) {
	brokers, err := brokerList(*f.brokers)
	if err != nil {
		return nil, cluster{}, err
	}
	cl, err := connect(brokers, f.getenv)
	if err != nil {
		return nil, cluster{}, err
	}
	return inspect.New(brokers, cl.dialer), cl, nil
}

// brokerList reads host:port[,host:port].
func brokerList(s string) ([]string, error) {
	var out []string
	for _, b := range strings.Split(s, ",") {
		b = strings.TrimSpace(b)
		if b == "" {
			continue
		}
		host, port, err := net.SplitHostPort(b)
		if n, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("-brokers: want host:port[,host:port], got %q", s)
		}
		out = append(out, b)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-brokers: want host:port[,host:port], got %q", s)
	}
	return out, nil
}

// setupTimeout bounds the calls a command makes before it starts its real
// work, so an unreachable broker or a missing topic is reported at once.
const setupTimeout = 10 * time.Second

// hint adds what to do to an error a learner is likely to meet first.
func hint(err error) error {
	if errors.Is(err, inspect.ErrUnreachable) {
		return fmt.Errorf("%w\n(is the kit up? start it with `make up`, or point -brokers / KAFKA_BROKERS at your cluster)", err)
	}
	return err
}

// partitionFlag adds -partition N; -1 (the default) means every partition.
func partitionFlag(f flags) *int {
	return f.Int("partition", -1, "only this partition; -1 for every partition")
}
