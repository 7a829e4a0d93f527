// Package events holds the contracts the services exchange over Kafka: the
// record values, the topic names and the order statuses. It is data only; the
// JSON Schemas in schemas/ describe the same records for other languages and
// for the tests that validate every record they observe.
package events

import (
	"embed"
	"time"
)

// Topic names: constants, not settings. The harness, compose and the
// Kubernetes manifests create these topics and no others.
const (
	TopicOrdersCreated     = "orders.created"
	TopicStockReservations = "stock.reservations"
	TopicOrdersStatus      = "orders.status"
	TopicInventoryUpdated  = "inventory.updated"
)

// Topics are the kit's topics in the order an order crosses them. Each has a
// dead-letter topic, DLQ(topic).
var Topics = []string{TopicOrdersCreated, TopicStockReservations, TopicOrdersStatus, TopicInventoryUpdated}

// Partitions is the partition count of every kit topic and dead-letter
// topic. Keys (order ids, SKUs) spread over them; a consumer group has work
// for at most this many members per topic.
const Partitions = 3

// Consumer groups. notifications-api uses none: every instance reads every
// partition of orders.status, so a browser may follow an order on any of them.
const (
	// GroupStockService reads orders.created (reserve) and orders.status
	// (release what a failed order had reserved).
	GroupStockService = "stock-service-cg"
	// GroupOrdersProcessor reads stock.reservations.
	GroupOrdersProcessor = "orders-processor-cg"
)

// MaxQty is the largest quantity of one item of an order, so no sum of
// quantities over an order's items can overflow.
const MaxQty = 1_000_000

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
	// HeaderDLQTruncated ("true") marks a copy whose value was cut to fit
	// the dead-letter topic, and HeaderDLQOriginalSize holds the original
	// value's length in bytes: a record near the broker's size limit no
	// longer fits once the headers above are added. The whole record is
	// still on its source topic at the offset the headers name, while the
	// topic's retention keeps it.
	HeaderDLQTruncated    = "dlq.truncated"
	HeaderDLQOriginalSize = "dlq.original.size"
	// HeaderDLQReplayed marks a record an operator produced back to its
	// source topic from the dead-letter topic (the time of the replay).
	HeaderDLQReplayed = "dlq.replayed"
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

// FailureKind is why an order ended FAILED, as a value a reader can switch
// on; the reason beside it is for people and its words may change.
type FailureKind string

// The failure kinds.
const (
	// FailureOutOfStock: stock-service had too little of an item (it
	// rejected the order, so nothing was taken and nobody paid).
	FailureOutOfStock FailureKind = "OUT_OF_STOCK"
	// FailurePaymentDeclined: the stock was reserved, the payment rule
	// declined the order, and stock-service gives the stock back.
	FailurePaymentDeclined FailureKind = "PAYMENT_DECLINED"
)

// FailureKinds are the failure kinds, in the order of the schema's enum.
var FailureKinds = []FailureKind{FailureOutOfStock, FailurePaymentDeclined}

// OutOfStockPrefix starts the reason of a stock.reservations REJECTED for
// want of stock; stock-service also rejects an order it cannot apply at all
// ("invalid order: …"). stock.reservations carries no kind, so
// orders-processor tells the two apart by this prefix — the only service that
// reads a reason's words — and writes the kind on orders.status for every
// reader after it.
const OutOfStockPrefix = "out of stock: "

// Item is one line of an order: a stock-keeping unit and a whole quantity
// from 1 to MaxQty.
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

// ReservationResult is stock-service's answer to an order.
type ReservationResult string

// The reservation results.
const (
	// Reserved: every item was taken from stock, in one transaction.
	Reserved ReservationResult = "RESERVED"
	// Rejected: nothing was taken; the reason names what was short.
	Rejected ReservationResult = "REJECTED"
)

// StockReservation is the value of a record on stock.reservations, keyed by
// OrderID. stock-service produces one per order it read on orders.created,
// through its outbox; orders-processor turns it into the order's statuses.
// Reason is set when Result is REJECTED; Items are the order's items.
// Total and Currency carry the order's amount on to the payment step, which
// reads only this topic (DESIGN.md's first sketch of the record lacked them).
type StockReservation struct {
	OrderID   string            `json:"orderId"`
	Result    ReservationResult `json:"result"`
	Reason    string            `json:"reason,omitempty"`
	Items     []Item            `json:"items"`
	Total     float64           `json:"total"`
	Currency  string            `json:"currency"`
	UpdatedAt time.Time         `json:"updatedAt"`
}

// OrderStatus is the value of a record on orders.status, keyed by OrderID.
// orders-processor is its only writer. Reason is set when Status is FAILED.
//
// FailureKind says why a FAILED order failed (OUT_OF_STOCK or
// PAYMENT_DECLINED); orders-processor writes it only when Status is FAILED
// and a reader ignores it on any other status (the schema cannot tie it to
// FAILED: registries refuse a conditional subschema added to a contract as
// incompatible). It is optional:
// absent ("") in records written before it existed and on a failure that
// is neither kind (stock-service rejecting an order it cannot apply). A
// reader switches on it and falls back to the reason's words only for a
// FAILED record without one.
//
// Seq is the status's place in its order's lifecycle, from 1: CREATED 1,
// PROCESSING 2, PAID or FAILED 3; an order rejected for stock goes CREATED
// 1, FAILED 2. orders-processor writes each status of an order once (its
// ledger), but a producer retry or a relay resend can still put a record on
// the topic twice, and a reader may meet a stale one after a newer: a reader
// keeps the highest Seq it has seen per order and drops any status whose Seq
// is not higher (a repeat or a stale one), so a finished order stays
// finished for it. Seq is 0 (absent on the wire) in records written before
// it existed; those carry no order a reader can check.
type OrderStatus struct {
	OrderID     string      `json:"orderId"`
	Status      Status      `json:"status"`
	Reason      string      `json:"reason,omitempty"`
	FailureKind FailureKind `json:"failureKind,omitempty"`
	Seq         int         `json:"seq,omitempty"`
	UpdatedAt   time.Time   `json:"updatedAt"`
}

// InventoryUpdated is the value of a record on inventory.updated, keyed by
// SKU. stock-service emits one per SKU of an order it reserved (Delta < 0)
// and one per SKU of a failed order it released (Delta > 0).
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
