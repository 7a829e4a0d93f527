// Package events holds the contracts the services exchange over Kafka: the
// record values, the topic names and the order statuses. It is data only; the
// JSON Schemas in schemas/ describe the same records for other languages and
// for the tests that validate every record they observe.
package events

import (
	"embed"
	"time"
)

// Default topic names. Services read the actual names from their config.
const (
	TopicOrdersCreated    = "orders.created"
	TopicOrdersStatus     = "orders.status"
	TopicInventoryUpdated = "inventory.updated"
)

// DLQSuffix is appended to a topic name to form its dead-letter topic.
const DLQSuffix = ".dlq"

// DLQ returns the dead-letter topic of topic.
func DLQ(topic string) string { return topic + DLQSuffix }

// Headers set on a dead-lettered record, next to its original key and value.
const (
	HeaderDLQError           = "dlq.error"
	HeaderDLQSourceTopic     = "dlq.source.topic"
	HeaderDLQSourcePartition = "dlq.source.partition"
	HeaderDLQSourceOffset    = "dlq.source.offset"
	HeaderDLQConsumerGroup   = "dlq.consumer.group"
)

// Status is the state of an order in its lifecycle:
// CREATED -> PROCESSING -> PAID | FAILED.
type Status string

// The order statuses, in lifecycle order.
const (
	StatusCreated    Status = "CREATED"
	StatusProcessing Status = "PROCESSING"
	StatusPaid       Status = "PAID"
	StatusFailed     Status = "FAILED"
)

// Final reports whether no status follows s.
func (s Status) Final() bool { return s == StatusPaid || s == StatusFailed }

// Item is one line of an order: a stock-keeping unit and a whole quantity.
type Item struct {
	SKU string `json:"sku"`
	Qty int    `json:"qty"`
}

// OrderCreated is the value of a record on orders.created, keyed by OrderID.
// It is produced by orders-api once the order passed validation.
type OrderCreated struct {
	OrderID   string    `json:"orderId"`
	UserID    string    `json:"userId"`
	Items     []Item    `json:"items"`
	Total     float64   `json:"total"`
	Currency  string    `json:"currency"`
	CreatedAt time.Time `json:"createdAt"`
}

// OrderStatus is the value of a record on orders.status, keyed by OrderID.
// orders-processor is its only writer. Reason is set when Status is FAILED.
type OrderStatus struct {
	OrderID   string    `json:"orderId"`
	Status    Status    `json:"status"`
	Reason    string    `json:"reason,omitempty"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// InventoryUpdated is the value of a record on inventory.updated, keyed by
// SKU. stock-service emits one per item of an order it applied; Delta is
// negative for an order taking stock.
type InventoryUpdated struct {
	SKU         string    `json:"sku"`
	Delta       int       `json:"delta"`
	NewQuantity int       `json:"newQuantity"`
	OrderID     string    `json:"orderId"`
	UpdatedAt   time.Time `json:"updatedAt"`
}

// Schemas holds one JSON Schema (draft 2020-12) per record value:
// schemas/<topic>.schema.json.
//
//go:embed schemas/*.schema.json
var Schemas embed.FS

// SchemaFile returns the path inside Schemas of topic's schema.
func SchemaFile(topic string) string { return "schemas/" + topic + ".schema.json" }
