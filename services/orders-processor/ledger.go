package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/outbox"
	"github.com/kafkakit/kit/services/platform/sqldb"
	"github.com/kafkakit/kit/services/platform/tracing"
)

// Ledger is the processor's memory: for every order it answered, the last
// status it reached and that status's seq. A status is recorded in the
// ledger and queued in the outbox in one transaction, so a redelivered
// reservation finds what was written before and writes only what is
// missing (nothing, once the order is final), and no status is lost
// between the commit and the produce.
type Ledger struct {
	db     *sqldb.DB
	outbox *outbox.Outbox
	topic  string // orders.status
	q      ledgerQueries
	// writer applies the changes that are waiting together in one
	// transaction (group commit), and hands what each commit queued to the
	// onCommit OpenLedger was given.
	writer *sqldb.GroupWriter[advanced]
}

func ledgerSchema(d sqldb.Dialect) string {
	return `
CREATE TABLE IF NOT EXISTS answered (
	order_id   TEXT PRIMARY KEY,
	status     TEXT NOT NULL,
	seq        INTEGER NOT NULL CHECK (seq >= 1),
	updated_at TEXT NOT NULL
)` + sqldb.WithoutRowID(d) + `;
` + outbox.Schema(d)
}

type ledgerQueries struct {
	reached, insert, update string
}

func newLedgerQueries(db *sqldb.DB) ledgerQueries {
	lock := ""
	if db.Dialect == sqldb.Postgres {
		// Two instances never advance one order at once: the second waits
		// for the first's commit and reads what it left (nothing to write).
		lock = " FOR UPDATE"
	}
	return ledgerQueries{
		reached: db.Rebind(`SELECT status, seq FROM answered WHERE order_id = ?` + lock),
		insert:  db.Rebind(`INSERT INTO answered (order_id, status, seq, updated_at) VALUES (?, ?, ?, ?)`),
		update:  db.Rebind(`UPDATE answered SET status = ?, seq = ?, updated_at = ? WHERE order_id = ?`),
	}
}

// OpenLedger sets up (creating tables if needed) the processor's ledger on
// db, queuing statuses for topic in ob, an outbox in db. onCommit is
// handed what each commit put in the outbox, right after the commit and in
// commit order: the relay's Committed, so it sends the statuses without
// reading them back. The ledger owns db from here: Close closes it, and
// so does a failure.
func OpenLedger(ctx context.Context, db *sqldb.DB, ob *outbox.Outbox, topic string, onCommit func([]outbox.Queued)) (*Ledger, error) {
	if err := db.CreateSchema(ctx, ledgerSchema(db.Dialect)); err != nil {
		db.Close()
		return nil, fmt.Errorf("create the processor's schema: %w", err)
	}
	q := newLedgerQueries(db)
	writer, err := sqldb.NewGroupWriter(ctx, db, outbox.HandOver[advanced](onCommit), q.reached, q.insert, q.update, ob.InsertQuery())
	if err != nil {
		db.Close()
		return nil, err
	}
	l := &Ledger{db: db, outbox: ob, topic: topic, writer: writer, q: q}
	// As stock-service: on SQLite one writer whose changes share commits;
	// on PostgreSQL, shared by instances, each change locks its order's row
	// in a transaction of its own.
	l.writer.Separate = db.Dialect == sqldb.Postgres
	return l, nil
}

// Outbox is the ledger's outbox, for its relay.
func (l *Ledger) Outbox() *outbox.Outbox { return l.outbox }

// Close stops the writer and closes the database.
func (l *Ledger) Close() error {
	l.writer.Close()
	return l.db.Close()
}

// Ping is a readiness check: the processor's database answers.
func (l *Ledger) Ping(ctx context.Context) error { return l.db.Ready(ctx) }

// Reached is the last status the ledger holds for an order (Seq 0: none).
type Reached struct {
	Status events.Status
	Seq    int
}

// advanced is what one change did: where the order stands after it, and
// what it queued.
type advanced struct {
	reached Reached
	queued  []outbox.Queued
}

func (a advanced) Queued() []outbox.Queued { return a.queued }

// Advance records the statuses of one order (in lifecycle order, each with
// its seq) that the order has not reached yet and queues them on
// orders.status, in one transaction, and returns where the order stands and
// whether it wrote any. An order already final, or already past every one
// of them, changes nothing. The same order advanced by two instances at once (PostgreSQL)
// makes the later one's insert a duplicate: it is applied again
// (ApplyAgainOnDuplicate) and then finds the winner's row.
func (l *Ledger) Advance(ctx context.Context, statuses ...events.OrderStatus) (reached Reached, wrote bool, err error) {
	if len(statuses) == 0 {
		return Reached{}, false, errors.New("advance: no status")
	}
	headers := tracing.Headers(ctx) // the change runs in the writer's context, not ctx
	a, err := l.writer.ApplyAgainOnDuplicate(ctx, func(ctx context.Context, tx sqldb.Tx) (advanced, error) {
		return l.advance(ctx, tx, statuses, headers)
	})
	if err != nil {
		return Reached{}, false, fmt.Errorf("record %s of order %s: %w", statuses[len(statuses)-1].Status, statuses[0].OrderID, err)
	}
	return a.reached, len(a.queued) > 0, nil
}

func (l *Ledger) advance(ctx context.Context, tx sqldb.Tx, statuses []events.OrderStatus, headers []kafka.Header) (advanced, error) {
	orderID := statuses[0].OrderID
	var was Reached
	err := tx.QueryRowContext(ctx, l.q.reached, orderID).Scan(&was.Status, &was.Seq)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return advanced{}, fmt.Errorf("read the ledger of %s: %w", orderID, err)
	}
	known := err == nil
	if was.Status.Final() {
		return advanced{reached: was}, nil
	}
	var msgs []outbox.Message
	now := was
	for _, st := range statuses {
		if st.OrderID != orderID {
			return advanced{}, fmt.Errorf("advance: statuses of orders %s and %s in one change", orderID, st.OrderID)
		}
		if st.Seq <= now.Seq {
			continue // written before: a redelivery
		}
		value, err := json.Marshal(st)
		if err != nil {
			return advanced{}, fmt.Errorf("encode status: %w", err)
		}
		msgs = append(msgs, outbox.Message{Topic: l.topic, Key: []byte(orderID), Value: value, Headers: headers})
		now = Reached{Status: st.Status, Seq: st.Seq}
	}
	if len(msgs) == 0 {
		return advanced{reached: was}, nil
	}
	at := statuses[len(statuses)-1].UpdatedAt.UTC().Format(time.RFC3339Nano)
	if known {
		_, err = tx.ExecContext(ctx, l.q.update, now.Status, now.Seq, at, orderID)
	} else {
		_, err = tx.ExecContext(ctx, l.q.insert, orderID, now.Status, now.Seq, at)
	}
	if err != nil {
		return advanced{}, fmt.Errorf("record %s of %s in the ledger: %w", now.Status, orderID, err)
	}
	queued, err := l.outbox.Put(ctx, tx, msgs...)
	if err != nil {
		return advanced{}, err
	}
	return advanced{reached: now, queued: queued}, nil
}
