package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/kafkakit/kit/services/platform/inspect"
)

func runTopics(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newFlags("topics", "topics [topic...] [flags]",
		`Lists every topic (or those named) with each partition's leader, replicas
and in-sync replicas (ISR: the replicas an acks=all write waits for), its
earliest and latest offsets, and the records between them. A partition
with a replica out of sync (its broker down or behind) is flagged
under-replicated below the table.
`, getenv, stderr)
	internal := f.Bool("internal", false, "also list internal topics such as __consumer_offsets")
	names, err := f.positional(args)
	if err != nil {
		return err
	}
	c, _, err := f.client()
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	cl, err := c.Cluster(ctx, names...)
	if err != nil {
		return hint(err)
	}
	printCluster(stdout, cl, *internal || len(names) > 0)
	return nil
}

func printCluster(w io.Writer, cl inspect.Cluster, internal bool) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "BROKER\tADDRESS")
	for _, b := range cl.Brokers {
		role := ""
		if b.ID == cl.Controller {
			role = "controller"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\n", b.ID, b.Addr, role)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tLEADER\tREPLICAS\tISR\tEARLIEST\tLATEST\tRECORDS")
	var problems []string
	for _, t := range cl.Topics {
		if t.Internal && !internal {
			continue
		}
		for _, p := range t.Partitions {
			leader := "none"
			if p.Leader >= 0 {
				leader = strconv.Itoa(p.Leader)
			}
			records := "-"
			if p.Earliest >= 0 && p.Latest >= 0 {
				records = strconv.FormatInt(p.Latest-p.Earliest, 10)
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", t.Name, p.ID, leader, ints(p.Replicas), ints(p.ISR),
				offset(p.Earliest), offset(p.Latest), records)
			if p.Err != nil {
				problems = append(problems, fmt.Sprintf("%s/%d: %v", t.Name, p.ID, p.Err))
			}
			if out := outOfSync(p); len(out) > 0 {
				problems = append(problems, fmt.Sprintf("%s/%d: under-replicated: %d of %d replicas in sync, %s not", t.Name, p.ID, len(p.ISR), len(p.Replicas), ints(out)))
			}
		}
	}
	tw.Flush()
	for _, p := range problems {
		fmt.Fprintln(w, "  !", p)
	}
}

// outOfSync returns the replicas of p that are not in its ISR: a broker
// that is down or behind. An acks=all write waits only for the ISR, so
// each one missing is a copy fewer of what is acknowledged.
func outOfSync(p inspect.Partition) []int {
	var out []int
	for _, r := range p.Replicas {
		if !slices.Contains(p.ISR, r) {
			out = append(out, r)
		}
	}
	return out
}

// ints is a list of broker ids or partitions: 0,1,2.
func ints(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, ",")
}

// offset prints an offset, or - for none.
func offset(o int64) string {
	if o < 0 {
		return "-"
	}
	return strconv.FormatInt(o, 10)
}
