package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/kafkakit/kit/services/platform/inspect"
)

// A member keeps its label from one kit groups call to the next while
// others join and leave: a learner follows it by name, not by position.
func TestGroupMembersKeepTheirLabels(t *testing.T) {
	const client = "orders-processor@laptop (github.com/segmentio/kafka-go)"
	a := inspect.Member{ID: "orders-processor@laptop-bbbb", ClientID: client, Host: "/127.0.0.1:52684"}
	b := inspect.Member{ID: "orders-processor@laptop-cccc", ClientID: client, Host: "/127.0.0.1:51190"}
	c := inspect.Member{ID: "orders-processor@laptop-aaaa", ClientID: client, Host: "/127.0.0.1:50000"}
	owner := func(members ...inspect.Member) string {
		var buf bytes.Buffer
		printGroups(&buf, []inspect.Group{{ID: "g", State: "Stable", Members: members,
			Partitions: []inspect.GroupPartition{{Topic: "t", Partition: 0, MemberID: a.ID}}}})
		for _, line := range strings.Split(buf.String(), "\n") {
			if f := strings.Fields(line); len(f) == 6 && f[0] == "t" {
				return f[5]
			}
		}
		t.Fatalf("no partition row in:\n%s", buf.String())
		return ""
	}
	const want = "orders-processor@laptop/127.0.0.1:52684"
	for _, members := range [][]inspect.Member{{a, b}, {c, a}, {a}, {b, c, a}} {
		if got := owner(members...); got != want {
			t.Errorf("with members %v, partition 0's owner is %q; want %q", members, got, want)
		}
	}

	// A broker that reports hosts without a port (real Kafka: "/127.0.0.1")
	// leaves client id + host the same for two processes on one machine:
	// the end of the member id tells them apart, still by the member alone.
	a.Host, b.Host = "/127.0.0.1", "/127.0.0.1"
	labels := memberLabels([]inspect.Member{a, b})
	if labels[a.ID] != "orders-processor@laptop/127.0.0.1#bbbb" || labels[b.ID] != "orders-processor@laptop/127.0.0.1#cccc" {
		t.Errorf("labels of two members on one host = %v; want them told apart by their member ids' ends", labels)
	}
}

// A group's heading sums its lag, so that a learner (and a lesson's test)
// sees it grow and shrink in one place.
func TestGroupHeadingSumsTheLag(t *testing.T) {
	heading := func(parts ...inspect.GroupPartition) string {
		var buf bytes.Buffer
		printGroups(&buf, []inspect.Group{{ID: "g", State: "Stable", Partitions: parts}})
		line, _, _ := strings.Cut(buf.String(), "\n")
		return line
	}
	for _, tt := range []struct {
		name  string
		parts []inspect.GroupPartition
		want  string
	}{
		{"nothing committed yet", nil, "GROUP g   state Stable   0 member(s)"},
		{"caught up", []inspect.GroupPartition{{Topic: "t", Partition: 0, Committed: 4, End: 4}, {Topic: "t", Partition: 1, Committed: 2, End: 2}},
			"GROUP g   state Stable   0 member(s)   lag 0, caught up"},
		{"behind on two partitions", []inspect.GroupPartition{{Topic: "t", Partition: 0, Committed: 1, End: 4, Lag: 3}, {Topic: "t", Partition: 1, Committed: 2, End: 6, Lag: 4}},
			"GROUP g   state Stable   0 member(s)   lag 7, behind"},
		{"a partition whose offsets cannot be read", []inspect.GroupPartition{{Topic: "t", Partition: 0, Committed: 1, End: 3, Lag: 2}, {Topic: "t", Partition: 1, Committed: 2, End: -1, Lag: -1}},
			"GROUP g   state Stable   0 member(s)   lag 2, behind"},
	} {
		if got := heading(tt.parts...); got != tt.want {
			t.Errorf("%s: heading %q, want %q", tt.name, got, tt.want)
		}
	}
}
