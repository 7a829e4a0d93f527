// Package outbox is the transactional outbox: a service writes a state
// change and the records it causes in one database transaction (Put), and a
// Relay produces those records to Kafka in commit order, deleting each only
// once the broker acknowledged it. No record is lost between the commit and
// the produce, and no record exists for a change that rolled back; a crash
// between the acknowledgement and the delete produces a record again, which
// the consumers' idempotence absorbs.
package outbox

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/segmentio/kafka-go"

	"github.com/kafkakit/kit/services/platform/sqldb"
)

// Message is one record to produce.
type Message struct {
	Topic   string
	Key     []byte
	Value   []byte
	Headers []kafka.Header
}

// Schema is the outbox table's DDL in dialect d.
func Schema(d sqldb.Dialect) string {
	if d == sqldb.Postgres {
		return `CREATE TABLE IF NOT EXISTS outbox (
	seq     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	topic   TEXT NOT NULL,
	key     BYTEA NOT NULL,
	value   BYTEA NOT NULL,
	headers TEXT
);`
	}
	return `CREATE TABLE IF NOT EXISTS outbox (
	seq     INTEGER PRIMARY KEY AUTOINCREMENT,
	topic   TEXT NOT NULL,
	key     BLOB NOT NULL,
	value   BLOB NOT NULL,
	headers TEXT
);`
}

// Tx is the caller's transaction, as Put uses it: *sql.Tx is one.
type Tx interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Outbox is the table of records committed but not yet produced.
type Outbox struct {
	db     *sqldb.DB
	insert string
	id     string // names this instance's commits to the relays (PostgreSQL)
}

// New returns the outbox in db; create its table with Schema first.
func New(db *sqldb.DB) *Outbox {
	insert := `INSERT INTO outbox (topic, key, value, headers) VALUES (?, ?, ?, ?)`
	if db.Dialect == sqldb.Postgres {
		// pgx has no LastInsertId; SQLite's is the row's seq (its rowid).
		insert += ` RETURNING seq`
	}
	return &Outbox{db: db, insert: db.Rebind(insert), id: rand.Text()}
}

// InsertQuery is the statement Put runs, for stores that prepare it.
func (o *Outbox) InsertQuery() string { return o.insert }

// header is a record header as the outbox stores it.
type header struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Put queues msgs in tx: they are produced once tx commits, and never if
// it rolls back. Hand what it returns to the relay (Relay.Committed) once
// tx has committed, so the relay sends them without reading them back.
func (o *Outbox) Put(ctx context.Context, tx Tx, msgs ...Message) ([]Queued, error) {
	queued := make([]Queued, 0, len(msgs))
	// The records of one change mostly carry the same headers (the trace
	// of what caused them): encoded once, not once per record.
	var encoded any
	var encodedFrom []kafka.Header
	for _, m := range msgs {
		var headers any // NULL when there are none
		if len(m.Headers) > 0 {
			if !sameSlice(m.Headers, encodedFrom) {
				var err error
				if encoded, err = encodeHeaders(m.Headers); err != nil {
					return nil, err
				}
				encodedFrom = m.Headers
			}
			headers = encoded
		}
		q := Queued{msg: kafka.Message{Topic: m.Topic, Key: m.Key, Value: m.Value, Headers: m.Headers}}
		var err error
		if q.seq, err = o.queue(ctx, tx, m, headers); err != nil {
			return nil, fmt.Errorf("queue %s record: %w", m.Topic, err)
		}
		queued = append(queued, q)
	}
	if o.db.Dialect == sqldb.Postgres && len(msgs) > 0 {
		if _, err := tx.ExecContext(ctx, notifyQuery, o.id); err != nil {
			return nil, fmt.Errorf("notify the relay: %w", err)
		}
	}
	return queued, nil
}

// encodeHeaders is headers as the outbox's headers column holds them.
func encodeHeaders(headers []kafka.Header) (string, error) {
	hs := make([]header, len(headers))
	for i, h := range headers {
		hs[i] = header{h.Key, string(h.Value)}
	}
	b, err := json.Marshal(hs)
	if err != nil {
		return "", fmt.Errorf("encode headers: %w", err)
	}
	return string(b), nil
}

// sameSlice reports whether a and b are one slice: the same elements, not
// equal ones.
func sameSlice(a, b []kafka.Header) bool {
	return len(a) == len(b) && len(a) > 0 && &a[0] == &b[0]
}

// queue inserts m, with its headers encoded, and returns its seq. On
// SQLite that is an insert and its LastInsertId: with RETURNING it was a
// query, and database/sql starts a goroutine for the rows of every query
// in a transaction, besides building and closing them.
func (o *Outbox) queue(ctx context.Context, tx Tx, m Message, headers any) (int64, error) {
	if o.db.Dialect == sqldb.Postgres {
		var seq int64
		err := tx.QueryRowContext(ctx, o.insert, m.Topic, m.Key, m.Value, headers).Scan(&seq)
		return seq, err
	}
	res, err := tx.ExecContext(ctx, o.insert, m.Topic, m.Key, m.Value, headers)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// Queued is a record in the outbox: its place in it and the record.
type Queued struct {
	seq int64
	msg kafka.Message
}

// Queuer is what a change that put records in the outbox returns.
type Queuer interface{ Queued() []Queued }

// HandOver returns the afterCommit of a store's sqldb.GroupWriter[T] whose
// changes return Queuers: what the committed changes queued goes to to (the
// relay's Committed) in one call per commit, in commit order.
func HandOver[T Queuer](to func([]Queued)) func(results []T) {
	return func(results []T) {
		var committed []Queued
		for _, r := range results {
			committed = append(committed, r.Queued()...)
		}
		to(committed)
	}
}

// querier runs a query: the database, or a transaction on it.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// snapshot returns what a read of the table in pages queries, and what ends
// it. On PostgreSQL a record's seq is taken when it is inserted, not when
// its transaction commits, so a transaction can commit records whose seqs
// are below those of records another transaction committed first: a page
// read after such a commit would hold its later records while the seqs of
// its earlier ones were passed by a page read before it, and the relay
// would send a key's later record first. So the pages are read in one
// read-only REPEATABLE READ transaction, which sees every transaction's
// records, or none of them, on every page. On SQLite one writer commits at
// a time, so seqs are in commit order and the database is read as it is.
func (o *Outbox) snapshot(ctx context.Context) (querier, func(), error) {
	if o.db.Dialect != sqldb.Postgres {
		return o.db, func() {}, nil
	}
	tx, err := o.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return nil, nil, fmt.Errorf("read outbox: %w", err)
	}
	return tx, func() { _ = tx.Rollback() }, nil
}

// pending returns up to limit queued records after sequence number after,
// oldest first, read with q (the database, or a snapshot of it).
func (o *Outbox) pending(ctx context.Context, q querier, after int64, limit int) ([]Queued, error) {
	rows, err := q.QueryContext(ctx, o.db.Rebind(`SELECT seq, topic, key, value, headers FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?`), after, limit)
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	defer rows.Close()
	var out []Queued
	for rows.Next() {
		var q Queued
		var headers sql.NullString
		if err := rows.Scan(&q.seq, &q.msg.Topic, &q.msg.Key, &q.msg.Value, &headers); err != nil {
			return nil, fmt.Errorf("read outbox: %w", err)
		}
		if headers.Valid {
			var hs []header
			if err := json.Unmarshal([]byte(headers.String), &hs); err != nil {
				return nil, fmt.Errorf("outbox record %d: headers: %w", q.seq, err)
			}
			for _, h := range hs {
				q.msg.Headers = append(q.msg.Headers, kafka.Header{Key: h.Key, Value: []byte(h.Value)})
			}
		}
		out = append(out, q)
	}
	return out, rows.Err()
}

// remove deletes the records with the given sequence numbers. It names them
// one by one: in PostgreSQL a lower sequence number may commit after a
// higher one, so "everything up to n" could delete a record never sent.
func (o *Outbox) remove(ctx context.Context, seqs []int64) error {
	if len(seqs) == 0 {
		return nil
	}
	args := make([]any, len(seqs))
	for i, s := range seqs {
		args[i] = s
	}
	q := o.db.Rebind(`DELETE FROM outbox WHERE seq IN (` + sqldb.Placeholders(len(seqs)) + `)`)
	if _, err := o.db.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("delete produced records from the outbox: %w", err)
	}
	return nil
}

// present returns which of the given sequence numbers the table still
// holds.
func (o *Outbox) present(ctx context.Context, seqs []int64) (map[int64]bool, error) {
	args := make([]any, len(seqs))
	for i, s := range seqs {
		args[i] = s
	}
	rows, err := o.db.QueryContext(ctx, o.db.Rebind(`SELECT seq FROM outbox WHERE seq IN (`+sqldb.Placeholders(len(seqs))+`)`), args...)
	if err != nil {
		return nil, fmt.Errorf("look up handed-over records in the outbox: %w", err)
	}
	defer rows.Close()
	out := make(map[int64]bool, len(seqs))
	for rows.Next() {
		var seq int64
		if err := rows.Scan(&seq); err != nil {
			return nil, fmt.Errorf("look up handed-over records in the outbox: %w", err)
		}
		out[seq] = true
	}
	return out, rows.Err()
}

// waiting returns how many records wait per topic.
func (o *Outbox) waiting(ctx context.Context) (map[string]int, error) {
	rows, err := o.db.QueryContext(ctx, `SELECT topic, COUNT(*) FROM outbox GROUP BY topic`)
	if err != nil {
		return nil, fmt.Errorf("count outbox per topic: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var topic string
		var n int
		if err := rows.Scan(&topic, &n); err != nil {
			return nil, fmt.Errorf("count outbox per topic: %w", err)
		}
		out[topic] = n
	}
	return out, rows.Err()
}

// Backlog is how many records wait to be produced.
func (o *Outbox) Backlog(ctx context.Context) (int, error) {
	var n int
	if err := o.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count outbox: %w", err)
	}
	return n, nil
}
