package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kafkakit/kit/services/platform/inspect"
	"github.com/kafkakit/kit/services/platform/stream"
)

func runTopics(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newFlags("topics", "topics [topic...] [flags]",
		`Lists every topic (or those named) with each partition's leader, replicas
and in-sync replicas (ISR: the replicas an acks=all write waits for), the
topic's min.insync.replicas (MIN.INSYNC: fewer in sync and the broker
refuses acks=all writes), its earliest and latest offsets, and the records
between them. A partition with a replica out of sync (its broker down or
behind) is flagged under-replicated below the table, and refusing writes
when its ISR is below the minimum.
`, getenv, stderr)
	internal := f.Bool("internal", false, "also list internal topics such as __consumer_offsets")
	names, err := f.positional(args)
	if err != nil {
		return err
	}
	c, conn, err := f.client()
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
	minISR, err := minInsyncReplicas(ctx, conn, cl)
	if err != nil {
		return err
	}
	printCluster(stdout, cl, *internal || len(names) > 0, minISR)
	return nil
}

// minInsyncConfig is the topic setting an acks=all write meets: fewer
// in-sync replicas than this and the leader refuses the write
// (NOT_ENOUGH_REPLICAS) rather than acknowledge it on too few copies.
const minInsyncConfig = "min.insync.replicas"

// minInsyncReplicas asks the cluster for each topic's min.insync.replicas
// (its own setting or the broker's default, as the broker applies it).
func minInsyncReplicas(ctx context.Context, conn cluster, cl inspect.Cluster) (map[string]int, error) {
	if len(cl.Topics) == 0 {
		return nil, nil
	}
	t := &kafka.Transport{ClientID: "kafkakit-topics", DialTimeout: 3 * time.Second}
	stream.SecureTransport(t, conn.dialer)
	defer t.CloseIdleConnections()
	kc := &kafka.Client{Addr: kafka.TCP(conn.brokers...), Timeout: 10 * time.Second, Transport: t}
	req := &kafka.DescribeConfigsRequest{}
	for _, topic := range cl.Topics {
		req.Resources = append(req.Resources, kafka.DescribeConfigRequestResource{
			ResourceType: kafka.ResourceTypeTopic, ResourceName: topic.Name, ConfigNames: []string{minInsyncConfig},
		})
	}
	res, err := kc.DescribeConfigs(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("describe the topics' %s at %s: %w", minInsyncConfig, strings.Join(conn.brokers, ","), err)
	}
	out := map[string]int{}
	for _, r := range res.Resources {
		if r.Error != nil {
			return nil, fmt.Errorf("describe %s's %s: %w", r.ResourceName, minInsyncConfig, r.Error)
		}
		for _, e := range r.ConfigEntries {
			if e.ConfigName != minInsyncConfig {
				continue
			}
			n, err := strconv.Atoi(e.ConfigValue)
			if err != nil {
				return nil, fmt.Errorf("%s's %s is %q, not a number", r.ResourceName, minInsyncConfig, e.ConfigValue)
			}
			out[r.ResourceName] = n
		}
	}
	return out, nil
}

// printCluster prints the brokers and the topics' partitions; minISR is
// each topic's min.insync.replicas (a topic missing from it prints -).
func printCluster(w io.Writer, cl inspect.Cluster, internal bool, minISR map[string]int) {
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
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tLEADER\tREPLICAS\tISR\tMIN.INSYNC\tEARLIEST\tLATEST\tRECORDS")
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
			least, known := minISR[t.Name]
			minCol := "-"
			if known {
				minCol = strconv.Itoa(least)
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.Name, p.ID, leader, ints(p.Replicas), ints(p.ISR), minCol,
				offset(p.Earliest), offset(p.Latest), records)
			if p.Err != nil {
				problems = append(problems, fmt.Sprintf("%s/%d: %v", t.Name, p.ID, p.Err))
			}
			if out := outOfSync(p); len(out) > 0 {
				problems = append(problems, fmt.Sprintf("%s/%d: under-replicated: %d of %d replicas in sync, %s not", t.Name, p.ID, len(p.ISR), len(p.Replicas), ints(out)))
			}
			// A partition with no leader refuses every write already (its
			// error says so); one whose ISR is below the minimum refuses
			// acks=all writes while it reads fine, which nothing else shows.
			if known && p.Leader >= 0 && len(p.ISR) < least {
				problems = append(problems, fmt.Sprintf("%s/%d: acks=all writes refused (NOT_ENOUGH_REPLICAS): %d in sync, %s=%d", t.Name, p.ID, len(p.ISR), minInsyncConfig, least))
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
