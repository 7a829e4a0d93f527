package events_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/kafkakit/kit/services/events"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var at = time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC)

type goldenCase struct {
	golden string
	topic  string
	value  any
}

func goldenCases() []goldenCase {
	return []goldenCase{
		{"order_created.json", events.TopicOrdersCreated, events.OrderCreated{
			OrderID: "5f0c7e0a-8d1e-4b8e-9a52-3c1f2f6f7a10", UserID: "user-42",
			Items: []events.Item{{SKU: "BOOK-1", Qty: 2}, {SKU: "PEN-7", Qty: 1}},
			Total: 31.5, Currency: "EUR", CreatedAt: at,
		}},
		{"stock_reserved.json", events.TopicStockReservations, events.StockReservation{
			OrderID: "5f0c7e0a-8d1e-4b8e-9a52-3c1f2f6f7a10", Result: events.Reserved,
			Items: []events.Item{{SKU: "BOOK-1", Qty: 2}, {SKU: "PEN-7", Qty: 1}}, Total: 31.5, Currency: "EUR", UpdatedAt: at,
		}},
		{"stock_rejected.json", events.TopicStockReservations, events.StockReservation{
			OrderID: "5f0c7e0a-8d1e-4b8e-9a52-3c1f2f6f7a10", Result: events.Rejected,
			Reason: "out of stock: PEN-7 has 0 left, the order asks for 1",
			Items:  []events.Item{{SKU: "BOOK-1", Qty: 2}, {SKU: "PEN-7", Qty: 1}}, Total: 31.5, Currency: "EUR", UpdatedAt: at,
		}},
		{"order_status_paid.json", events.TopicOrdersStatus, events.OrderStatus{
			OrderID: "5f0c7e0a-8d1e-4b8e-9a52-3c1f2f6f7a10", Status: events.StatusPaid, Seq: 3, UpdatedAt: at,
		}},
		{"order_status_failed.json", events.TopicOrdersStatus, events.OrderStatus{
			OrderID: "5f0c7e0a-8d1e-4b8e-9a52-3c1f2f6f7a10", Status: events.StatusFailed,
			Reason:      "payment declined: total 1500.00 EUR is over the 1000.00 limit",
			FailureKind: events.FailurePaymentDeclined, Seq: 3, UpdatedAt: at,
		}},
		{"order_status_out_of_stock.json", events.TopicOrdersStatus, events.OrderStatus{
			OrderID: "5f0c7e0a-8d1e-4b8e-9a52-3c1f2f6f7a10", Status: events.StatusFailed,
			Reason:      "out of stock: PEN-7 has 0 left, the order asks for 1",
			FailureKind: events.FailureOutOfStock, Seq: 2, UpdatedAt: at,
		}},
		{"inventory_updated.json", events.TopicInventoryUpdated, events.InventoryUpdated{
			SKU: "BOOK-1", Delta: -2, NewQuantity: 8, OrderID: "5f0c7e0a-8d1e-4b8e-9a52-3c1f2f6f7a10", UpdatedAt: at,
		}},
	}
}

func TestGoldenJSON(t *testing.T) {
	for _, tt := range goldenCases() {
		t.Run(tt.golden, func(t *testing.T) {
			got, err := json.MarshalIndent(tt.value, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", tt.golden)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("marshal %T:\ngot  %s\nwant %s", tt.value, got, want)
			}
			if err := compile(t, tt.topic).Validate(decode(t, want)); err != nil {
				t.Errorf("golden %s does not match the %s schema: %v", tt.golden, tt.topic, err)
			}
		})
	}
}

func TestSchemasRejectBrokenRecords(t *testing.T) {
	tests := []struct {
		name  string
		topic string
		value string
	}{
		{"order without items", events.TopicOrdersCreated, `{"orderId":"5f0c7e0a-8d1e-4b8e-9a52-3c1f2f6f7a10","userId":"u","items":[],"total":1,"currency":"EUR","createdAt":"2026-11-25T09:30:00Z"}`},
		{"order with zero quantity", events.TopicOrdersCreated, `{"orderId":"5f0c7e0a-8d1e-4b8e-9a52-3c1f2f6f7a10","userId":"u","items":[{"sku":"A","qty":0}],"total":1,"currency":"EUR","createdAt":"2026-11-25T09:30:00Z"}`},
		{"order with a local time", events.TopicOrdersCreated, `{"orderId":"5f0c7e0a-8d1e-4b8e-9a52-3c1f2f6f7a10","userId":"u","items":[{"sku":"A","qty":1}],"total":1,"currency":"EUR","createdAt":"2026-11-25T10:30:00+01:00"}`},
		{"order with snake_case field", events.TopicOrdersCreated, `{"order_id":"5f0c7e0a-8d1e-4b8e-9a52-3c1f2f6f7a10","userId":"u","items":[{"sku":"A","qty":1}],"total":1,"currency":"EUR","createdAt":"2026-11-25T09:30:00Z"}`},
		{"unknown status", events.TopicOrdersStatus, `{"orderId":"5f0c7e0a-8d1e-4b8e-9a52-3c1f2f6f7a10","status":"SHIPPED","updatedAt":"2026-11-25T09:30:00Z"}`},
		{"failure without reason", events.TopicOrdersStatus, `{"orderId":"5f0c7e0a-8d1e-4b8e-9a52-3c1f2f6f7a10","status":"FAILED","updatedAt":"2026-11-25T09:30:00Z"}`},
		{"status with seq 0", events.TopicOrdersStatus, `{"orderId":"5f0c7e0a-8d1e-4b8e-9a52-3c1f2f6f7a10","status":"PAID","seq":0,"updatedAt":"2026-11-25T09:30:00Z"}`},
		{"status with a fractional seq", events.TopicOrdersStatus, `{"orderId":"5f0c7e0a-8d1e-4b8e-9a52-3c1f2f6f7a10","status":"PAID","seq":1.5,"updatedAt":"2026-11-25T09:30:00Z"}`},
		{"status with a seq in a string", events.TopicOrdersStatus, `{"orderId":"5f0c7e0a-8d1e-4b8e-9a52-3c1f2f6f7a10","status":"PAID","seq":"3","updatedAt":"2026-11-25T09:30:00Z"}`},
		{"failure of an unknown kind", events.TopicOrdersStatus, `{"orderId":"5f0c7e0a-8d1e-4b8e-9a52-3c1f2f6f7a10","status":"FAILED","reason":"x","failureKind":"CARD_EXPIRED","updatedAt":"2026-11-25T09:30:00Z"}`},
		{"a failure kind without a reason", events.TopicOrdersStatus, `{"orderId":"5f0c7e0a-8d1e-4b8e-9a52-3c1f2f6f7a10","status":"FAILED","failureKind":"OUT_OF_STOCK","updatedAt":"2026-11-25T09:30:00Z"}`},
		{"paid with a reason", events.TopicOrdersStatus, `{"orderId":"5f0c7e0a-8d1e-4b8e-9a52-3c1f2f6f7a10","status":"PAID","reason":"x","updatedAt":"2026-11-25T09:30:00Z"}`},
		{"order for more than the largest quantity", events.TopicOrdersCreated, `{"orderId":"5f0c7e0a-8d1e-4b8e-9a52-3c1f2f6f7a10","userId":"u","items":[{"sku":"A","qty":1000001}],"total":1,"currency":"EUR","createdAt":"2026-11-25T09:30:00Z"}`},
		{"order with a huge quantity", events.TopicOrdersCreated, `{"orderId":"5f0c7e0a-8d1e-4b8e-9a52-3c1f2f6f7a10","userId":"u","items":[{"sku":"A","qty":9223372036854775807}],"total":1,"currency":"EUR","createdAt":"2026-11-25T09:30:00Z"}`},
		{"rejection without reason", events.TopicStockReservations, `{"orderId":"5f0c7e0a-8d1e-4b8e-9a52-3c1f2f6f7a10","result":"REJECTED","items":[{"sku":"A","qty":1}],"total":1,"currency":"EUR","updatedAt":"2026-11-25T09:30:00Z"}`},
		{"reservation with a reason", events.TopicStockReservations, `{"orderId":"5f0c7e0a-8d1e-4b8e-9a52-3c1f2f6f7a10","result":"RESERVED","reason":"x","items":[{"sku":"A","qty":1}],"total":1,"currency":"EUR","updatedAt":"2026-11-25T09:30:00Z"}`},
		{"unknown reservation result", events.TopicStockReservations, `{"orderId":"5f0c7e0a-8d1e-4b8e-9a52-3c1f2f6f7a10","result":"MAYBE","items":[{"sku":"A","qty":1}],"total":1,"currency":"EUR","updatedAt":"2026-11-25T09:30:00Z"}`},
		{"reservation without items", events.TopicStockReservations, `{"orderId":"5f0c7e0a-8d1e-4b8e-9a52-3c1f2f6f7a10","result":"RESERVED","items":[],"total":1,"currency":"EUR","updatedAt":"2026-11-25T09:30:00Z"}`},
		{"reservation without its total", events.TopicStockReservations, `{"orderId":"5f0c7e0a-8d1e-4b8e-9a52-3c1f2f6f7a10","result":"RESERVED","items":[{"sku":"A","qty":1}],"currency":"EUR","updatedAt":"2026-11-25T09:30:00Z"}`},
		{"inventory change of nothing", events.TopicInventoryUpdated, `{"sku":"A","delta":0,"newQuantity":1,"orderId":"o","updatedAt":"2026-11-25T09:30:00Z"}`},
		{"negative stock", events.TopicInventoryUpdated, `{"sku":"A","delta":-1,"newQuantity":-1,"orderId":"o","updatedAt":"2026-11-25T09:30:00Z"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := compile(t, tt.topic).Validate(decode(t, []byte(tt.value))); err == nil {
				t.Errorf("schema %s accepted %s", tt.topic, tt.value)
			}
		})
	}
}

func TestFinal(t *testing.T) {
	for _, tt := range []struct {
		status events.Status
		want   bool
	}{{events.StatusCreated, false}, {events.StatusProcessing, false}, {events.StatusPaid, true}, {events.StatusFailed, true}} {
		if got := tt.status.Final(); got != tt.want {
			t.Errorf("%s.Final() = %v, want %v", tt.status, got, tt.want)
		}
	}
}

func compile(t testing.TB, topic string) *jsonschema.Schema {
	t.Helper()
	raw, err := events.Schemas.ReadFile(events.SchemaFile(topic))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(topic, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(topic)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func decode(t testing.TB, raw []byte) any {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return v
}
