package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/kafkakit/kit/harness/registry"
	"github.com/kafkakit/kit/services/events"
)

const usageSchemas = `usage: kit schemas list [-registry URL]
       kit schemas check [-registry URL]
       kit schemas diff <topic> [<from> [<to>]]

The kit's contracts are JSON Schemas in services/events; every published
version of each is kept in services/events/schemas/history/<topic>-value/,
and registered in a schema registry under the subject <topic>-value.

  list    every subject and its versions in the repository; with a registry,
          also the versions and ids it holds
  check   register every subject's history, in order, in a registry and fail,
          naming the subject and the field, on a version that breaks an earlier
          one (BACKWARD_TRANSITIVE as written, FORWARD_TRANSITIVE as a tolerant
          reader reads it). Without a registry, check starts Apicurio Registry
          (Java 17 and Maven) for the run and stops it after
  diff    what changed between two versions of a topic's schema, each change
          naming its field (default: the last two versions)

-registry is the Confluent-compatible API's base URL (env SCHEMA_REGISTRY_URL),
e.g. http://127.0.0.1:8085/apis/ccompat/v7 for Apicurio.
`

func runSchemas(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageSchemas)
		return errors.New("schemas: want list, check or diff")
	}
	switch args[0] {
	case "list":
		return runSchemasList(ctx, args[1:], getenv, stdout, stderr)
	case "check":
		return runSchemasCheck(ctx, args[1:], getenv, stdout, stderr)
	case "diff":
		return runSchemasDiff(args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usageSchemas)
		return nil
	}
	fmt.Fprint(stderr, usageSchemas)
	return fmt.Errorf("schemas: unknown command %q, want list, check or diff", args[0])
}

// schemasFlags is the flag set of a schemas command: -registry only (the
// brokers play no part).
func schemasFlags(name string, getenv func(string) string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("kit schemas "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("registry", getenv("SCHEMA_REGISTRY_URL"), "the schema registry's Confluent-compatible API (env SCHEMA_REGISTRY_URL)")
	fs.Usage = func() {
		fmt.Fprint(stderr, usageSchemas+"\nFlags:\n")
		fs.PrintDefaults()
	}
	return fs, url
}

func registryClient(url string) (*sr.Client, error) {
	if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
		return nil, fmt.Errorf("-registry: want an http(s) URL, got %q", url)
	}
	cl, err := registry.NewClient(url)
	if err != nil {
		return nil, fmt.Errorf("-registry: %w", err)
	}
	return cl, nil
}

func runSchemasList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs, url := schemasFlags("list", getenv, stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("schemas list: unexpected argument %q", fs.Arg(0))
	}
	histories, err := registry.KitHistories()
	if err != nil {
		return err
	}
	var cl *sr.Client
	if *url != "" {
		if cl, err = registryClient(*url); err != nil {
			return err
		}
	}
	for _, h := range histories {
		current := fmt.Sprintf("v%d is current", len(h.Versions))
		if h.Unpublished != nil {
			current = fmt.Sprintf("the current schema is NOT PUBLISHED (publish it as v%d)", len(h.Versions)+1)
		}
		fmt.Fprintf(stdout, "%-26s repository v1..v%d, %s\n", h.Subject, len(h.Versions), current)
		if cl == nil {
			continue
		}
		setup, cancel := context.WithTimeout(ctx, setupTimeout)
		schemas, err := cl.Schemas(setup, h.Subject)
		cancel()
		var re *sr.ResponseError
		switch {
		case errors.As(err, &re) && re.StatusCode == 404:
			fmt.Fprintf(stdout, "%-26s registry: not registered\n", "")
		case err != nil:
			return fmt.Errorf("schemas list: %s at %s: %w", h.Subject, *url, err)
		default:
			var vs []string
			for _, s := range schemas {
				vs = append(vs, fmt.Sprintf("v%d id %d", s.Version, s.ID))
			}
			fmt.Fprintf(stdout, "%-26s registry: %s\n", "", strings.Join(vs, ", "))
		}
	}
	return nil
}

func runSchemasCheck(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs, url := schemasFlags("check", getenv, stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("schemas check: unexpected argument %q", fs.Arg(0))
	}
	histories, err := registry.KitHistories()
	if err != nil {
		return err
	}
	base := *url
	if base == "" {
		fmt.Fprintln(stdout, "starting Apicurio Registry for the check (no -registry given) ...")
		start := time.Now()
		reg, err := registry.StartApicurio(ctx, registry.ApicurioOptions{})
		if err != nil {
			return fmt.Errorf("schemas check: %w (or give -registry a running registry)", err)
		}
		defer func() {
			stop, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			_ = reg.Close(stop)
		}()
		fmt.Fprintf(stdout, "Apicurio Registry answered on %s after %s\n", reg.URL(), time.Since(start).Round(100*time.Millisecond))
		base = reg.URL()
	}
	cl, err := registryClient(base)
	if err != nil {
		return err
	}
	if err := registry.Check(ctx, cl, histories, stdout); err != nil {
		return fmt.Errorf("schemas check: %w", err)
	}
	return nil
}

func runSchemasDiff(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("kit schemas diff", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usageSchemas) }
	if err := fs.Parse(args); err != nil {
		return err
	}
	pos := fs.Args()
	if len(pos) == 0 || len(pos) > 3 {
		fs.Usage()
		return errors.New("schemas diff: want <topic> [<from> [<to>]]")
	}
	topic := strings.TrimSuffix(pos[0], "-value")
	versions, err := events.SchemaHistory(topic)
	if err != nil {
		return fmt.Errorf("schemas diff: %q: %w (topics: %s)", pos[0], err, strings.Join(events.Topics, ", "))
	}
	from, to := max(len(versions)-1, 1), len(versions)
	for i, p := range pos[1:] {
		n, err := strconv.Atoi(strings.TrimPrefix(p, "v"))
		if err != nil || n < 1 || n > len(versions) {
			return fmt.Errorf("schemas diff: version %q: want v1 to v%d", p, len(versions))
		}
		if i == 0 {
			from = n
		} else {
			to = n
		}
	}
	changes, err := registry.Diff(versions[from-1].Schema, versions[to-1].Schema)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s v%d -> v%d\n", events.Subject(topic), from, to)
	if len(changes) == 0 {
		fmt.Fprintln(stdout, "  no change")
	}
	for _, c := range changes {
		fmt.Fprintln(stdout, "  "+c)
	}
	return nil
}
