// Package inspect answers what a learner or an operator asks of a Kafka
// cluster: which topics there are, their partitions, leaders, replicas and
// offsets; which consumer groups there are, their members, who owns which
// partition, what each group has committed and how far behind it is; and it
// moves a stopped group's committed offsets. It is the one home of those
// questions for the kit CLI and the services, built on kafka-go's Client so
// a service needs no second Kafka client to use it.
package inspect

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	metadataAPI "github.com/segmentio/kafka-go/protocol/metadata"

	"github.com/kafkakit/kit/services/platform/stream"
)

// Errors a caller may want to tell apart; the errors returned wrap them.
var (
	// ErrUnreachable: no broker answered.
	ErrUnreachable = errors.New("no broker answers")
	// ErrUnknownTopic: the cluster has no such topic.
	ErrUnknownTopic = errors.New("unknown topic")
	// ErrGroupActive: the group has members, so its offsets cannot be moved.
	ErrGroupActive = errors.New("group has members")
)

// Client asks a cluster. It is safe for concurrent use.
type Client struct {
	brokers   []string
	kc        *kafka.Client
	transport *kafka.Transport
}

// New returns a client of the cluster at brokers (host:port), connecting as
// dialer says (TLS and SASL; nil is plaintext). A broker that does not
// accept a connection within a few seconds counts as unreachable.
func New(brokers []string, dialer *kafka.Dialer) *Client {
	t := &kafka.Transport{
		ClientID:    "kafkakit-inspect",
		DialTimeout: 3 * time.Second,
		IdleTimeout: time.Minute,
		// Leaders move and topics appear; a short TTL keeps the routing of
		// ListOffsets requests close to the cluster's current view.
		MetadataTTL: time.Second,
	}
	stream.SecureTransport(t, dialer)
	return &Client{
		brokers:   brokers,
		kc:        &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second, Transport: t},
		transport: t,
	}
}

// Close releases the client's connections.
func (c *Client) Close() { c.transport.CloseIdleConnections() }

// wrap gives err the context a user needs: which call, which cluster, and
// ErrUnreachable when nothing answered at all.
func (c *Client) wrap(what string, err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w at %s (%s: %v)", ErrUnreachable, strings.Join(c.brokers, ","), what, err)
	}
	return fmt.Errorf("%s at %s: %w", what, strings.Join(c.brokers, ","), err)
}

// Broker is one broker of the cluster.
type Broker struct {
	ID   int    `json:"id"`
	Addr string `json:"addr"`
}

// Cluster is what the metadata says, with the offsets of every partition.
type Cluster struct {
	Brokers    []Broker `json:"brokers"`
	Controller int      `json:"controller"` // broker id; -1 when unknown
	Topics     []Topic  `json:"topics"`
}

// Topic is one topic and its partitions, in partition order.
type Topic struct {
	Name       string      `json:"name"`
	Internal   bool        `json:"internal,omitempty"`
	Partitions []Partition `json:"partitions"`
}

// Partition is one partition of a topic: where it lives and which offsets
// it holds. Records Earliest..Latest-1 are there to read; Latest (the end
// offset, or high watermark) is the offset the next record will get.
type Partition struct {
	ID       int   `json:"partition"`
	Leader   int   `json:"leader"` // broker id; -1 while the partition has no leader
	Replicas []int `json:"replicas"`
	ISR      []int `json:"isr"` // in-sync replicas: those an acks=all write waits for
	Earliest int64 `json:"earliest"`
	Latest   int64 `json:"latest"`
	// Err is why the partition has no leader or no offsets, if so.
	Err error `json:"-"`
}

// Cluster describes topics (every topic when none is named) with their
// partitions' leaders, replicas, in-sync replicas and offsets. A named
// topic the cluster lacks is an error wrapping ErrUnknownTopic. The
// metadata comes from kafka-go's transport cache, at most a second old;
// the offsets are asked of each partition's leader.
func (c *Client) Cluster(ctx context.Context, topics ...string) (Cluster, error) {
	md, err := c.metadata(ctx, topics)
	if err != nil {
		return Cluster{}, c.wrap("metadata", err)
	}
	out, unknown, err := clusterOf(md)
	if unknown != "" {
		return Cluster{}, fmt.Errorf("%w %q at %s", ErrUnknownTopic, unknown, strings.Join(c.brokers, ","))
	}
	if err != nil {
		return Cluster{}, c.wrap("metadata", err)
	}
	offsets := map[string][]kafka.OffsetRequest{}
	for _, t := range out.Topics {
		for _, p := range t.Partitions {
			if p.Leader >= 0 {
				offsets[t.Name] = append(offsets[t.Name], kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID))
			}
		}
	}
	slices.SortFunc(out.Topics, func(a, b Topic) int { return strings.Compare(a.Name, b.Name) })
	if len(offsets) == 0 {
		return out, nil
	}
	got, err := c.kc.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: offsets})
	if err != nil {
		return Cluster{}, c.wrap("list offsets", err)
	}
	for i := range out.Topics {
		t := &out.Topics[i]
		for _, po := range got.Topics[t.Name] {
			for j := range t.Partitions {
				p := &t.Partitions[j]
				if p.ID != po.Partition {
					continue
				}
				p.Earliest, p.Latest = po.FirstOffset, po.LastOffset
				if po.Error != nil && p.Err == nil {
					p.Err = po.Error
				}
			}
		}
	}
	return out, nil
}

// metadata asks the cluster for topics' metadata (every topic when none is
// named) at the protocol level: kafka-go's Client.Metadata maps replica ids
// to the live brokers, and a replica on a broker that is down comes out as
// the zero Broker, id 0, which would hide the very thing a learner kills a
// broker to see.
func (c *Client) metadata(ctx context.Context, topics []string) (*metadataAPI.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.kc.Timeout)
	defer cancel()
	m, err := c.transport.RoundTrip(ctx, c.kc.Addr, &metadataAPI.Request{TopicNames: topics})
	if err != nil {
		return nil, err
	}
	md, ok := m.(*metadataAPI.Response)
	if !ok {
		return nil, fmt.Errorf("metadata: unexpected answer %T", m)
	}
	return md, nil
}

// clusterOf turns a metadata answer into a Cluster without offsets
// (Earliest and Latest -1). A partition whose leader is not among the live
// brokers has leader -1. unknown names a topic the cluster lacks.
func clusterOf(md *metadataAPI.Response) (_ Cluster, unknown string, _ error) {
	out := Cluster{Controller: int(md.ControllerID), Brokers: []Broker{}, Topics: []Topic{}}
	live := map[int32]bool{}
	for _, b := range md.Brokers {
		live[b.NodeID] = true
		out.Brokers = append(out.Brokers, Broker{ID: int(b.NodeID), Addr: net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))})
	}
	if !live[md.ControllerID] {
		out.Controller = -1
	}
	slices.SortFunc(out.Brokers, func(a, b Broker) int { return a.ID - b.ID })
	for _, t := range md.Topics {
		if t.ErrorCode != 0 {
			err := kafka.Error(t.ErrorCode)
			if err == kafka.UnknownTopicOrPartition {
				return Cluster{}, t.Name, nil
			}
			return Cluster{}, "", fmt.Errorf("%s: %w", t.Name, err)
		}
		topic := Topic{Name: t.Name, Internal: t.IsInternal, Partitions: []Partition{}}
		for _, p := range t.Partitions {
			leader := int(p.LeaderID)
			if !live[p.LeaderID] {
				leader = -1
			}
			var err error
			if p.ErrorCode != 0 {
				err = kafka.Error(p.ErrorCode)
			}
			topic.Partitions = append(topic.Partitions, Partition{
				ID: int(p.PartitionIndex), Leader: leader, Replicas: ids(p.ReplicaNodes), ISR: ids(p.IsrNodes),
				Earliest: -1, Latest: -1, Err: err,
			})
		}
		slices.SortFunc(topic.Partitions, func(a, b Partition) int { return a.ID - b.ID })
		out.Topics = append(out.Topics, topic)
	}
	return out, "", nil
}

func ids(nodes []int32) []int {
	out := make([]int, 0, len(nodes))
	for _, n := range nodes {
		out = append(out, int(n))
	}
	slices.Sort(out)
	return out
}

// Group is one consumer group: its state, its members and what each owns,
// and per partition its committed offset, the partition's end offset and the
// lag between them.
type Group struct {
	ID    string `json:"groupId"`
	State string `json:"state"` // Stable, PreparingRebalance, CompletingRebalance, Empty, Dead
	// Error is set when the coordinator could not describe the group (for
	// example a member whose metadata kafka-go cannot decode); what could
	// be read is still there.
	Error      string           `json:"error,omitempty"`
	Members    []Member         `json:"members"`
	Partitions []GroupPartition `json:"partitions"`
}

// Member is one consumer in a group.
type Member struct {
	ID          string       `json:"memberId"`
	ClientID    string       `json:"clientId"`
	Host        string       `json:"host"`
	Assignments []Assignment `json:"assignments"`
}

// Assignment is the partitions of one topic a member owns.
type Assignment struct {
	Topic      string `json:"topic"`
	Partitions []int  `json:"partitions"`
}

// GroupPartition is where a group stands on one partition: every partition
// it has committed an offset for or that one of its members owns.
type GroupPartition struct {
	Topic     string `json:"topic"`
	Partition int    `json:"partition"`
	// Committed is the offset of the next record the group will read, or
	// -1 when it has committed nothing on this partition.
	Committed int64 `json:"committed"`
	// End is the partition's end offset (the next record's offset).
	End int64 `json:"end"`
	// Lag is End - Committed: records written but not yet processed. With
	// nothing committed it is End minus the partition's earliest offset,
	// what a group starting from the earliest offset (as the kit's do) has
	// to read. End and Lag are -1 when the partition's offsets cannot be
	// read (its topic was deleted, or it has no leader).
	Lag int64 `json:"lag"`
	// MemberID owns the partition now; "" when no member does.
	MemberID string `json:"memberId"`
}

// Groups describes groups (every group the cluster knows when none is
// named), sorted by id.
func (c *Client) Groups(ctx context.Context, ids ...string) ([]Group, error) {
	// kafka-go sends ListGroups to every broker it knows of; knowing none
	// (the cluster never answered) it would report no groups, not an
	// error. Its metadata call reports why it knows none.
	if _, err := c.kc.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{}}); err != nil {
		return nil, c.wrap("metadata", err)
	}
	if len(ids) == 0 {
		list, err := c.kc.ListGroups(ctx, &kafka.ListGroupsRequest{})
		if err == nil {
			err = list.Error
		}
		if err != nil {
			return nil, c.wrap("list groups", err)
		}
		for _, g := range list.Groups {
			if !slices.Contains(ids, g.GroupID) {
				ids = append(ids, g.GroupID)
			}
		}
		if len(ids) == 0 {
			return []Group{}, nil
		}
	}
	slices.Sort(ids)
	desc, err := c.kc.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: ids})
	if err != nil {
		return nil, c.wrap("describe groups", err)
	}
	byID := map[string]kafka.DescribeGroupsResponseGroup{}
	for _, g := range desc.Groups {
		byID[g.GroupID] = g
	}
	var groups []Group
	var wanted []topicPartition
	for _, id := range ids {
		d, ok := byID[id]
		g := Group{ID: id, State: d.GroupState, Members: []Member{}, Partitions: []GroupPartition{}}
		if !ok {
			g.State, g.Error = "Dead", "the coordinator did not describe this group"
		}
		if d.Error != nil {
			g.Error = d.Error.Error()
		}
		owner := map[topicPartition]string{}
		for _, m := range d.Members {
			mem := Member{ID: m.MemberID, ClientID: m.ClientID, Host: m.ClientHost, Assignments: []Assignment{}}
			for _, a := range m.MemberAssignments.Topics {
				ps := slices.Clone(a.Partitions)
				slices.Sort(ps)
				mem.Assignments = append(mem.Assignments, Assignment{Topic: a.Topic, Partitions: ps})
				for _, p := range ps {
					owner[topicPartition{a.Topic, p}] = m.MemberID
				}
			}
			slices.SortFunc(mem.Assignments, func(a, b Assignment) int { return strings.Compare(a.Topic, b.Topic) })
			g.Members = append(g.Members, mem)
		}
		slices.SortFunc(g.Members, func(a, b Member) int { return strings.Compare(a.ID, b.ID) })

		committed, err := c.committed(ctx, id, nil)
		if err != nil {
			return nil, err
		}
		g.Partitions = groupPartitions(committed, owner)
		for _, p := range g.Partitions {
			wanted = append(wanted, topicPartition{p.Topic, p.Partition})
		}
		groups = append(groups, g)
	}
	ends, err := c.offsets(ctx, wanted)
	if err != nil {
		return nil, err
	}
	for i := range groups {
		for j := range groups[i].Partitions {
			p := &groups[i].Partitions[j]
			o, ok := ends[topicPartition{p.Topic, p.Partition}]
			p.End, p.Lag = lag(o, ok, p.Committed)
		}
	}
	return groups, nil
}

type topicPartition struct {
	topic     string
	partition int
}

// groupPartitions lists the partitions a group has committed offsets for
// or owns, in topic and partition order, with their owner and committed
// offset (-1 for none); End and Lag are filled in later.
func groupPartitions(committed map[topicPartition]int64, owner map[topicPartition]string) []GroupPartition {
	seen := map[topicPartition]bool{}
	var keys []topicPartition
	for tp := range committed {
		seen[tp] = true
		keys = append(keys, tp)
	}
	for tp := range owner {
		if !seen[tp] {
			keys = append(keys, tp)
		}
	}
	slices.SortFunc(keys, func(a, b topicPartition) int {
		if c := strings.Compare(a.topic, b.topic); c != 0 {
			return c
		}
		return a.partition - b.partition
	})
	out := make([]GroupPartition, 0, len(keys))
	for _, tp := range keys {
		c, ok := committed[tp]
		if !ok {
			c = -1
		}
		out = append(out, GroupPartition{Topic: tp.topic, Partition: tp.partition, Committed: c, MemberID: owner[tp]})
	}
	return out
}

// span is a partition's earliest and end offsets.
type span struct{ earliest, end int64 }

// lag returns a group partition's end offset and lag from the partition's
// offsets (ok false when they could not be read) and the group's committed
// offset (-1 for none).
func lag(o span, ok bool, committed int64) (end, lag int64) {
	if !ok || o.end < 0 {
		return -1, -1
	}
	if committed < 0 {
		return o.end, max(0, o.end-max(o.earliest, 0))
	}
	return o.end, max(0, o.end-committed)
}

// committed returns the offsets group has committed, on the partitions
// given or (nil) on every partition it ever committed to. A partition
// without a commit is left out.
func (c *Client) committed(ctx context.Context, group string, topics map[string][]int) (map[topicPartition]int64, error) {
	resp, err := c.kc.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: topics})
	if err == nil {
		err = resp.Error
	}
	out := map[topicPartition]int64{}
	if errors.Is(err, kafka.GroupIdNotFound) {
		return out, nil // a group that never was has committed nothing (Kafka says so with an empty answer, kfake with this error)
	}
	if err != nil {
		return nil, c.wrap("committed offsets of "+group, err)
	}
	for topic, ps := range resp.Topics {
		for _, p := range ps {
			if p.Error != nil {
				return nil, c.wrap(fmt.Sprintf("committed offset of %s on %s/%d", group, topic, p.Partition), p.Error)
			}
			if p.CommittedOffset >= 0 {
				out[topicPartition{topic, p.Partition}] = p.CommittedOffset
			}
		}
	}
	return out, nil
}

// offsets returns the earliest and end offsets of partitions; a partition
// whose offsets cannot be read (a deleted topic, no leader) is left out.
func (c *Client) offsets(ctx context.Context, tps []topicPartition) (map[topicPartition]span, error) {
	out := map[topicPartition]span{}
	if len(tps) == 0 {
		return out, nil
	}
	// Ask only for topics the cluster has: kafka-go cannot route a
	// ListOffsets request for a topic it has no metadata for.
	var names []string
	for _, tp := range tps {
		if !slices.Contains(names, tp.topic) {
			names = append(names, tp.topic)
		}
	}
	md, err := c.kc.Metadata(ctx, &kafka.MetadataRequest{Topics: names})
	if err != nil {
		return nil, c.wrap("metadata", err)
	}
	led := map[topicPartition]bool{}
	for _, t := range md.Topics {
		for _, p := range t.Partitions {
			led[topicPartition{t.Name, p.ID}] = t.Error == nil && p.Error == nil && p.Leader.Host != ""
		}
	}
	req := map[string][]kafka.OffsetRequest{}
	for _, tp := range tps {
		if led[tp] {
			req[tp.topic] = append(req[tp.topic], kafka.FirstOffsetOf(tp.partition), kafka.LastOffsetOf(tp.partition))
		}
	}
	if len(req) == 0 {
		return out, nil
	}
	resp, err := c.kc.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: req})
	if err != nil {
		return nil, c.wrap("list offsets", err)
	}
	for topic, ps := range resp.Topics {
		for _, p := range ps {
			if p.Error == nil {
				out[topicPartition{topic, p.Partition}] = span{p.FirstOffset, p.LastOffset}
			}
		}
	}
	return out, nil
}
