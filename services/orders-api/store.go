package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kafkakit/kit/services/platform/outbox"
	"github.com/kafkakit/kit/services/platform/sqldb"
)

// Store records orders. Each order, its orders.created record (in the
// outbox) and its idempotency key are written in one transaction, so an
// order answered 201 is durable and will be produced, and an order never
// committed is never produced.
type Store struct {
	db     *sqldb.DB
	outbox *outbox.Outbox
	topic  string

	qFindKey, qInsertOrder, qInsertKey, qPruneKeys string
	// writer records the orders that arrive together in one transaction
	// (group commit), each under its own savepoint, and hands what each
	// commit queued to the onCommit OpenStore was given.
	writer *sqldb.GroupWriter[placed]
}

// placement is one order to record.
type placement struct {
	orderID   string
	userID    string
	createdAt time.Time
	value     []byte // the orders.created record
	// key is the client's Idempotency-Key, "" for none; hash identifies the
	// request body it came with.
	key, hash string
	// headers go with the record: the request's trace context, so the
	// order's records belong to the trace that placed it.
	headers []kafka.Header
}

// errKeyReused: the Idempotency-Key came with a different request before.
var errKeyReused = errors.New("idempotency key reused with a different request")

// errOutcomeUnknown: recording the order failed in a way that may still
// have committed (a connection lost during COMMIT), and the database could
// not be asked afterwards whether it did.
var errOutcomeUnknown = errors.New("whether the order was recorded is unknown")

func schema(d sqldb.Dialect) string {
	return `
CREATE TABLE IF NOT EXISTS orders (
	order_id   TEXT PRIMARY KEY,
	user_id    TEXT NOT NULL,
	created_at TEXT NOT NULL,
	value      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotency_keys (
	user_id      TEXT NOT NULL,
	idem_key     TEXT NOT NULL,
	request_hash TEXT NOT NULL,
	order_id     TEXT NOT NULL,
	created_at   BIGINT NOT NULL,
	PRIMARY KEY (user_id, idem_key)
);
CREATE INDEX IF NOT EXISTS idempotency_keys_by_age ON idempotency_keys (created_at);
` + outbox.Schema(d)
}

// OpenStore sets up (creating tables if needed) the orders store on db,
// queuing records for topic in ob, an outbox in db. onCommit is handed
// what each commit put in the outbox, right after the commit and in commit
// order: the relay's Committed, so it sends the records without reading
// them back. The store owns db from here: Close closes it, and so does a
// failure.
func OpenStore(ctx context.Context, db *sqldb.DB, ob *outbox.Outbox, topic string, onCommit func([]outbox.Queued)) (*Store, error) {
	if err := db.CreateSchema(ctx, schema(db.Dialect)); err != nil {
		db.Close()
		return nil, fmt.Errorf("create the orders schema: %w", err)
	}
	var err error
	s := &Store{
		db: db, outbox: ob, topic: topic,
		qFindKey:     db.Rebind(`SELECT request_hash, order_id FROM idempotency_keys WHERE user_id = ? AND idem_key = ?`),
		qInsertOrder: db.Rebind(`INSERT INTO orders (order_id, user_id, created_at, value) VALUES (?, ?, ?, ?)`),
		qInsertKey:   db.Rebind(`INSERT INTO idempotency_keys (user_id, idem_key, request_hash, order_id, created_at) VALUES (?, ?, ?, ?, ?)`),
		qPruneKeys:   db.Rebind(`DELETE FROM idempotency_keys WHERE created_at < ?`),
	}
	// Prepared once: parsing SQL was an eighth of orders-api's CPU.
	if s.writer, err = sqldb.NewGroupWriter(ctx, db, outbox.HandOver[placed](onCommit), s.qFindKey, s.qInsertOrder, s.qInsertKey, ob.InsertQuery()); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Outbox is the store's outbox, for its relay.
func (s *Store) Outbox() *outbox.Outbox { return s.outbox }

// Close closes the database.
func (s *Store) Close() error {
	s.writer.Close()
	return s.db.Close()
}

// Ping is a readiness check: the orders database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.Ready(ctx) }

// Place records p unless its idempotency key was seen: then it returns the
// order recorded under that key (replayed) when the request was the same,
// and errKeyReused when it was not.
func (s *Store) Place(ctx context.Context, p placement) (orderID string, replayed bool, err error) {
	// Two instances sharing PostgreSQL can race on one key: the loser's
	// insert fails on the primary key, and a second pass finds the winner's.
	apply := s.writer.Apply
	if p.key != "" {
		apply = s.writer.ApplyAgainOnDuplicate
	}
	r, err := apply(ctx, func(ctx context.Context, tx sqldb.Tx) (placed, error) { return s.record(ctx, tx, p) })
	switch {
	case errors.Is(err, errKeyReused):
		return "", false, err
	case err != nil:
		return s.recordedAfterAll(ctx, p, err)
	}
	return r.orderID, r.replayed, nil
}

// recordedAfterAll settles a failed Place: a COMMIT whose connection was
// lost (PostgreSQL) may have committed, and then the relay sends the order
// although the client was told it was not recorded, and a retry without a
// key places it twice. So the order is asked for again, on whatever
// connection the pool gives now: recorded, it is placed (201 as usual; the
// relay finds its record in the table); not, placeErr stands (503, retry);
// no answer, the outcome is unknown and the client is told so
// (errOutcomeUnknown).
//
// The question is an insert of the same order id, rolled back: a plain
// SELECT could run while the lost COMMIT is still being applied and miss
// it, but an insert of the same key waits for that transaction to end and
// then either collides with its row (committed) or goes in (it never will).
// A transaction that does not end within the wait is an unknown outcome.
func (s *Store) recordedAfterAll(ctx context.Context, p placement, placeErr error) (string, bool, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	unknown := func(err error) (string, bool, error) {
		return "", false, fmt.Errorf("%w: %w (then asking failed: %w)", errOutcomeUnknown, placeErr, err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return unknown(err)
	}
	defer tx.Rollback() // the question only: nothing it inserts stays
	_, err = tx.ExecContext(ctx, s.qInsertOrder, p.orderID, p.userID, p.createdAt.Format(time.RFC3339Nano), string(p.value))
	switch {
	case sqldb.UniqueViolation(err):
		return p.orderID, false, nil
	case err != nil:
		return unknown(err)
	}
	return "", false, placeErr
}

// placed is what recording a placement did.
type placed struct {
	orderID  string
	replayed bool
	queued   []outbox.Queued
}

func (p placed) Queued() []outbox.Queued { return p.queued }

// record writes p in tx, or finds the order its idempotency key names.
func (s *Store) record(ctx context.Context, tx sqldb.Tx, p placement) (placed, error) {
	if p.key != "" {
		var hash, orderID string
		err := tx.QueryRowContext(ctx, s.qFindKey, p.userID, p.key).Scan(&hash, &orderID)
		switch {
		case err == nil && hash == p.hash:
			return placed{orderID: orderID, replayed: true}, nil
		case err == nil:
			return placed{}, errKeyReused
		case !errors.Is(err, sql.ErrNoRows):
			return placed{}, fmt.Errorf("look up idempotency key: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, s.qInsertOrder, p.orderID, p.userID, p.createdAt.Format(time.RFC3339Nano), string(p.value)); err != nil {
		return placed{}, fmt.Errorf("record order: %w", err)
	}
	queued, err := s.outbox.Put(ctx, tx, outbox.Message{Topic: s.topic, Key: []byte(p.orderID), Value: p.value, Headers: p.headers})
	if err != nil {
		return placed{}, err
	}
	if p.key != "" {
		if _, err := tx.ExecContext(ctx, s.qInsertKey, p.userID, p.key, p.hash, p.orderID, p.createdAt.UnixMilli()); err != nil {
			return placed{}, fmt.Errorf("record idempotency key: %w", err)
		}
	}
	return placed{orderID: p.orderID, queued: queued}, nil
}

// PruneKeys forgets idempotency keys recorded before cutoff and returns how
// many it forgot.
func (s *Store) PruneKeys(ctx context.Context, cutoff time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, s.qPruneKeys, cutoff.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("prune idempotency keys: %w", err)
	}
	return res.RowsAffected()
}
