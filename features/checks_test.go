package features

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kafkakit/kit/harness"
	"github.com/kafkakit/kit/services/events"
)

func TestNarrowTags(t *testing.T) {
	tests := []struct{ only, filter, want string }{
		{"", "~@real-kafka", "~@real-kafka"},
		{"@scaling,@cluster", "", "@scaling,@cluster"},
		{"@scaling,@cluster", "~@fault && ~@real-kafka", "@scaling && ~@fault && ~@real-kafka,@cluster && ~@fault && ~@real-kafka"},
		{" @scaling ", "~@x", "@scaling && ~@x"},
	}
	for _, tt := range tests {
		if got := narrowTags(tt.only, tt.filter); got != tt.want {
			t.Errorf("narrowTags(%q, %q) = %q, want %q", tt.only, tt.filter, got, tt.want)
		}
	}
}

func TestLifecycle(t *testing.T) {
	// status is one status record with seq n at offset off.
	status := func(s events.Status, n int, off int64) harness.Record {
		v, _ := json.Marshal(events.OrderStatus{OrderID: "o", Status: s, Seq: n, UpdatedAt: time.Unix(off, 0).UTC()})
		return harness.Record{Key: "o", Offset: off, Value: v}
	}
	const c, p, paid, failed = events.StatusCreated, events.StatusProcessing, events.StatusPaid, events.StatusFailed
	tests := []struct {
		name    string
		recs    []harness.Record
		kept    []events.Status
		repeats int
		wantErr string
	}{
		{"paid", []harness.Record{status(c, 1, 0), status(p, 2, 1), status(paid, 3, 2)}, []events.Status{c, p, paid}, 0, ""},
		{"declined", []harness.Record{status(c, 1, 0), status(p, 2, 1), status(failed, 3, 2)}, []events.Status{c, p, failed}, 0, ""},
		{"out of stock", []harness.Record{status(c, 1, 0), status(failed, 2, 1)}, []events.Status{c, failed}, 0, ""},
		{"a resent record", []harness.Record{status(c, 1, 0), status(p, 2, 1), status(p, 2, 2), status(paid, 3, 3), status(paid, 3, 4)}, []events.Status{c, p, paid}, 2, ""},
		{"a lifecycle written again with its seqs", []harness.Record{status(c, 1, 0), status(p, 2, 1), status(paid, 3, 2), status(c, 1, 3), status(p, 2, 4), status(paid, 3, 5)}, []events.Status{c, p, paid}, 3, ""},
		{"a lifecycle written again with new seqs", []harness.Record{status(c, 1, 0), status(p, 2, 1), status(paid, 3, 2), status(c, 4, 3)}, nil, 0, "go backwards at offset 3: CREATED with a new seq 4 after PAID"},
		{"a stale status with a new seq", []harness.Record{status(c, 1, 0), status(paid, 3, 1), status(p, 2, 2)}, nil, 0, "go backwards at offset 2"},
		{"written without seq, as before the field", []harness.Record{status(c, 0, 0), status(p, 0, 1), status(paid, 0, 2), status(c, 0, 3)}, nil, 0, "has no seq"},
		{"a seq that says two things", []harness.Record{status(c, 1, 0), status(p, 2, 1), status(failed, 2, 2)}, nil, 0, "seq 2 is FAILED at offset 2 but was PROCESSING"},
		{"a seq skipped", []harness.Record{status(c, 1, 0), status(paid, 3, 1)}, nil, 0, "keep [1:CREATED 3:PAID]"},
		{"paid before processing", []harness.Record{status(c, 1, 0), status(paid, 2, 1)}, nil, 0, "no order's lifecycle"},
		{"seqs out of order", []harness.Record{status(c, 1, 0), status(p, 3, 1), status(paid, 2, 2)}, nil, 0, "keep [1:CREATED 3:PROCESSING 2:PAID]"},
		{"not final yet", []harness.Record{status(c, 1, 0), status(p, 2, 1)}, nil, 0, "no order's lifecycle"},
		{"on two partitions", []harness.Record{status(c, 1, 0), {Key: "o", Partition: 1, Value: status(p, 2, 1).Value}, status(paid, 3, 2)}, nil, 0, "partitions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kept, repeats, err := lifecycle(tt.recs)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("lifecycle = %v, want an error saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(kept, tt.kept) || repeats != tt.repeats {
				t.Errorf("lifecycle = %v, %d repeats, %v; want %v, %d, nil", kept, repeats, err, tt.kept, tt.repeats)
			}
		})
	}
}

func TestTakes(t *testing.T) {
	// update is an inventory update of SKU s by order o, leaving q.
	update := func(o string, delta, q int) harness.Record {
		v, _ := json.Marshal(events.InventoryUpdated{SKU: "S", Delta: delta, NewQuantity: q, OrderID: o})
		return harness.Record{Key: "S", Value: v}
	}
	orders := map[string]bool{"a": true, "b": true}
	tests := []struct {
		name    string
		recs    []harness.Record
		want    map[int]string
		wantErr string
	}{
		{"each once", []harness.Record{update("a", -1, 9), update("b", -1, 8)}, map[int]string{9: "a", 8: "b"}, ""},
		{"an update sent again", []harness.Record{update("a", -1, 9), update("a", -1, 9)}, map[int]string{9: "a"}, ""},
		{"other orders and SKUs left out", []harness.Record{update("c", -1, 9), {Key: "T", Value: update("a", -1, 3).Value}}, map[int]string{}, ""},
		{"taken twice", []harness.Record{update("a", -1, 9), update("a", -1, 8)}, nil, "took S twice"},
		{"a lost take", []harness.Record{update("a", -1, 9), update("b", -1, 9)}, nil, "both left 9"},
		{"more than one", []harness.Record{update("a", -2, 8)}, nil, "by -2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := takes(tt.recs, "S", orders)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("takes = %v, %v; want an error saying %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || !maps.Equal(got, tt.want) {
				t.Errorf("takes = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}
