package main

import (
	"regexp"
	"strings"
	"testing"
)

// TestTxnShowsWhatEachConsumerSaw runs every demonstration of kit txn on
// the embedded broker and checks the lines lesson 10 points at.
func TestTxnShowsWhatEachConsumerSaw(t *testing.T) {
	ctx := testContext(t)
	brokers := startKafka(t)
	out := mustKit(t, ctx, "txn", "-brokers", brokers)
	t.Log(out)
	// Each demonstration prints read_uncommitted, then read_committed.
	want := []string{
		"== An aborted transaction ==",
		"read_uncommitted consumer saw 3 record(s)", "offset 3: (ABORT marker", "read_committed consumer saw 0 record(s)",
		"== A committed transaction ==",
		"read_uncommitted consumer saw 3 record(s)", "read_committed consumer saw 3 record(s)", "offset 3: (COMMIT marker",
		"== A zombie producer ==",
		`zombie wakes, writes "zombie: 2": refused: INVALID_PRODUCER_EPOCH`,
		"read_uncommitted consumer saw 2 record(s)", "read_committed consumer saw 1 record(s)", "offset 2: successor: 1",
		"the zombie is fenced",
		"== Read-process-write, and a crash before the commit ==",
		"the group's committed offset: none",
		"reads offsets 0-2 again",
		"the group's committed offset: 3",
		"read_uncommitted consumer saw 6 record(s)", "read_committed consumer saw 3 record(s)",
	}
	rest := out
	for _, w := range want {
		i := strings.Index(rest, w)
		if i < 0 {
			t.Fatalf("kit txn output lacks %q after what came before it:\n%s", w, out)
		}
		rest = rest[i+len(w):]
	}
	// The scratch topics are gone afterwards.
	if topics := mustKit(t, ctx, "topics", "-brokers", brokers); strings.Contains(topics, "learn.txn.") {
		t.Errorf("kit txn left its scratch topics behind:\n%s", topics)
	}
}

func TestTxnRunsOneDemonstrationAndKeepsItsTopicsWhenAsked(t *testing.T) {
	ctx := testContext(t)
	brokers := startKafka(t)
	out := mustKit(t, ctx, "txn", "aborted", "-keep", "-brokers", brokers)
	if strings.Contains(out, "zombie") || !strings.Contains(out, "read_committed consumer saw 0 record(s)") {
		t.Errorf("kit txn aborted printed more or less than the aborted transaction:\n%s", out)
	}
	kept := regexp.MustCompile(`(?m)^kept topic (learn\.txn\.[0-9a-f]+\.aborted)$`).FindStringSubmatch(out)
	if kept == nil {
		t.Fatalf("kit txn -keep does not say what it kept:\n%s", out)
	}
	if topics := mustKit(t, ctx, "topics", "-brokers", brokers); !strings.Contains(topics, kept[1]) {
		t.Errorf("kit txn -keep deleted %s:\n%s", kept[1], topics)
	}
	// kit tail reads as kafka-go does by default, read_uncommitted: the
	// aborted records are there for it (lesson 10 shows it).
	if tail := mustKit(t, ctx, "tail", kept[1], "-from", "earliest", "-exit", "-brokers", brokers); !strings.Contains(tail, "order 3") {
		t.Errorf("kit tail of the aborted transaction's topic lacks its records:\n%s", tail)
	}
}

func TestTxnRefusesWhatItDoesNotShow(t *testing.T) {
	ctx := testContext(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"txn", "exactly-once"}, `unknown demonstration "exactly-once"`},
		{[]string{"txn", "aborted", "zombie"}, `unexpected argument "zombie"`},
		{[]string{"txn", "-brokers", "kafka"}, "-brokers: want host:port"},
	} {
		if _, _, err := kit(ctx, tt.args...); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("kit %s: error = %v, want one saying %q", strings.Join(tt.args, " "), err, tt.want)
		}
	}
}

func TestSpanPrintsRunsOfOffsets(t *testing.T) {
	for _, tt := range []struct {
		in   []int64
		want string
	}{
		{nil, "(none)"}, {[]int64{4}, "4"}, {[]int64{0, 1, 2}, "0-2"}, {[]int64{0, 2, 3}, "0 2 3"},
	} {
		if got := span(tt.in); got != tt.want {
			t.Errorf("span(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
