package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	_ "modernc.org/sqlite" // pure-Go SQLite driver: no cgo, static binaries

	"github.com/kafkakit/kit/services/events"
)

// Store is the inventory in SQLite. Every order is applied in one
// transaction that also records it in a ledger of processed orders and
// queues its inventory events in an outbox, so a redelivered order changes
// nothing and no event is lost between the commit and the produce.
type Store struct {
	db    *sql.DB
	stmts statements
	// orders feeds the single writer, which applies the orders that are
	// waiting together in one transaction (group commit).
	orders chan applyRequest
	closed chan struct{}
	done   chan struct{}
}

type applyRequest struct {
	ctx   context.Context
	order events.OrderCreated
	now   time.Time
	reply chan applyResult
}

type applyResult struct {
	out       Outcome
	duplicate bool
	err       error
}

// maxGroup bounds the orders applied in one transaction.
const maxGroup = 256

// Outcome is what became of an order in stock-service.
type Outcome struct {
	OrderID string `json:"orderId"`
	// Result is "applied" (stock taken) or "rejected" (nothing changed).
	Result      string    `json:"result"`
	Reason      string    `json:"reason,omitempty"`
	ProcessedAt time.Time `json:"processedAt"`
}

// The values of Outcome.Result.
const (
	Applied  = "applied"
	Rejected = "rejected"
)

const schema = `
CREATE TABLE IF NOT EXISTS inventory (
	sku      TEXT PRIMARY KEY,
	quantity INTEGER NOT NULL CHECK (quantity >= 0)
);
CREATE TABLE IF NOT EXISTS processed_orders (
	order_id     TEXT PRIMARY KEY,
	result       TEXT NOT NULL,
	reason       TEXT NOT NULL DEFAULT '',
	processed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
	seq   INTEGER PRIMARY KEY AUTOINCREMENT,
	sku   TEXT NOT NULL,
	value BLOB NOT NULL
);`

// The statements of the order path, prepared once when the store opens.
const (
	qSavepoint   = `SAVEPOINT one_order`
	qRollbackTo  = `ROLLBACK TO one_order`
	qRelease     = `RELEASE one_order`
	qQuantity    = `SELECT quantity FROM inventory WHERE sku = ?`
	qSetQuantity = `UPDATE inventory SET quantity = ? WHERE sku = ?`
	qQueueEvent  = `INSERT INTO outbox (sku, value) VALUES (?, ?)`
	qRecordOrder = `INSERT INTO processed_orders (order_id, result, reason, processed_at) VALUES (?, ?, ?, ?)`
	qOutcome     = `SELECT order_id, result, reason, processed_at FROM processed_orders WHERE order_id = ?`
)

var orderPath = []string{qSavepoint, qRollbackTo, qRelease, qQuantity, qSetQuantity, qQueueEvent, qRecordOrder, qOutcome}

// OpenStore opens (creating if needed) the SQLite database at dsn, a file
// path or a "file:" URI.
func OpenStore(ctx context.Context, dsn string) (*Store, error) {
	db, err := sql.Open("sqlite", withPragmas(dsn))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dsn, err)
	}
	// One connection: SQLite has one writer anyway, and serialising here
	// makes the stock check and the decrement one atomic step.
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("create schema in %s: %w", dsn, err)
	}
	stmts, err := prepareAll(ctx, db, orderPath...)
	if err != nil {
		db.Close()
		return nil, err
	}
	s := &Store{db: db, stmts: stmts, orders: make(chan applyRequest), closed: make(chan struct{}), done: make(chan struct{})}
	go s.writer()
	return s, nil
}

// withPragmas adds WAL journaling (readers don't block the writer), a busy
// timeout, and synchronous=NORMAL: a commit survives a crash of the process
// (the case the kit's fault scenarios exercise); an OS crash or power loss
// may lose the last commits. Use synchronous(FULL) in DB_DSN for that.
func withPragmas(dsn string) string {
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	pragmas := []string{"journal_mode(WAL)", "busy_timeout(5000)"}
	if !strings.Contains(dsn, "synchronous") {
		pragmas = append(pragmas, "synchronous(NORMAL)")
	}
	return dsn + sep + "_pragma=" + strings.Join(pragmas, "&_pragma=")
}

// Close stops the writer and closes the database.
func (s *Store) Close() error {
	close(s.closed)
	<-s.done
	s.stmts.close()
	return s.db.Close()
}

// Apply takes stock for every item of o, or for none, atomically. An order
// seen before returns its first outcome and changes nothing. An order that
// cannot be filled in full (unknown SKU or too little stock) is recorded as
// rejected with the reason and changes no quantity. Apply returns once the
// outcome is committed.
func (s *Store) Apply(ctx context.Context, o events.OrderCreated, now time.Time) (out Outcome, duplicate bool, err error) {
	req := applyRequest{ctx: ctx, order: o, now: now, reply: make(chan applyResult, 1)}
	select {
	case s.orders <- req:
	case <-s.closed:
		return Outcome{}, false, errors.New("store closed")
	case <-ctx.Done():
		return Outcome{}, false, ctx.Err()
	}
	// Once handed over, wait for the verdict even if ctx ends: the caller
	// must not commit the record's offset on a guess.
	r := <-req.reply
	return r.out, r.duplicate, r.err
}

// writer applies waiting orders in groups: one transaction per group, one
// savepoint per order, so each order is still all-or-nothing while the
// commit (and its WAL writes) is shared by the group.
func (s *Store) writer() {
	defer close(s.done)
	for {
		var group []applyRequest
		select {
		case req := <-s.orders:
			group = append(group, req)
		case <-s.closed:
			return
		}
	more:
		for len(group) < maxGroup {
			select {
			case req := <-s.orders:
				group = append(group, req)
			default:
				break more
			}
		}
		s.applyGroup(group)
	}
}

func (s *Store) applyGroup(group []applyRequest) {
	results := make([]applyResult, len(group))
	fail := func(err error) {
		for _, req := range group {
			req.reply <- applyResult{err: err}
		}
	}
	ctx := context.Background() // each order's own ctx may end; the group must finish
	sqlTx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		fail(fmt.Errorf("begin: %w", err))
		return
	}
	defer sqlTx.Rollback()
	tx := preparedTx{sqlTx, s.stmts}
	for i, req := range group {
		if _, err := tx.ExecContext(ctx, qSavepoint); err != nil {
			fail(fmt.Errorf("savepoint: %w", err))
			return
		}
		r := &results[i]
		r.out, r.duplicate, r.err = applyOrder(ctx, tx, req.order, req.now)
		if r.err != nil {
			if _, err := tx.ExecContext(ctx, qRollbackTo); err != nil {
				fail(fmt.Errorf("roll back order %s: %w", req.order.OrderID, err))
				return
			}
		}
		if _, err := tx.ExecContext(ctx, qRelease); err != nil {
			fail(fmt.Errorf("release savepoint: %w", err))
			return
		}
	}
	if err := sqlTx.Commit(); err != nil {
		fail(fmt.Errorf("commit: %w", err))
		return
	}
	for i, req := range group {
		req.reply <- results[i]
	}
}

// applyOrder applies o inside tx; see Apply.
func applyOrder(ctx context.Context, tx preparedTx, o events.OrderCreated, now time.Time) (out Outcome, duplicate bool, err error) {
	if prev, err := outcome(ctx, tx, o.OrderID); err == nil {
		return prev, true, nil
	} else if !errors.Is(err, sql.ErrNoRows) {
		return Outcome{}, false, err
	}

	// Sum the quantity per SKU, in a fixed order, so an order listing a SKU
	// twice is checked against its total.
	want := map[string]int{}
	for _, it := range o.Items {
		want[it.SKU] += it.Qty
	}
	skus := make([]string, 0, len(want))
	for sku := range want {
		skus = append(skus, sku)
	}
	sort.Strings(skus)

	out = Outcome{OrderID: o.OrderID, Result: Applied, ProcessedAt: now.UTC()}
	have := map[string]int{}
	var problems []string
	for _, sku := range skus {
		var q int
		err := tx.QueryRowContext(ctx, qQuantity, sku).Scan(&q)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			problems = append(problems, fmt.Sprintf("unknown SKU %s", sku))
		case err != nil:
			return Outcome{}, false, fmt.Errorf("read stock of %s: %w", sku, err)
		case q < want[sku]:
			problems = append(problems, fmt.Sprintf("insufficient stock for %s: want %d, have %d", sku, want[sku], q))
		}
		have[sku] = q
	}
	if len(problems) > 0 {
		out.Result, out.Reason = Rejected, strings.Join(problems, "; ")
	} else {
		for _, sku := range skus {
			left := have[sku] - want[sku]
			if _, err := tx.ExecContext(ctx, qSetQuantity, left, sku); err != nil {
				return Outcome{}, false, fmt.Errorf("take stock of %s: %w", sku, err)
			}
			value, err := json.Marshal(events.InventoryUpdated{SKU: sku, Delta: -want[sku], NewQuantity: left, OrderID: o.OrderID, UpdatedAt: now.UTC()})
			if err != nil {
				return Outcome{}, false, err
			}
			if _, err := tx.ExecContext(ctx, qQueueEvent, sku, value); err != nil {
				return Outcome{}, false, fmt.Errorf("queue inventory event: %w", err)
			}
		}
	}
	if _, err := tx.ExecContext(ctx, qRecordOrder,
		out.OrderID, out.Result, out.Reason, out.ProcessedAt.Format(time.RFC3339Nano)); err != nil {
		return Outcome{}, false, fmt.Errorf("record order in ledger: %w", err)
	}
	return out, false, nil
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func outcome(ctx context.Context, q querier, orderID string) (Outcome, error) {
	var out Outcome
	var at string
	err := q.QueryRowContext(ctx, qOutcome, orderID).
		Scan(&out.OrderID, &out.Result, &out.Reason, &at)
	if err != nil {
		return Outcome{}, err
	}
	out.ProcessedAt, err = time.Parse(time.RFC3339Nano, at)
	return out, err
}

// Outcome returns what became of orderID, or sql.ErrNoRows.
func (s *Store) Outcome(ctx context.Context, orderID string) (Outcome, error) {
	return outcome(ctx, s.db, orderID)
}

// Stock returns every SKU's quantity.
func (s *Store) Stock(ctx context.Context) (map[string]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT sku, quantity FROM inventory`)
	if err != nil {
		return nil, fmt.Errorf("read stock: %w", err)
	}
	defer rows.Close()
	stock := map[string]int{}
	for rows.Next() {
		var sku string
		var q int
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
	for sku, q := range quantities {
		if _, err := tx.ExecContext(ctx, `INSERT INTO inventory (sku, quantity) VALUES (?, ?)
			ON CONFLICT (sku) DO UPDATE SET quantity = excluded.quantity`, sku, q); err != nil {
			return fmt.Errorf("seed %s: %w", sku, err)
		}
	}
	return tx.Commit()
}

// OutboxEvent is an inventory event committed but not yet produced.
type OutboxEvent struct {
	Seq   int64
	SKU   string
	Value []byte
}

// PendingEvents returns up to limit queued events, oldest first.
func (s *Store) PendingEvents(ctx context.Context, limit int) ([]OutboxEvent, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT seq, sku, value FROM outbox ORDER BY seq LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	defer rows.Close()
	var out []OutboxEvent
	for rows.Next() {
		var e OutboxEvent
		if err := rows.Scan(&e.Seq, &e.SKU, &e.Value); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// DeleteEvents removes the queued events up to and including seq, once
// the broker acknowledged them.
func (s *Store) DeleteEvents(ctx context.Context, upTo int64) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM outbox WHERE seq <= ?`, upTo)
	return err
}
