package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/kafkakit/kit/services/platform/inspect"
)

func runResetOffsets(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newFlags("reset-offsets", "reset-offsets <group> <topic> -to earliest|latest|<offset> [flags]",
		`Moves the offsets a consumer group has committed on a topic, so that its
consumers, when they start again, replay from the earliest offset, skip
to the latest, or start at an offset (clamped to what each partition
holds). Refused while the group has members: stop its consumers first, or
their next commit would undo the reset. Prints each partition's committed
offset before and after, as read back from the group's coordinator.
`, getenv, stderr)
	to := f.String("to", "", "earliest, latest or an offset (required)")
	partition := partitionFlag(f)
	pos, err := f.parse(args, "<group>", "<topic>")
	if err != nil {
		return err
	}
	if *to == "" {
		f.Usage()
		return errors.New("reset-offsets: -to is required: earliest, latest or an offset")
	}
	target, err := inspect.ParsePosition(*to)
	if err != nil {
		return fmt.Errorf("-to: %w", err)
	}
	var only []int
	if *partition >= 0 {
		only = []int{*partition}
	}
	c, _, err := f.client()
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	changes, err := c.ResetOffsets(ctx, pos[0], pos[1], target, only...)
	if err != nil {
		return hint(err)
	}
	fmt.Fprintf(stdout, "group %s on %s, reset to %s:\n\n", pos[0], pos[1], target)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tBEFORE\tAFTER\tNOTE")
	for _, ch := range changes {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", ch.Topic, ch.Partition, offset(ch.Before), offset(ch.After), ch.Note)
	}
	return tw.Flush()
}
