package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
	"unicode"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/segmentio/kafka-go"

	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/outbox"
	"github.com/kafkakit/kit/services/platform/sqldb"
	"github.com/kafkakit/kit/services/platform/tracing"
)

// Store is the inventory. Every change to it is one transaction that also
// records the order in a ledger of reservations and queues the records it
// causes in an outbox: a redelivered order or status changes nothing, and
// no record is lost between the commit and the produce.
type Store struct {
	db     *sqldb.DB
	outbox *outbox.Outbox
	topics Topics
	q      queries
	// writer applies the changes that are waiting together in one
	// transaction (group commit), and hands what each commit queued to the
	// onCommit OpenStore was given.
	writer *sqldb.GroupWriter[opResult]
}

// Topics are where the store's records go.
type Topics struct {
	Reservations string // stock.reservations
	Inventory    string // inventory.updated
}

// Outcome is what became of an order in stock-service: its ledger entry.
type Outcome struct {
	OrderID string `json:"orderId"`
	// Result is the answer stock-service gave on stock.reservations,
	// events.Reserved (stock taken) or events.Rejected (nothing taken), or
	// Released (taken, then given back when the order failed).
	Result events.ReservationResult `json:"result"`
	Reason string                   `json:"reason,omitempty"`
	// Items are the quantities per SKU the order asked for.
	Items       []events.Item `json:"items"`
	ProcessedAt time.Time     `json:"processedAt"`
	ReleasedAt  *time.Time    `json:"releasedAt,omitempty"`
}

// Released is the ledger's own state of an order that was reserved, then
// failed, and got its stock back. It stays here, not in services/events:
// no record carries it (stock.reservations answers once, RESERVED or
// REJECTED; the release itself goes out on inventory.updated), so it is not
// part of any contract, only of GET /orders/{orderId}.
const Released events.ReservationResult = "RELEASED"

// errUnknownOrder: a status for an order stock-service never reserved.
var errUnknownOrder = errors.New("order not in the reservations ledger")

// errInvalidOrder marks an order no retry can apply (absurd quantities, a
// SKU no store can hold).
var errInvalidOrder = errors.New("invalid order")

// invalidOrder is an errInvalidOrder saying why, in words fit for the
// order's answer: nothing internal (SQL, driver text) is in it.
type invalidOrder struct{ why string }

func invalid(format string, args ...any) error {
	return &invalidOrder{why: fmt.Sprintf(format, args...)}
}

func (e *invalidOrder) Error() string        { return errInvalidOrder.Error() + ": " + e.why }
func (e *invalidOrder) Is(target error) bool { return target == errInvalidOrder }

// Bounds of a rejection's reason, so an answer is never much larger than
// the order it answers (events.MaxReasonBytes in all).
const (
	// maxNamedSKUs short SKUs are named; the rest are counted ("and 12 more").
	maxNamedSKUs = 10
	// maxQuotedSKU bytes of a SKU are quoted in a reason.
	maxQuotedSKU = 64
)

func schema(d sqldb.Dialect) string {
	return `
CREATE TABLE IF NOT EXISTS inventory (
	sku      TEXT PRIMARY KEY,
	quantity BIGINT NOT NULL CHECK (quantity >= 0)
)` + sqldb.WithoutRowID(d) + `;
CREATE TABLE IF NOT EXISTS reservations (
	order_id     TEXT PRIMARY KEY,
	result       TEXT NOT NULL,
	reason       TEXT NOT NULL DEFAULT '',
	items        TEXT NOT NULL,
	processed_at TEXT NOT NULL,
	released_at  TEXT
);
` + outbox.Schema(d)
}

// queries are the statements of the order path, in the store's dialect.
type queries struct {
	quantity, setQuantity                      string
	ledger, ledgerLocked, record, markReleased string
}

func newQueries(db *sqldb.DB) queries {
	lock := ""
	if db.Dialect == sqldb.Postgres {
		// Two instances never read the same stock, or the same ledger
		// entry, at once: the second waits for the first's commit and
		// reads what it left (a release given back once, not twice).
		lock = " FOR UPDATE"
	}
	return queries{
		quantity:     db.Rebind(`SELECT quantity FROM inventory WHERE sku = ?` + lock),
		setQuantity:  db.Rebind(`UPDATE inventory SET quantity = ? WHERE sku = ?`),
		ledger:       db.Rebind(`SELECT order_id, result, reason, items, processed_at, released_at FROM reservations WHERE order_id = ?`),
		ledgerLocked: db.Rebind(`SELECT order_id, result, reason, items, processed_at, released_at FROM reservations WHERE order_id = ?` + lock),
		record:       db.Rebind(`INSERT INTO reservations (order_id, result, reason, items, processed_at) VALUES (?, ?, ?, ?, ?)`),
		markReleased: db.Rebind(`UPDATE reservations SET result = ?, released_at = ? WHERE order_id = ?`),
	}
}

// OpenStore sets up (creating tables if needed) the stock store on db,
// queuing its records for topics in ob, an outbox in db. onCommit is
// handed what each commit put in the outbox, right after the commit and in
// commit order: the relay's Committed, so it sends the records without
// reading them back. The store owns db from here: Close closes it, and so
// does a failure.
func OpenStore(ctx context.Context, db *sqldb.DB, ob *outbox.Outbox, topics Topics, onCommit func([]outbox.Queued)) (*Store, error) {
	if err := db.CreateSchema(ctx, schema(db.Dialect)); err != nil {
		db.Close()
		return nil, fmt.Errorf("create the stock schema: %w", err)
	}
	// Ledgers written before the results took the contract's words say
	// "reserved", "rejected", "released": a release would find no reserved
	// order in them. One pass brings them in line; afterwards it matches
	// no row.
	if _, err := db.ExecContext(ctx, `UPDATE reservations SET result = UPPER(result) WHERE result IN ('reserved', 'rejected', 'released')`); err != nil {
		db.Close()
		return nil, fmt.Errorf("bring the reservations ledger to the contract's words: %w", err)
	}
	q := newQueries(db)
	writer, err := sqldb.NewGroupWriter(ctx, db, outbox.HandOver[opResult](onCommit), q.quantity, q.setQuantity,
		q.ledger, q.ledgerLocked, q.record, q.markReleased, ob.InsertQuery())
	if err != nil {
		db.Close()
		return nil, err
	}
	s := &Store{db: db, outbox: ob, topics: topics, writer: writer, q: q}
	// On SQLite, one writer: its changes share commits. On PostgreSQL,
	// shared by instances, each change locks its SKUs (in SKU order) in a
	// transaction of its own, so no two instances' transactions wait on
	// each other in a cycle.
	s.writer.Separate = db.Dialect == sqldb.Postgres
	return s, nil
}

// Outbox is the store's outbox, for its relay.
func (s *Store) Outbox() *outbox.Outbox { return s.outbox }

// Close stops the writer and closes the database.
func (s *Store) Close() error {
	s.writer.Close()
	return s.db.Close()
}

// Ping is a readiness check: the stock database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.Ready(ctx) }

// op is one change, applied inside the group's transaction.
type op func(ctx context.Context, tx sqldb.Tx) (opResult, error)

type opResult struct {
	out Outcome
	// changed is false when the change had been applied before (a
	// redelivery) or had nothing to do.
	changed bool
	// queued is what the change put in the outbox.
	queued []outbox.Queued
}

func (r opResult) Queued() []outbox.Queued { return r.queued }

// apply applies o with the group writer and waits for its commit.
// The same order applied by two instances at once (a redelivery during a
// rebalance, on PostgreSQL) makes the later one's ledger insert a duplicate
// key: its transaction is rolled back and the change applied again
// (ApplyAgainOnDuplicate), which then finds the first one's ledger entry and
// changes nothing.
func (s *Store) apply(ctx context.Context, o op) (opResult, error) {
	return s.writer.ApplyAgainOnDuplicate(ctx, sqldb.Change[opResult](o))
}

// Reserve takes stock for every item of o, or for none, atomically, and
// queues its answer on stock.reservations: RESERVED with one
// inventory.updated per SKU, or REJECTED with the reason. An order seen
// before returns its first outcome and changes nothing (duplicate).
func (s *Store) Reserve(ctx context.Context, o events.OrderCreated, now time.Time) (out Outcome, duplicate bool, err error) {
	headers := tracing.Headers(ctx) // the change runs in the writer's context, not ctx
	r, err := s.apply(ctx, func(ctx context.Context, tx sqldb.Tx) (opResult, error) {
		return s.reserve(ctx, tx, o, now.UTC(), headers)
	})
	return r.out, !r.changed, err
}

// Reject answers o REJECTED with reason, taking no stock: for an order
// Reserve cannot apply for a reason no retry changes (errInvalidOrder, a
// value the database cannot store), so the order still ends — FAILED with
// why — instead of waiting for a status that never comes. It is recorded in
// the ledger and queued like any answer, in one transaction. An order seen
// before returns its first outcome (duplicate). An order whose answer
// would break the stock.reservations contract (quantities outside it) is
// errInvalidOrder; one the ledger cannot hold fails as the database says.
func (s *Store) Reject(ctx context.Context, o events.OrderCreated, reason string, now time.Time) (out Outcome, duplicate bool, err error) {
	headers := tracing.Headers(ctx)
	r, err := s.apply(ctx, func(ctx context.Context, tx sqldb.Tx) (opResult, error) {
		return s.reject(ctx, tx, o, reason, now.UTC(), headers)
	})
	return r.out, !r.changed, err
}

// Release gives back the stock of a failed order that was reserved, once,
// queueing one inventory.updated per SKU with a positive delta. A rejected
// or already released order changes nothing (released false); an order
// never seen is errUnknownOrder.
func (s *Store) Release(ctx context.Context, orderID string, now time.Time) (out Outcome, released bool, err error) {
	headers := tracing.Headers(ctx)
	r, err := s.apply(ctx, func(ctx context.Context, tx sqldb.Tx) (opResult, error) {
		return s.release(ctx, tx, orderID, now.UTC(), headers)
	})
	return r.out, r.changed, err
}

func (s *Store) reserve(ctx context.Context, tx sqldb.Tx, o events.OrderCreated, now time.Time, headers []kafka.Header) (opResult, error) {
	if prev, err := s.ledgerEntry(ctx, tx, s.q.ledgerLocked, o.OrderID); err == nil {
		return opResult{out: prev}, nil
	} else if !errors.Is(err, sql.ErrNoRows) {
		return opResult{}, err
	}
	if err := storable(o.Items); err != nil {
		return opResult{}, err
	}
	items, err := perSKU(o.Items)
	if err != nil {
		return opResult{}, err
	}
	out := Outcome{OrderID: o.OrderID, Result: events.Reserved, Items: items, ProcessedAt: now}
	have := make([]int64, len(items))
	var named []string // the first short SKUs, for the reason
	short := 0
	for i, it := range items {
		q, err := s.quantity(ctx, tx, it.SKU)
		if err != nil {
			return opResult{}, err
		}
		if q < int64(it.Qty) {
			if short++; len(named) < maxNamedSKUs {
				named = append(named, fmt.Sprintf("%s has %d left, the order asks for %d", events.Shorten(it.SKU, maxQuotedSKU), q, it.Qty))
			}
		}
		have[i] = q
	}
	answer := events.StockReservation{OrderID: o.OrderID, Result: events.Reserved, Items: o.Items,
		Total: o.Total, Currency: o.Currency, UpdatedAt: now}
	var msgs []outbox.Message
	if short > 0 {
		out.Result, out.Reason = events.Rejected, outOfStock(named, short)
		answer.Result, answer.Reason = events.Rejected, out.Reason
	} else {
		for i, it := range items {
			left := have[i] - int64(it.Qty)
			if _, err := tx.ExecContext(ctx, s.q.setQuantity, left, it.SKU); err != nil {
				return opResult{}, fmt.Errorf("take stock of %s: %w", it.SKU, err)
			}
			msgs = append(msgs, s.inventoryUpdate(it.SKU, -int64(it.Qty), left, o.OrderID, now))
		}
	}
	value, err := encodeAnswer(answer)
	if err != nil {
		return opResult{}, err
	}
	return s.answer(ctx, tx, out, value, msgs, headers)
}

func (s *Store) reject(ctx context.Context, tx sqldb.Tx, o events.OrderCreated, reason string, now time.Time, headers []kafka.Header) (opResult, error) {
	if prev, err := s.ledgerEntry(ctx, tx, s.q.ledgerLocked, o.OrderID); err == nil {
		return opResult{out: prev}, nil
	} else if !errors.Is(err, sql.ErrNoRows) {
		return opResult{}, err
	}
	reason = events.Shorten(reason, events.MaxReasonBytes)
	value, err := encodeAnswer(events.StockReservation{OrderID: o.OrderID, Result: events.Rejected, Reason: reason,
		Items: o.Items, Total: o.Total, Currency: o.Currency, UpdatedAt: now})
	if err != nil {
		return opResult{}, err
	}
	// An answer breaking its contract answers an order that never came
	// from orders.created (its decoder checks the same rules), and
	// orders-processor would dead-letter it: the order is dead-lettered.
	if _, err := events.DecodeStockReservation(value); err != nil {
		return opResult{}, invalid("its answer would break the %s contract: %v", s.topics.Reservations, err)
	}
	items, err := perSKU(o.Items)
	if err != nil {
		return opResult{}, err
	}
	out := Outcome{OrderID: o.OrderID, Result: events.Rejected, Reason: reason, Items: items, ProcessedAt: now}
	return s.answer(ctx, tx, out, value, nil, headers)
}

// answer records out in the ledger and queues the order's answer (value)
// first — it is what the order waits on — then msgs.
func (s *Store) answer(ctx context.Context, tx sqldb.Tx, out Outcome, value []byte, msgs []outbox.Message, headers []kafka.Header) (opResult, error) {
	msgs = append([]outbox.Message{{Topic: s.topics.Reservations, Key: []byte(out.OrderID), Value: value}}, msgs...)
	if err := s.record(ctx, tx, out); err != nil {
		return opResult{}, err
	}
	queued, err := s.outbox.Put(ctx, tx, withHeaders(msgs, headers)...)
	if err != nil {
		return opResult{}, err
	}
	return opResult{out: out, changed: true, queued: queued}, nil
}

// encodeAnswer encodes an answer no larger than its order could be
// written: encoding/json escapes <, >, & (six bytes for one) and U+2028,
// U+2029 (six for three), so an order of such SKUs got an answer up to six
// times its size; jsonv2 escapes only what JSON requires.
func encodeAnswer(a events.StockReservation) ([]byte, error) {
	value, err := jsonv2.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("encode the answer to %s: %w", a.OrderID, err)
	}
	return value, nil
}

// outOfStock is the reason of an order that is short of stock: the first
// short SKUs, as many as fit in events.MaxReasonBytes, and how many more.
func outOfStock(named []string, short int) string {
	var b strings.Builder
	b.WriteString(events.OutOfStockPrefix) // orders-processor reads it as OUT_OF_STOCK
	// room for "; and <count> more" whatever else is named
	room := events.MaxReasonBytes - len("; and  more") - len(fmt.Sprint(short))
	n := 0
	for _, s := range named {
		sep := ""
		if n > 0 {
			sep = "; "
		}
		if b.Len()+len(sep)+len(s) > room {
			break
		}
		b.WriteString(sep + s)
		n++
	}
	if more := short - n; more > 0 {
		fmt.Fprintf(&b, "; and %d more", more)
	}
	return b.String()
}

func (s *Store) release(ctx context.Context, tx sqldb.Tx, orderID string, now time.Time, headers []kafka.Header) (opResult, error) {
	prev, err := s.ledgerEntry(ctx, tx, s.q.ledgerLocked, orderID)
	if errors.Is(err, sql.ErrNoRows) {
		return opResult{}, errUnknownOrder
	}
	if err != nil {
		return opResult{}, err
	}
	if prev.Result != events.Reserved {
		return opResult{out: prev}, nil // rejected: nothing was taken; released: given back already
	}
	var msgs []outbox.Message
	for _, it := range prev.Items {
		q, err := s.quantity(ctx, tx, it.SKU)
		if err != nil {
			return opResult{}, err
		}
		if q > math.MaxInt64-int64(it.Qty) {
			return opResult{}, invalid("giving back %d of %s overflows its stock of %d", it.Qty, it.SKU, q)
		}
		back := q + int64(it.Qty)
		if _, err := tx.ExecContext(ctx, s.q.setQuantity, back, it.SKU); err != nil {
			return opResult{}, fmt.Errorf("give back stock of %s: %w", it.SKU, err)
		}
		msgs = append(msgs, s.inventoryUpdate(it.SKU, int64(it.Qty), back, orderID, now))
	}
	if _, err := tx.ExecContext(ctx, s.q.markReleased, string(Released), now.Format(time.RFC3339Nano), orderID); err != nil {
		return opResult{}, fmt.Errorf("mark %s released: %w", orderID, err)
	}
	queued, err := s.outbox.Put(ctx, tx, withHeaders(msgs, headers)...)
	if err != nil {
		return opResult{}, err
	}
	prev.Result, prev.ReleasedAt = Released, &now
	return opResult{out: prev, changed: true, queued: queued}, nil
}

// withHeaders gives every message headers (the trace of the record that
// caused them).
func withHeaders(msgs []outbox.Message, headers []kafka.Header) []outbox.Message {
	for i := range msgs {
		msgs[i].Headers = headers
	}
	return msgs
}

// storable refuses an order with a control character in a SKU: PostgreSQL
// cannot hold a NUL in text (SQLSTATE 22021), and no seeded SKU has one
// (POST /seed refuses them), so on either store such an order is answered
// the same: rejected as invalid, before any statement sees the SKU.
func storable(items []events.Item) error {
	for _, it := range items {
		if strings.IndexFunc(it.SKU, unicode.IsControl) >= 0 {
			return invalid("SKU %q has a control character", events.Shorten(it.SKU, maxQuotedSKU))
		}
	}
	return nil
}

// perSKU sums the quantity per SKU, in SKU order, so an order listing a SKU
// twice is checked against its total and locks are always taken in one
// order. A quantity outside 1..MaxQty is refused before any sum: the
// contract bounds it, so no sum over an order's items can overflow.
func perSKU(items []events.Item) ([]events.Item, error) {
	want := map[string]int{}
	for _, it := range items {
		if it.Qty < 1 || it.Qty > events.MaxQty {
			return nil, invalid("quantity %d of %q is outside 1..%d", it.Qty, events.Shorten(it.SKU, maxQuotedSKU), events.MaxQty)
		}
		if want[it.SKU] > math.MaxInt-it.Qty {
			return nil, invalid("the quantities of %q overflow", events.Shorten(it.SKU, maxQuotedSKU))
		}
		want[it.SKU] += it.Qty
	}
	out := make([]events.Item, 0, len(want))
	for sku, qty := range want {
		out = append(out, events.Item{SKU: sku, Qty: qty})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].SKU < out[j].SKU })
	return out, nil
}

// quantity reads sku's stock; an unknown SKU has none.
func (s *Store) quantity(ctx context.Context, tx sqldb.Tx, sku string) (int64, error) {
	var q int64
	err := tx.QueryRowContext(ctx, s.q.quantity, sku).Scan(&q)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read stock of %s: %w", sku, err)
	}
	return q, nil
}

func (s *Store) inventoryUpdate(sku string, delta, quantity int64, orderID string, now time.Time) outbox.Message {
	value, _ := json.Marshal(events.InventoryUpdated{SKU: sku, Delta: int(delta), NewQuantity: int(quantity), OrderID: orderID, UpdatedAt: now})
	return outbox.Message{Topic: s.topics.Inventory, Key: []byte(sku), Value: value}
}

func (s *Store) record(ctx context.Context, tx sqldb.Tx, out Outcome) error {
	items, err := json.Marshal(out.Items)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, s.q.record, out.OrderID, string(out.Result), out.Reason, string(items), out.ProcessedAt.Format(time.RFC3339Nano)); err != nil {
		return fmt.Errorf("record order in the ledger: %w", err)
	}
	return nil
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// ledgerEntry returns orderID's ledger entry, or sql.ErrNoRows, read by
// query (s.q.ledger, or s.q.ledgerLocked in a change's transaction).
func (s *Store) ledgerEntry(ctx context.Context, q querier, query, orderID string) (Outcome, error) {
	var out Outcome
	var items, at string
	var releasedAt sql.NullString
	err := q.QueryRowContext(ctx, query, orderID).Scan(&out.OrderID, &out.Result, &out.Reason, &items, &at, &releasedAt)
	if err != nil {
		return Outcome{}, err
	}
	if err := json.Unmarshal([]byte(items), &out.Items); err != nil {
		return Outcome{}, fmt.Errorf("ledger entry of %s: items: %w", orderID, err)
	}
	if out.ProcessedAt, err = time.Parse(time.RFC3339Nano, at); err != nil {
		return Outcome{}, fmt.Errorf("ledger entry of %s: %w", orderID, err)
	}
	if releasedAt.Valid {
		t, err := time.Parse(time.RFC3339Nano, releasedAt.String)
		if err != nil {
			return Outcome{}, fmt.Errorf("ledger entry of %s: %w", orderID, err)
		}
		out.ReleasedAt = &t
	}
	return out, nil
}

// Outcome returns what became of orderID, or sql.ErrNoRows.
func (s *Store) Outcome(ctx context.Context, orderID string) (Outcome, error) {
	return s.ledgerEntry(ctx, s.db, s.q.ledger, orderID)
}

// Stock returns every SKU's quantity.
func (s *Store) Stock(ctx context.Context) (map[string]int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT sku, quantity FROM inventory`)
	if err != nil {
		return nil, fmt.Errorf("read stock: %w", err)
	}
	defer rows.Close()
	stock := map[string]int64{}
	for rows.Next() {
		var sku string
		var q int64
		if err := rows.Scan(&sku, &q); err != nil {
			return nil, err
		}
		stock[sku] = q
	}
	return stock, rows.Err()
}

// Seed sets the quantity of each SKU, adding SKUs it does not know.
func (s *Store) Seed(ctx context.Context, quantities map[string]int) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	upsert := s.db.Rebind(`INSERT INTO inventory (sku, quantity) VALUES (?, ?)
			ON CONFLICT (sku) DO UPDATE SET quantity = excluded.quantity`)
	for sku, q := range quantities {
		if _, err := tx.ExecContext(ctx, upsert, sku, q); err != nil {
			return fmt.Errorf("seed %s: %w", sku, err)
		}
	}
	return tx.Commit()
}
