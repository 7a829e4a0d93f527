package main

import (
	"context"
	"database/sql"
	"fmt"
)

// statements holds SQL prepared once on the store's connection: the pure-Go
// SQLite spends a good share of its time parsing SQL otherwise. They are
// prepared when the store opens, since with one connection a transaction
// in progress leaves none free to prepare on.
type statements map[string]*sql.Stmt

func prepareAll(ctx context.Context, db *sql.DB, queries ...string) (statements, error) {
	stmts := statements{}
	for _, q := range queries {
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			stmts.close()
			return nil, fmt.Errorf("prepare %q: %w", q, err)
		}
		stmts[q] = st
	}
	return stmts, nil
}

func (s statements) close() {
	for _, st := range s {
		st.Close()
	}
}

// preparedTx runs statements in tx, using the prepared form when there is
// one (the store has one connection, so the transaction reuses it).
type preparedTx struct {
	tx    *sql.Tx
	stmts statements
}

func (p preparedTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st, ok := p.stmts[query]; ok {
		return p.tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return p.tx.ExecContext(ctx, query, args...)
}

func (p preparedTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st, ok := p.stmts[query]; ok {
		return p.tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return p.tx.QueryRowContext(ctx, query, args...)
}
