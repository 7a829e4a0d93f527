package sqldb

import (
	"context"
	"database/sql"
	"fmt"
)

// Statements are queries prepared once, by their text: the pure-Go SQLite
// spends a good share of its time parsing SQL otherwise. Prepare them when
// the store opens: with SQLite's single connection, a transaction in
// progress leaves none free to prepare on.
type Statements map[string]*sql.Stmt

// Prepare prepares queries on db, each text once (a store's queries can be
// the same text in one dialect and differ in another).
func (db *DB) Prepare(ctx context.Context, queries ...string) (Statements, error) {
	stmts := Statements{}
	for _, q := range queries {
		if _, done := stmts[q]; done {
			continue
		}
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			stmts.Close()
			return nil, fmt.Errorf("prepare %q: %w", q, err)
		}
		stmts[q] = st
	}
	return stmts, nil
}

// Close releases the statements.
func (s Statements) Close() {
	for _, st := range s {
		st.Close()
	}
}

// In returns tx running these statements in their prepared form, and any
// other query as it is.
func (s Statements) In(tx *sql.Tx) Tx { return Tx{tx, s} }

// Tx is a transaction that runs prepared statements.
type Tx struct {
	tx    *sql.Tx
	stmts Statements
}

// ExecContext runs query in the transaction.
func (p Tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st, ok := p.stmts[query]; ok {
		return p.tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return p.tx.ExecContext(ctx, query, args...)
}

// QueryRowContext runs query in the transaction.
func (p Tx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st, ok := p.stmts[query]; ok {
		return p.tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return p.tx.QueryRowContext(ctx, query, args...)
}
