package inspect

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/segmentio/kafka-go"
)

// Position is a place in every partition of a topic: its earliest offset,
// its end (latest) offset, or one offset.
type Position struct {
	kind   positionKind
	offset int64
}

type positionKind int

const (
	atOffset positionKind = iota
	atEarliest
	atLatest
)

// The positions with a name.
var (
	Earliest = Position{kind: atEarliest}
	Latest   = Position{kind: atLatest}
)

// At is offset in each partition.
func At(offset int64) Position { return Position{kind: atOffset, offset: offset} }

// ParsePosition reads "earliest", "latest" or an offset (a whole number
// from 0).
func ParsePosition(s string) (Position, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "earliest":
		return Earliest, nil
	case "latest":
		return Latest, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 {
		return Position{}, fmt.Errorf("want earliest, latest or an offset (a whole number from 0), got %q", s)
	}
	return At(n), nil
}

func (p Position) String() string {
	switch p.kind {
	case atEarliest:
		return "earliest"
	case atLatest:
		return "latest"
	}
	return strconv.FormatInt(p.offset, 10)
}

// Offset returns the position's offset (ok false for earliest and latest).
func (p Position) Offset() (offset int64, ok bool) { return p.offset, p.kind == atOffset }

// Resolve returns the offset p stands for in a partition holding
// earliest..end-1; an offset outside that range is clamped to it, as
// kafka-consumer-groups.sh does, and note says so.
func (p Position) Resolve(earliest, end int64) (offset int64, note string) {
	switch p.kind {
	case atEarliest:
		return earliest, ""
	case atLatest:
		return end, ""
	}
	switch {
	case p.offset < earliest:
		return earliest, fmt.Sprintf("offset %d is before the earliest, %d", p.offset, earliest)
	case p.offset > end:
		return end, fmt.Sprintf("offset %d is past the end, %d", p.offset, end)
	}
	return p.offset, ""
}

// OffsetChange is what a reset did to one partition.
type OffsetChange struct {
	Topic     string
	Partition int
	// Before and After are the committed offsets (-1: none) read back from
	// the coordinator before and after the reset.
	Before, After int64
	// Note says why After is not the offset asked for (clamped to the
	// partition's range), or is empty.
	Note string
}

// ResetOffsets commits offsets for group on topic (every partition, or
// those given) at to, and returns each partition's committed offset before
// and after. It refuses, with an error wrapping ErrGroupActive, while the
// group has members: a running member would overwrite the reset with its
// next commit. The coordinator enforces the same rule, so a member that
// joins between the check and the commit makes the commit fail rather than
// race it.
func (c *Client) ResetOffsets(ctx context.Context, group, topic string, to Position, partitions ...int) ([]OffsetChange, error) {
	groups, err := c.Groups(ctx, group)
	if err != nil {
		return nil, err
	}
	if g := groups[0]; len(g.Members) > 0 || (g.State != "Empty" && g.State != "Dead") {
		return nil, fmt.Errorf("%w: %s is %s with %d member(s); stop its consumers first (a running member would overwrite the reset with its next commit)",
			ErrGroupActive, group, g.State, len(g.Members))
	}
	cl, err := c.Cluster(ctx, topic)
	if err != nil {
		return nil, err
	}
	var parts []Partition
	for _, p := range cl.Topics[0].Partitions {
		if len(partitions) == 0 || slices.Contains(partitions, p.ID) {
			parts = append(parts, p)
		}
	}
	for _, want := range partitions {
		if !slices.ContainsFunc(parts, func(p Partition) bool { return p.ID == want }) {
			return nil, fmt.Errorf("%s has no partition %d (it has %d)", topic, want, len(cl.Topics[0].Partitions))
		}
	}
	ids := make([]int, len(parts))
	commits := make([]kafka.OffsetCommit, len(parts))
	changes := make([]OffsetChange, len(parts))
	for i, p := range parts {
		if p.Err != nil || p.Latest < 0 {
			return nil, fmt.Errorf("offsets of %s/%d: %v", topic, p.ID, errors.Join(p.Err, errors.New("no leader")))
		}
		offset, note := to.Resolve(p.Earliest, p.Latest)
		ids[i] = p.ID
		commits[i] = kafka.OffsetCommit{Partition: p.ID, Offset: offset}
		changes[i] = OffsetChange{Topic: topic, Partition: p.ID, Note: note}
	}
	before, err := c.committed(ctx, group, map[string][]int{topic: ids})
	if err != nil {
		return nil, err
	}
	// Generation -1 and no member id: a "simple" commit, which the
	// coordinator accepts only while the group has no members.
	resp, err := c.kc.OffsetCommit(ctx, &kafka.OffsetCommitRequest{GroupID: group, GenerationID: -1, Topics: map[string][]kafka.OffsetCommit{topic: commits}})
	if err != nil {
		return nil, c.wrap("commit offsets of "+group, err)
	}
	for _, p := range resp.Topics[topic] {
		if p.Error == nil {
			continue
		}
		if errors.Is(p.Error, kafka.UnknownMemberId) || errors.Is(p.Error, kafka.IllegalGeneration) || errors.Is(p.Error, kafka.RebalanceInProgress) {
			return nil, fmt.Errorf("%w: a member joined %s during the reset; nothing was committed on %s/%d (%v)", ErrGroupActive, group, topic, p.Partition, p.Error)
		}
		return nil, c.wrap(fmt.Sprintf("commit offset of %s on %s/%d", group, topic, p.Partition), p.Error)
	}
	after, err := c.committed(ctx, group, map[string][]int{topic: ids})
	if err != nil {
		return nil, err
	}
	for i := range changes {
		tp := topicPartition{topic, changes[i].Partition}
		changes[i].Before, changes[i].After = committedOr(before, tp), committedOr(after, tp)
	}
	return changes, nil
}

func committedOr(m map[topicPartition]int64, tp topicPartition) int64 {
	if o, ok := m[tp]; ok {
		return o
	}
	return -1
}
