package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kafkakit/kit/services/platform/inspect"
)

func runGroups(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newFlags("groups", "groups [group...] [flags]",
		`Lists every consumer group (or those named): its state, its members (client
id, host) with the partitions each owns, and per partition the committed
offset (the next record the group will read), the end offset and the lag
between them. With nothing committed yet, lag counts from the earliest
offset, where the kit's consumers start.
`, getenv, stderr)
	watch := f.Bool("watch", false, "refresh every second until Ctrl-C")
	ids, err := f.positional(args)
	if err != nil {
		return err
	}
	c, _, err := f.client()
	if err != nil {
		return err
	}
	defer c.Close()
	snapshot := func() ([]inspect.Group, error) {
		ctx, cancel := context.WithTimeout(ctx, setupTimeout)
		defer cancel()
		return c.Groups(ctx, ids...)
	}
	groups, err := snapshot()
	if err != nil {
		return hint(err)
	}
	if !*watch {
		printGroups(stdout, groups)
		return nil
	}
	return watchGroups(ctx, stdout, time.Second, groups, snapshot)
}

// watchGroups redraws the groups every interval until ctx ends. A failed
// refresh is shown in place of the table and retried: a broker restart is
// something a learner may well be watching.
func watchGroups(ctx context.Context, w io.Writer, every time.Duration, groups []inspect.Group, snapshot func() ([]inspect.Group, error)) error {
	tick := time.NewTicker(every)
	defer tick.Stop()
	var err error
	for {
		var buf bytes.Buffer
		buf.WriteString("\033[H\033[2J") // cursor home, clear screen
		fmt.Fprintf(&buf, "kit groups -watch   %s   (Ctrl-C to stop)\n\n", time.Now().Format(time.TimeOnly))
		if err != nil {
			fmt.Fprintf(&buf, "cannot read the groups: %v\n", err)
		} else {
			printGroups(&buf, groups)
		}
		if _, werr := w.Write(buf.Bytes()); werr != nil {
			return werr
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		groups, err = snapshot()
		if ctx.Err() != nil {
			return nil
		}
	}
}

// memberLabels names each member for the tables, by member id, from what
// stays the same while it is a member: its client id's first word (program
// @ machine, for kafka-go) and the host it connects from, such as
// orders-processor@laptop/127.0.0.1:52684. A label never depends on the
// member's place in the list, so a member keeps its name from one call (or
// -watch frame) to the next while others join and leave. Members whose
// labels would be the same (a broker that reports hosts without a port,
// several consumers in one process) add the end of their member id.
func memberLabels(members []inspect.Member) map[string]string {
	base := make(map[string]string, len(members))
	count := map[string]int{}
	for _, m := range members {
		client, _, _ := strings.Cut(m.ClientID, " ")
		if client == "" {
			client = "?"
		}
		host := strings.TrimPrefix(m.Host, "/")
		if host == "" {
			host = "?"
		}
		base[m.ID] = client + "/" + host
		count[base[m.ID]]++
	}
	label := make(map[string]string, len(members))
	for _, m := range members {
		label[m.ID] = base[m.ID]
		if count[base[m.ID]] > 1 {
			label[m.ID] += "#" + m.ID[max(0, len(m.ID)-4):]
		}
	}
	return label
}

// totalLag is the group's lag over its partitions, for its heading: one
// number to watch grow while its consumers are slow and shrink once they
// catch up (the page's Consumers panel shows the same). "" when the group
// has no offsets to count from; a partition whose offsets cannot be read
// is left out, and its row says so.
func totalLag(g inspect.Group) string {
	if len(g.Partitions) == 0 {
		return ""
	}
	var sum int64
	for _, p := range g.Partitions {
		if p.Lag > 0 {
			sum += p.Lag
		}
	}
	if sum == 0 {
		return "   lag 0, caught up"
	}
	return fmt.Sprintf("   lag %d, behind", sum)
}

func printGroups(w io.Writer, groups []inspect.Group) {
	if len(groups) == 0 {
		fmt.Fprintln(w, "no consumer groups yet")
		return
	}
	for i, g := range groups {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "GROUP %s   state %s   %d member(s)%s\n", g.ID, g.State, len(g.Members), totalLag(g))
		if g.Error != "" {
			fmt.Fprintf(w, "  ! %s\n", g.Error)
		}
		label := memberLabels(g.Members)
		if len(g.Members) > 0 {
			fmt.Fprintln(w)
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "  MEMBER\tCLIENT ID\tHOST\tPARTITIONS\tMEMBER ID")
			for _, m := range g.Members {
				var owned []string
				for _, a := range m.Assignments {
					owned = append(owned, a.Topic+" "+ints(a.Partitions))
				}
				if len(owned) == 0 {
					owned = []string{"none"}
				}
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", label[m.ID], m.ClientID, m.Host, strings.Join(owned, "; "), m.ID)
			}
			tw.Flush()
		}
		if len(g.Partitions) == 0 {
			fmt.Fprintln(w, "  no committed offsets yet")
			continue
		}
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  TOPIC\tPARTITION\tCOMMITTED\tEND\tLAG\tOWNER")
		for _, p := range g.Partitions {
			owner := label[p.MemberID]
			if owner == "" {
				owner = "-"
			}
			fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\t%s\t%s\n", p.Topic, p.Partition, offset(p.Committed), offset(p.End), offset(p.Lag), owner)
		}
		tw.Flush()
	}
}
