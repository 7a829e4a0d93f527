package kafka

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/kafkakit/kit/harness/broker"
)

func TestPartitionsOnDisk(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"orders.created-0", "orders.created-2", "orders.created-1", "__consumer_offsets-0",
		"my-topic-with-dashes-10", "orders.status-0.0f2c5b1e9a3d4c7b8e6f5a4b3c2d1e0f-delete", "not-a-partition-x"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"meta.properties", "recovery-point-offset-checkpoint", "file-3"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := partitionsOnDisk([]string{dir, filepath.Join(dir, "missing")})
	if err != nil {
		t.Fatalf("partitionsOnDisk: %v", err)
	}
	want := []broker.Topic{
		{Name: "__consumer_offsets", Partitions: 1},
		{Name: "my-topic-with-dashes", Partitions: 11},
		{Name: "orders.created", Partitions: 3},
	}
	if !slices.Equal(got, want) {
		t.Errorf("partitionsOnDisk = %v, want %v", got, want)
	}
}
