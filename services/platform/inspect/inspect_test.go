package inspect

import (
	"reflect"
	"testing"

	"github.com/segmentio/kafka-go"
	metadataAPI "github.com/segmentio/kafka-go/protocol/metadata"
)

// These are the package's pure parts; harness/cmd/kit/inspect_test.go runs
// the client against the embedded broker (kfake), which this module does
// not depend on.

func TestParsePosition(t *testing.T) {
	tests := []struct {
		in      string
		want    Position
		wantErr bool
	}{
		{"earliest", Earliest, false},
		{"LATEST", Latest, false},
		{" 42 ", At(42), false},
		{"0", At(0), false},
		{"-1", Position{}, true},
		{"first", Position{}, true},
		{"", Position{}, true},
		{"1.5", Position{}, true},
	}
	for _, tt := range tests {
		got, err := ParsePosition(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParsePosition(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestPositionResolvesWithinThePartition(t *testing.T) {
	tests := []struct {
		pos            Position
		earliest, end  int64
		want           int64
		wantNoteAbsent bool
	}{
		{Earliest, 3, 10, 3, true},
		{Latest, 3, 10, 10, true},
		{At(5), 3, 10, 5, true},
		{At(10), 3, 10, 10, true},
		{At(1), 3, 10, 3, false},
		{At(99), 3, 10, 10, false},
	}
	for _, tt := range tests {
		got, note := tt.pos.Resolve(tt.earliest, tt.end)
		if got != tt.want || (note == "") != tt.wantNoteAbsent {
			t.Errorf("%v.Resolve(%d, %d) = %d, %q; want %d, note absent %v", tt.pos, tt.earliest, tt.end, got, note, tt.want, tt.wantNoteAbsent)
		}
	}
}

func TestLag(t *testing.T) {
	tests := []struct {
		name      string
		o         span
		ok        bool
		committed int64
		wantEnd   int64
		wantLag   int64
	}{
		{"caught up", span{0, 12}, true, 12, 12, 0},
		{"behind", span{0, 12}, true, 7, 12, 5},
		{"nothing committed counts from the earliest", span{4, 12}, true, -1, 12, 8},
		{"committed past a truncated end", span{0, 3}, true, 5, 3, 0},
		{"offsets unknown", span{}, false, 5, -1, -1},
	}
	for _, tt := range tests {
		end, lag := lag(tt.o, tt.ok, tt.committed)
		if end != tt.wantEnd || lag != tt.wantLag {
			t.Errorf("%s: lag = end %d lag %d, want end %d lag %d", tt.name, end, lag, tt.wantEnd, tt.wantLag)
		}
	}
}

func TestGroupPartitionsJoinCommitsAndOwners(t *testing.T) {
	committed := map[topicPartition]int64{{"b", 1}: 9, {"a", 0}: 4}
	owner := map[topicPartition]string{{"a", 0}: "m1", {"a", 2}: "m2"}
	got := groupPartitions(committed, owner)
	want := []GroupPartition{
		{Topic: "a", Partition: 0, Committed: 4, MemberID: "m1"},
		{Topic: "a", Partition: 2, Committed: -1, MemberID: "m2"},
		{Topic: "b", Partition: 1, Committed: 9, MemberID: ""},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("groupPartitions = %+v\nwant %+v", got, want)
	}
}

// A replica on a broker that is down is not among the live brokers of the
// metadata; it keeps its own id (kafka-go's Client.Metadata would make it
// broker 0), so the partition shows as missing a copy.
func TestClusterKeepsTheIdsOfReplicasOnBrokersThatAreDown(t *testing.T) {
	md := &metadataAPI.Response{
		ControllerID: 2,
		Brokers:      []metadataAPI.ResponseBroker{{NodeID: 2, Host: "127.0.0.1", Port: 9095}, {NodeID: 0, Host: "127.0.0.1", Port: 9093}},
		Topics: []metadataAPI.ResponseTopic{{Name: "orders.created", Partitions: []metadataAPI.ResponsePartition{
			{PartitionIndex: 1, LeaderID: 1, ReplicaNodes: []int32{1, 2, 0}, IsrNodes: []int32{1}},
			{PartitionIndex: 0, LeaderID: 2, ReplicaNodes: []int32{0, 1, 2}, IsrNodes: []int32{2, 0}},
		}}},
	}
	got, unknown, err := clusterOf(md)
	if err != nil || unknown != "" {
		t.Fatalf("clusterOf: %v, unknown %q", err, unknown)
	}
	want := Cluster{
		Brokers:    []Broker{{ID: 0, Addr: "127.0.0.1:9093"}, {ID: 2, Addr: "127.0.0.1:9095"}},
		Controller: 2,
		Topics: []Topic{{Name: "orders.created", Partitions: []Partition{
			{ID: 0, Leader: 2, Replicas: []int{0, 1, 2}, ISR: []int{0, 2}, Earliest: -1, Latest: -1},
			{ID: 1, Leader: -1, Replicas: []int{0, 1, 2}, ISR: []int{1}, Earliest: -1, Latest: -1}, // its leader is down
		}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("clusterOf:\n got %+v\nwant %+v", got, want)
	}

	md.Topics = append(md.Topics, metadataAPI.ResponseTopic{Name: "nope", ErrorCode: int16(kafka.UnknownTopicOrPartition)})
	if _, unknown, _ := clusterOf(md); unknown != "nope" {
		t.Errorf("unknown = %q, want the topic the cluster lacks", unknown)
	}
}
