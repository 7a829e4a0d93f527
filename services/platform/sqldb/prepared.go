package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
)

// Statements are queries prepared once, by their text: the pure-Go SQLite
// spends a good share of its time parsing SQL otherwise. Prepare them when
// the store opens: with SQLite's single connection, a transaction in
// progress leaves none free to prepare on.
type Statements struct {
	index    map[string]int // a query's text -> its statement in prepared
	prepared []*sql.Stmt
}

// Prepare prepares queries on db, each text once (a store's queries can be
// the same text in one dialect and differ in another).
func (db *DB) Prepare(ctx context.Context, queries ...string) (*Statements, error) {
	s := &Statements{index: map[string]int{}}
	for _, q := range queries {
		if _, done := s.index[q]; done {
			continue
		}
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("prepare %q: %w", q, err)
		}
		s.index[q] = len(s.prepared)
		s.prepared = append(s.prepared, st)
	}
	return s, nil
}

// Close releases the statements.
func (s *Statements) Close() {
	for _, st := range s.prepared {
		st.Close()
	}
}

// In returns tx running these statements in their prepared form, and any
// other query as it is.
func (s *Statements) In(tx *sql.Tx) Tx {
	b := &boundStmts{}
	if b.stmts = b.inline[:]; len(s.prepared) > len(b.inline) {
		b.stmts = make([]*sql.Stmt, len(s.prepared))
	}
	return Tx{tx: tx, stmts: s, bound: b}
}

// Tx is a transaction that runs prepared statements.
type Tx struct {
	tx    *sql.Tx
	stmts *Statements
	bound *boundStmts
}

// boundStmts are a transaction's own forms of the prepared statements,
// made on first use and kept for the rest of it: database/sql's
// Tx.StmtContext builds a new one on every call (a dozen allocations), and
// a group runs the same few statements for each of its changes. The
// transaction closes them when it ends.
type boundStmts struct {
	mu     sync.Mutex
	stmts  []*sql.Stmt   // by the index of Statements
	inline [16]*sql.Stmt // stmts for a store of up to 16: one allocation per transaction
}

// stmt returns query's statement bound to the transaction, nil when query
// was not prepared.
func (p Tx) stmt(ctx context.Context, query string) *sql.Stmt {
	i, ok := p.stmts.index[query]
	if !ok {
		return nil
	}
	p.bound.mu.Lock()
	defer p.bound.mu.Unlock()
	st := p.bound.stmts[i]
	if st == nil {
		st = p.tx.StmtContext(ctx, p.stmts.prepared[i])
		p.bound.stmts[i] = st
	}
	return st
}

// ExecContext runs query in the transaction.
func (p Tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := p.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return p.tx.ExecContext(ctx, query, args...)
}

// QueryRowContext runs query in the transaction.
func (p Tx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := p.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return p.tx.QueryRowContext(ctx, query, args...)
}
