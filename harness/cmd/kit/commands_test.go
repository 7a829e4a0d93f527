package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/kafkakit/kit/harness/broker"
	"github.com/kafkakit/kit/harness/broker/embedded"
	"github.com/kafkakit/kit/harness/internal/syncbuf"
	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/inspect"
)

// startKafka runs an embedded broker with the kit's topics and their
// dead-letter topics, as `kit up` has them.
func startKafka(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := embedded.Start(ctx, embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	if err := broker.CreateTopics(ctx, b, broker.KitTopics()); err != nil {
		t.Fatal(err)
	}
	return strings.Join(b.Addrs(), ",")
}

// kit runs the CLI in-process with an empty environment.
// testRegistry is the schema registry every command of these tests uses:
// franz-go's in-process one, so kit produce frames records for the kit's
// topics as the services do.
var testRegistry = httptest.NewServer(srfake.NewRegistry().Handler())

// testEnv is the environment the tested commands see.
func testEnv(name string) string {
	if name == "SCHEMA_REGISTRY_URL" {
		return testRegistry.URL
	}
	return ""
}

func kit(ctx context.Context, args ...string) (stdout, stderr string, err error) {
	var out, errb bytes.Buffer
	err = run(ctx, args, testEnv, &out, &errb)
	return out.String(), errb.String(), err
}

// mustKit is kit for a command that has to succeed.
func mustKit(t *testing.T, ctx context.Context, args ...string) string {
	t.Helper()
	out, errOut, err := kit(ctx, args...)
	if err != nil {
		t.Fatalf("kit %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// partitionOf is where the services' producers put a key.
func partitionOf(key string) int {
	return events.Partition([]byte(key), events.Partitions)
}

// waitFor returns once cond holds of what w has had written, or fails the
// test when ctx ends first. The writer's output is the only signal a
// command gives that it has reached a point, so the test polls it.
func waitFor(t *testing.T, ctx context.Context, w *syncbuf.Buffer, what string, cond func(string) bool) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond(w.String()) {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v; output so far:\n%s", what, ctx.Err(), w.String())
		case <-tick.C:
		}
	}
}

func TestUsageListsEveryCommand(t *testing.T) {
	ctx := testContext(t)
	_, errOut, err := kit(ctx)
	if err == nil {
		t.Error("kit with no command succeeded")
	}
	for _, name := range []string{"up", "topics", "groups", "tail", "reset-offsets", "produce", "dlq list", "dlq replay"} {
		if !strings.Contains(errOut, "\n  "+name+" ") {
			t.Errorf("usage does not list %q:\n%s", name, errOut)
		}
	}
	for name := range commands {
		if !strings.Contains(errOut, "\n  "+name+" ") {
			t.Errorf("usage does not list the command %q", name)
		}
	}
	if out, _, err := kit(ctx, "help"); err != nil || !strings.Contains(out, "reset-offsets") {
		t.Errorf("kit help = %v, %q; want the usage on stdout", err, out)
	}
	if _, _, err := kit(ctx, "frobnicate"); err == nil || !strings.Contains(err.Error(), `"frobnicate"`) {
		t.Errorf("kit frobnicate: error = %v, want it named", err)
	}
	for _, args := range [][]string{{"topics", "-h"}, {"tail", "-h"}, {"dlq", "replay", "-h"}, {"dlq", "help"}} {
		out, errOut, err := kit(ctx, args...)
		if err != nil || !strings.Contains(out+errOut, "usage: kit ") {
			t.Errorf("kit %s = %v, %q; want its usage and no error", strings.Join(args, " "), err, out+errOut)
		}
	}
}

func TestBadArgumentsAreRefusedBeforeAnythingHappens(t *testing.T) {
	ctx := testContext(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"tail"}, "missing <topic>"},
		{[]string{"tail", "a", "b"}, `unexpected argument "b"`},
		{[]string{"tail", "t", "-from", "soon"}, "-from: want earliest, latest or an offset"},
		{[]string{"tail", "t", "-n", "-3"}, "-n: want 0"},
		{[]string{"tail", "t", "-group", "g", "-partition", "1"}, "-group and -partition"},
		{[]string{"tail", "t", "-group", "g", "-from", "5"}, "with -group, -from is earliest or latest"},
		{[]string{"tail", "t", "-group", "g", "-exit"}, "-exit works without -group"},
		{[]string{"tail", "t", "-group", "g", "-key", "k"}, "-key works without -group"},
		{[]string{"reset-offsets", "g"}, "missing <topic>"},
		{[]string{"reset-offsets", "g", "t"}, "-to is required"},
		{[]string{"reset-offsets", "g", "t", "-to", "yesterday"}, "-to: want earliest, latest or an offset"},
		{[]string{"produce", "t"}, "missing <value>"},
		{[]string{"produce", "t", "v", "-header", "novalue"}, "want key=value"},
		{[]string{"topics", "-brokers", ""}, "-brokers: want host:port"},
		{[]string{"topics", "-brokers", "kafka"}, "-brokers: want host:port"},
		{[]string{"topics", "-brokers", "kafka:notaport"}, "-brokers: want host:port"},
		{[]string{"groups", "-nope"}, "flag provided but not defined: -nope"},
		{[]string{"dlq"}, "want list or replay"},
		{[]string{"dlq", "purge", "orders.created"}, `unknown command "purge"`},
		{[]string{"dlq", "list"}, "missing <topic>"},
	}
	for _, tt := range tests {
		_, _, err := kit(ctx, tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("kit %s: error = %v, want one saying %q", strings.Join(tt.args, " "), err, tt.want)
		}
	}
}

func TestFlagsMayFollowArguments(t *testing.T) {
	tests := []struct {
		args    []string
		wantPos []string
		wantN   int
	}{
		{[]string{"a", "-n", "2"}, []string{"a"}, 2},
		{[]string{"-n", "2", "a"}, []string{"a"}, 2},
		{[]string{"a", "-n", "2", "b"}, []string{"a", "b"}, 2},
		{[]string{"a", "--", "-n", "2"}, []string{"a", "-n", "2"}, 0},
		{nil, nil, 0},
	}
	for _, tt := range tests {
		f := newFlags("test", "test", "", func(string) string { return "" }, io.Discard)
		n := f.Int("n", 0, "")
		pos, err := f.positional(tt.args)
		if err != nil || !reflect.DeepEqual(pos, tt.wantPos) || *n != tt.wantN {
			t.Errorf("positional(%q) = %q, -n %d, %v; want %q, -n %d", tt.args, pos, *n, err, tt.wantPos, tt.wantN)
		}
	}
}

func TestUnreachableBrokerIsReportedAtOnce(t *testing.T) {
	ctx := testContext(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	for _, args := range [][]string{
		{"topics"}, {"groups"}, {"tail", events.TopicOrdersCreated}, {"produce", events.TopicOrdersCreated, "v"},
		{"reset-offsets", "g", events.TopicOrdersCreated, "-to", "earliest"}, {"dlq", "list", events.TopicOrdersCreated},
		{"dlq", "replay", events.TopicOrdersCreated},
	} {
		_, _, err := kit(ctx, append(args, "-brokers", addr)...)
		if err == nil || !strings.Contains(err.Error(), "no broker answers at "+addr) || !strings.Contains(err.Error(), "make up") {
			t.Errorf("kit %s on a closed port: error = %v, want it to say no broker answers there and how to start one", strings.Join(args, " "), err)
		}
	}
	// KAFKA_BROKERS is the default of -brokers.
	err = run(ctx, []string{"topics"}, func(k string) string {
		if k == "KAFKA_BROKERS" {
			return addr
		}
		return ""
	}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), addr) {
		t.Errorf("kit topics with KAFKA_BROKERS=%s: error = %v, want it to name that address", addr, err)
	}
}

func TestUnknownTopicIsNamed(t *testing.T) {
	ctx := testContext(t)
	brokers := startKafka(t)
	for _, args := range [][]string{
		{"topics", "orders.nope"}, {"tail", "orders.nope"}, {"produce", "orders.nope", "v"},
		{"reset-offsets", "g", "orders.nope", "-to", "earliest"}, {"dlq", "list", "orders.nope"}, {"dlq", "replay", "orders.nope.dlq"},
	} {
		_, _, err := kit(ctx, append(args, "-brokers", brokers)...)
		if err == nil || !strings.Contains(err.Error(), `unknown topic "orders.nope`) {
			t.Errorf("kit %s: error = %v, want unknown topic named", strings.Join(args, " "), err)
		}
	}
	_, _, err := kit(ctx, "tail", events.TopicOrdersCreated, "-partition", "3", "-brokers", brokers)
	if err == nil || !strings.Contains(err.Error(), "no partition 3") {
		t.Errorf("kit tail -partition 3: error = %v, want no partition 3", err)
	}
}

func TestTopicsListsEveryPartitionWithOffsets(t *testing.T) {
	ctx := testContext(t)
	brokers := startKafka(t)
	for _, key := range []string{"a", "b", "c"} {
		mustKit(t, ctx, "produce", events.TopicOrdersCreated, "v-"+key, "-key", key, "-brokers", brokers)
	}
	out := mustKit(t, ctx, "topics", "-brokers", brokers)
	if !strings.Contains(out, "TOPIC") || !strings.Contains(out, "ISR") || !strings.Contains(out, "controller") {
		t.Errorf("no table header or broker list:\n%s", out)
	}
	rows := map[string][][]string{}
	for _, line := range strings.Split(out, "\n") {
		fields := strings.Fields(line)
		if len(fields) == 9 && fields[0] != "TOPIC" {
			rows[fields[0]] = append(rows[fields[0]], fields)
		}
	}
	for _, topic := range events.Topics {
		for _, name := range []string{topic, events.DLQ(topic)} {
			if len(rows[name]) != events.Partitions {
				t.Errorf("%s: %d rows, want %d:\n%s", name, len(rows[name]), events.Partitions, out)
			}
		}
	}
	var records int
	for i, r := range rows[events.TopicOrdersCreated] {
		// TOPIC PARTITION LEADER REPLICAS ISR MIN.INSYNC EARLIEST LATEST RECORDS
		latest, _ := strconv.Atoi(r[7])
		n, _ := strconv.Atoi(r[8])
		if r[1] != strconv.Itoa(i) || r[2] == "none" || r[3] != r[2] || r[4] != r[2] || r[6] != "0" || n != latest {
			t.Errorf("row %q: want partition %d led, one replica in sync, from offset 0", r, i)
		}
		// The broker's answer, not a default of kit's: the embedded
		// broker's min.insync.replicas is 1.
		if r[5] != "1" {
			t.Errorf("row %q: MIN.INSYNC = %q, want the broker's 1", r, r[5])
		}
		records += n
	}
	if records != 3 {
		t.Errorf("%s holds %d records, want 3:\n%s", events.TopicOrdersCreated, records, out)
	}
	one := mustKit(t, ctx, "topics", events.TopicOrdersStatus, "-brokers", brokers)
	if strings.Contains(one, events.TopicOrdersCreated) || !strings.Contains(one, events.TopicOrdersStatus) {
		t.Errorf("kit topics %s shows other topics:\n%s", events.TopicOrdersStatus, one)
	}
}

func TestTopicsFlagsUnderReplicatedPartitions(t *testing.T) {
	cl := inspect.Cluster{
		Brokers:    []inspect.Broker{{ID: 0, Addr: "127.0.0.1:9093"}, {ID: 2, Addr: "127.0.0.1:9095"}},
		Controller: 0,
		Topics: []inspect.Topic{{Name: "orders.created", Partitions: []inspect.Partition{
			{ID: 0, Leader: 0, Replicas: []int{0, 1, 2}, ISR: []int{0, 2}, Earliest: 0, Latest: 4},
			{ID: 1, Leader: 2, Replicas: []int{1, 2, 0}, ISR: []int{2, 0, 1}, Earliest: 0, Latest: 3},
			{ID: 2, Leader: 2, Replicas: []int{2, 0, 1}, ISR: []int{2}, Earliest: 0, Latest: 5},
		}}},
	}
	var buf bytes.Buffer
	printCluster(&buf, cl, false, map[string]int{"orders.created": 2})
	out := buf.String()
	for _, want := range []string{
		"! orders.created/0: under-replicated: 2 of 3 replicas in sync, 1 not",
		"! orders.created/2: under-replicated: 1 of 3 replicas in sync, 0,1 not",
		"! orders.created/2: acks=all writes refused (NOT_ENOUGH_REPLICAS): 1 in sync, min.insync.replicas=2",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("kit topics lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "orders.created/1:") {
		t.Errorf("a partition with every replica in sync is flagged:\n%s", out)
	}
	if strings.Contains(out, "orders.created/0: acks=all") {
		t.Errorf("a partition with as many replicas in sync as the minimum is flagged as refusing writes:\n%s", out)
	}
	if !strings.Contains(out, "MIN.INSYNC") {
		t.Errorf("kit topics has no MIN.INSYNC column:\n%s", out)
	}
}

func TestProduceThenTailShowsTheRecord(t *testing.T) {
	ctx := testContext(t)
	brokers := startKafka(t)
	const key = "order-42"
	out := mustKit(t, ctx, "produce", events.TopicOrdersCreated, `{"orderId":"order-42"}`, "-key", key, "-header", "trace=abc", "-brokers", brokers)
	p := partitionOf(key)
	if want := fmt.Sprintf("produced to %s partition=%d offset=0 key=%s", events.TopicOrdersCreated, p, key); !strings.Contains(out, want) {
		t.Fatalf("produce said %q, want %q (murmur2 puts the key on partition %d)", out, want, p)
	}

	out = mustKit(t, ctx, "tail", events.TopicOrdersCreated, "-from", "earliest", "-n", "1", "-brokers", brokers)
	for _, want := range []string{
		fmt.Sprintf("%s partition=%d offset=0 timestamp=", events.TopicOrdersCreated, p),
		"key=" + key + " schema=", " (orders.created-value v1)\n", "  header trace=abc\n", `  {"orderId":"order-42"}`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("tail output lacks %q:\n%s", want, out)
		}
	}
	if out := mustKit(t, ctx, "tail", events.TopicOrdersCreated, "-partition", strconv.Itoa(p), "-from", "0", "-exit", "-brokers", brokers); strings.Count(out, " offset=") != 1 {
		t.Errorf("tail -partition %d -exit printed %d records, want 1:\n%s", p, strings.Count(out, " offset="), out)
	}
	if out := mustKit(t, ctx, "tail", events.TopicOrdersCreated, "-partition", strconv.Itoa((p+1)%3), "-from", "earliest", "-exit", "-brokers", brokers); out != "" {
		t.Errorf("tail of an empty partition printed:\n%s", out)
	}
	if out := mustKit(t, ctx, "tail", events.TopicOrdersCreated, "-from", "latest", "-exit", "-brokers", brokers); out != "" {
		t.Errorf("tail -from latest -exit printed:\n%s", out)
	}

	// Following: a record produced after tail started is printed.
	var follow, followErr syncbuf.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"tail", events.TopicOrdersCreated, "-n", "1", "-brokers", brokers}, testEnv, &follow, &followErr)
	}()
	waitFor(t, ctx, &followErr, "tail to start following", func(s string) bool { return strings.Contains(s, "following") })
	mustKit(t, ctx, "produce", events.TopicOrdersCreated, "second", "-key", key, "-brokers", brokers)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("partition=%d offset=1 ", p); !strings.Contains(follow.String(), want) || !strings.Contains(follow.String(), "  second\n") {
		t.Errorf("following tail printed %q, want the second record at %s", follow.String(), want)
	}
}

func TestTailKeyPrintsThatKeyOnly(t *testing.T) {
	ctx := testContext(t)
	brokers := startKafka(t)
	for i, key := range []string{"order-a", "order-b", "order-a", "order-c", "order-a"} {
		mustKit(t, ctx, "produce", events.TopicOrdersStatus, fmt.Sprintf("status %d of %s", i, key), "-key", key, "-brokers", brokers)
	}

	// -n counts the key's records only: two of order-a, not the first two records.
	out := mustKit(t, ctx, "tail", events.TopicOrdersStatus, "-from", "earliest", "-key", "order-a", "-n", "2", "-brokers", brokers)
	if got, want := recordValues(out), []string{"status 0 of order-a", "status 2 of order-a"}; !reflect.DeepEqual(got, want) {
		t.Errorf("tail -key order-a -n 2 printed %q, want %q:\n%s", got, want, out)
	}
	out = mustKit(t, ctx, "tail", events.TopicOrdersStatus, "-from", "earliest", "-key", "order-a", "-exit", "-brokers", brokers)
	if got, want := recordValues(out), []string{"status 0 of order-a", "status 2 of order-a", "status 4 of order-a"}; !reflect.DeepEqual(got, want) {
		t.Errorf("tail -key order-a -exit printed %q, want %q:\n%s", got, want, out)
	}
	if out := mustKit(t, ctx, "tail", events.TopicOrdersStatus, "-from", "earliest", "-key", "order-z", "-exit", "-brokers", brokers); out != "" {
		t.Errorf("tail -key of a key never written printed:\n%s", out)
	}
}

// recordValues returns the value lines of printed records, in order.
func recordValues(out string) []string {
	var values []string
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "  "); ok && !strings.HasPrefix(v, "header ") {
			values = append(values, v)
		}
	}
	return values
}

func TestPrintableKeepsEachRecordOnItsLines(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"a":1}`, `{"a":1}`},
		{"with spaces inside", "with spaces inside"},
		{"two\nlines", `"two\nlines"`},
		{" padded ", `" padded "`},
		{"", `""`},
		{"\x00\x01binary", `"\x00\x01binary"`},
		{"caf\xe9", `"caf\xe9"`},
		{"naïve", "naïve"},
	}
	for _, tt := range tests {
		if got := printable([]byte(tt.in)); got != tt.want {
			t.Errorf("printable(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// TestGroupsAndResetOffsets has a kit tail commit as a group, a kafka-go
// consumer hold a group's partitions, and checks what kit groups shows,
// that kit reset-offsets refuses a live group and moves a stopped one.
func TestGroupsAndResetOffsets(t *testing.T) {
	ctx := testContext(t)
	brokers := startKafka(t)
	const key = "one-key"
	p := partitionOf(key)
	for i := range 3 {
		mustKit(t, ctx, "produce", events.TopicOrdersCreated, fmt.Sprint("record-", i), "-key", key, "-brokers", brokers)
	}

	out := mustKit(t, ctx, "tail", events.TopicOrdersCreated, "-group", "kit-test-tail", "-from", "earliest", "-n", "2", "-brokers", brokers)
	if strings.Count(out, " offset=") != 2 {
		t.Fatalf("tail -group -n 2 printed:\n%s", out)
	}
	out = mustKit(t, ctx, "groups", "kit-test-tail", "-brokers", brokers)
	if !strings.Contains(out, "GROUP kit-test-tail   state Empty   0 member(s)") {
		t.Errorf("after tail left, groups shows:\n%s", out)
	}
	if row := fmt.Sprintf("%s  %d          2          3    1    -", events.TopicOrdersCreated, p); !containsFields(out, row) {
		t.Errorf("groups lacks the row %q (committed 2, end 3, lag 1):\n%s", row, out)
	}

	r := groupReader(strings.Split(brokers, ","), "kit-test-live", events.TopicOrdersCreated)
	t.Cleanup(func() { r.Close() })
	if _, err := r.FetchMessage(ctx); err != nil { // joined, partitions assigned
		t.Fatal(err)
	}
	out = mustKit(t, ctx, "groups", "-brokers", brokers)
	for _, want := range []string{"GROUP kit-test-live   state Stable   1 member(s)", "GROUP kit-test-tail", events.TopicOrdersCreated + " 0,1,2"} {
		if !strings.Contains(out, want) {
			t.Errorf("groups lacks %q:\n%s", want, out)
		}
	}
	// The member's label (client id/host) opens its row in the member
	// table, and names it as the partitions' owner.
	member := ""
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, events.TopicOrdersCreated+" 0,1,2") {
			member = strings.Fields(line)[0]
		}
	}
	if !strings.Contains(member, "/") {
		t.Errorf("member label %q; want client id/host:\n%s", member, out)
	}
	if row := fmt.Sprintf("%s %d - 3 3 %s", events.TopicOrdersCreated, p, member); !containsFields(out, row) {
		t.Errorf("groups lacks the row %q (nothing committed, end 3, lag 3, owned by %s):\n%s", row, member, out)
	}

	_, _, err := kit(ctx, "reset-offsets", "kit-test-live", events.TopicOrdersCreated, "-to", "earliest", "-brokers", brokers)
	if err == nil || !strings.Contains(err.Error(), "stop its consumers first") {
		t.Errorf("reset-offsets of a live group: error = %v, want a refusal", err)
	}

	out = mustKit(t, ctx, "reset-offsets", "kit-test-tail", events.TopicOrdersCreated, "-to", "earliest", "-brokers", brokers)
	if row := fmt.Sprintf("%s %d 2 0", events.TopicOrdersCreated, p); !containsFields(out, row) {
		t.Errorf("reset-offsets lacks the row %q (before 2, after 0):\n%s", row, out)
	}
	out = mustKit(t, ctx, "reset-offsets", "kit-test-tail", events.TopicOrdersCreated, "-to", "99", "-partition", strconv.Itoa(p), "-brokers", brokers)
	if row := fmt.Sprintf("%s %d 0 3 offset 99 is past the end, 3", events.TopicOrdersCreated, p); !containsFields(out, row) {
		t.Errorf("reset-offsets -to 99 lacks the row %q:\n%s", row, out)
	}
	if _, _, err := kit(ctx, "reset-offsets", "kit-test-tail", events.TopicOrdersCreated, "-to", "earliest", "-partition", "7", "-brokers", brokers); err == nil || !strings.Contains(err.Error(), "no partition 7") {
		t.Errorf("reset-offsets -partition 7 of a 3-partition topic: error = %v, want no partition 7", err)
	}
}

// containsFields reports whether a line of out has the whitespace-separated
// fields of want, in order.
func containsFields(out, want string) bool {
	w := strings.Join(strings.Fields(want), " ")
	for _, line := range strings.Split(out, "\n") {
		if strings.Join(strings.Fields(line), " ") == w {
			return true
		}
	}
	return false
}

func TestGroupsWatchRefreshesUntilStopped(t *testing.T) {
	ctx := testContext(t)
	brokers := startKafka(t)
	// A reset of a group that does not exist yet creates it, as a commit does.
	mustKit(t, ctx, "reset-offsets", "kit-test-watch", events.TopicOrdersStatus, "-to", "latest", "-brokers", brokers)

	watchCtx, stop := context.WithCancel(ctx)
	var out syncbuf.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(watchCtx, []string{"groups", "-watch", "-brokers", brokers}, func(string) string { return "" }, &out, io.Discard)
	}()
	waitFor(t, ctx, &out, "a second refresh", func(s string) bool { return strings.Count(s, "GROUP kit-test-watch") >= 2 })
	stop()
	if err := <-done; err != nil {
		t.Errorf("groups -watch ended with %v, want nil on Ctrl-C", err)
	}
	if got := out.String(); !strings.Contains(got, "\033[H\033[2J") || !strings.Contains(got, "Ctrl-C to stop") {
		t.Errorf("watch output does not redraw the screen:\n%q", got)
	}
}

// deadLetter produces a record to topic's dead-letter topic as a consumer
// sets one aside, with an extra header of the original record's own.
func deadLetter(t *testing.T, ctx context.Context, brokers, topic, key, value string, offset int) {
	t.Helper()
	mustKit(t, ctx, "produce", events.DLQ(topic), value, "-key", key, "-brokers", brokers,
		"-header", "trace=t-"+key,
		"-header", events.HeaderDLQError+"=invalid "+topic+" value: not JSON",
		"-header", events.HeaderDLQSourceTopic+"="+topic,
		"-header", events.HeaderDLQSourcePartition+"="+strconv.Itoa(partitionOf(key)),
		"-header", events.HeaderDLQSourceOffset+"="+strconv.Itoa(offset),
		"-header", events.HeaderDLQConsumerGroup+"="+events.GroupStockService)
}

func TestDLQListAndReplay(t *testing.T) {
	ctx := testContext(t)
	brokers := startKafka(t)
	topic := events.TopicOrdersCreated
	keys := []string{"malformed-1", "malformed-2"}
	for i, k := range keys {
		deadLetter(t, ctx, brokers, topic, k, "not an order "+k, i)
	}

	for _, name := range []string{topic, events.DLQ(topic)} {
		out, errOut, err := kit(ctx, "dlq", "list", name, "-brokers", brokers)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			for _, want := range []string{
				fmt.Sprintf("%s partition=%d offset=0 ", events.DLQ(topic), partitionOf(k)),
				"key=" + k + "\n", "  not an order " + k + "\n",
				"  header " + events.HeaderDLQError + "=invalid " + topic + " value: not JSON\n",
				"  header " + events.HeaderDLQSourceTopic + "=" + topic + "\n",
				"  header " + events.HeaderDLQConsumerGroup + "=" + events.GroupStockService + "\n",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("dlq list %s lacks %q:\n%s", name, want, out)
				}
			}
		}
		if !strings.Contains(errOut, "2 dead letter(s)") {
			t.Errorf("dlq list %s: stderr %q, want the count", name, errOut)
		}
	}

	first := partitionOf(keys[0])
	if _, _, err := kit(ctx, "dlq", "replay", topic, "-offset", "0", "-brokers", brokers); err == nil || !strings.Contains(err.Error(), "-partition") {
		t.Errorf("dlq replay -offset without -partition: error = %v, want -partition asked for", err)
	}
	if _, _, err := kit(ctx, "dlq", "replay", topic, "-partition", strconv.Itoa(first), "-offset", "5", "-brokers", brokers); err == nil || !strings.Contains(err.Error(), "no dead letter") {
		t.Errorf("dlq replay of a missing offset: error = %v, want no dead letter there", err)
	}
	out := mustKit(t, ctx, "dlq", "replay", topic, "-partition", strconv.Itoa(first), "-offset", "0", "-brokers", brokers)
	if want := fmt.Sprintf("replayed %s partition=%d offset=0 -> %s partition=%d offset=0 key=%s", events.DLQ(topic), first, topic, first, keys[0]); !strings.Contains(out, want) {
		t.Errorf("replay said %q, want %q", out, want)
	}
	replayed := mustKit(t, ctx, "tail", topic, "-from", "earliest", "-exit", "-brokers", brokers)
	if strings.Count(replayed, " offset=") != 1 {
		t.Fatalf("%s after one replay:\n%s", topic, replayed)
	}
	for _, want := range []string{"key=" + keys[0] + "\n", "  not an order " + keys[0] + "\n", "  header trace=t-" + keys[0] + "\n", "  header " + events.HeaderDLQReplayed + "="} {
		if !strings.Contains(replayed, want) {
			t.Errorf("the replayed record lacks %q:\n%s", want, replayed)
		}
	}
	if strings.Contains(replayed, events.HeaderDLQError) || strings.Contains(replayed, events.HeaderDLQSourceTopic) {
		t.Errorf("the replayed record carries the dead letter's dlq.* headers:\n%s", replayed)
	}

	// Replaying everything again is the operator's choice: both are
	// produced, the first a second time; the dead letters stay.
	out = mustKit(t, ctx, "dlq", "replay", events.DLQ(topic), "-brokers", brokers)
	if strings.Count(out, "replayed ") != 2 {
		t.Errorf("replay of all printed:\n%s", out)
	}
	if all := mustKit(t, ctx, "tail", topic, "-from", "earliest", "-exit", "-brokers", brokers); strings.Count(all, " offset=") != 3 {
		t.Errorf("%s after replaying one, then both:\n%s", topic, all)
	}
	if list, _, _ := kit(ctx, "dlq", "list", topic, "-brokers", brokers); strings.Count(list, " offset=") != 2 {
		t.Errorf("the dead letters did not stay:\n%s", list)
	}
}
