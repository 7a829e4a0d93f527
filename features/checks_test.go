package features

import (
	"encoding/json"
	"maps"
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
	// status is one status record of a delivery at second at.
	status := func(s events.Status, at int) harness.Record {
		v, _ := json.Marshal(events.OrderStatus{OrderID: "o", Status: s, UpdatedAt: time.Unix(int64(at), 0).UTC()})
		return harness.Record{Key: "o", Value: v}
	}
	const c, p, paid, failed = events.StatusCreated, events.StatusProcessing, events.StatusPaid, events.StatusFailed
	tests := []struct {
		name               string
		recs               []harness.Record
		deliveries, resent int
		wantErr            string
	}{
		{"one delivery", []harness.Record{status(c, 1), status(p, 1), status(paid, 2)}, 1, 0, ""},
		{"a resent record", []harness.Record{status(c, 1), status(p, 1), status(paid, 2), status(paid, 2)}, 1, 1, ""},
		{"redelivered after it was paid", []harness.Record{status(c, 1), status(p, 1), status(paid, 2), status(c, 3), status(p, 3), status(paid, 4)}, 2, 0, ""},
		{"redelivered after a crash before paying", []harness.Record{status(c, 1), status(p, 1), status(c, 3), status(p, 3), status(paid, 4)}, 2, 0, ""},
		{"two deliveries at once", []harness.Record{status(c, 1), status(p, 1), status(c, 2), status(p, 2), status(paid, 3), status(paid, 4)}, 2, 0, "out of order"},
		{"paid before processing", []harness.Record{status(c, 1), status(paid, 2)}, 1, 0, "out of order"},
		{"failed", []harness.Record{status(c, 1), status(p, 1), status(failed, 2)}, 1, 0, "out of order"},
		{"not paid yet", []harness.Record{status(c, 1), status(p, 1)}, 1, 0, "do not end with PAID"},
		{"on two partitions", []harness.Record{status(c, 1), {Key: "o", Partition: 1, Value: status(p, 1).Value}, status(paid, 2)}, 1, 0, "partitions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			deliveries, resent, err := lifecycle(tt.recs)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("lifecycle = %v, want an error saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || deliveries != tt.deliveries || resent != tt.resent {
				t.Errorf("lifecycle = %d deliveries, %d resent, %v; want %d, %d, nil", deliveries, resent, err, tt.deliveries, tt.resent)
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
