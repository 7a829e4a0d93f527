package stream_test

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/kafkakit/kit/services/platform/stream/streamtest"
)

// TestCommitsStayInTheirGeneration runs the rebalance check on the embedded
// broker (kfake), which speaks the group protocol the way Kafka does:
// commits through an old generation are refused once the next one formed.
// The harness runs the same check on real Kafka.
func TestCommitsStayInTheirGeneration(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	streamtest.Rebalance(t, cluster.ListenAddrs())
}
