package sqldb

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
)

func TestGroupWriterRollsBackAFailingChangeAlone(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.CreateSchema(ctx, `CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	insert := `INSERT INTO t (id, v) VALUES (?, ?)`
	stmts, err := db.Prepare(ctx, append(SavepointQueries, insert)...)
	if err != nil {
		t.Fatal(err)
	}
	defer stmts.Close()
	w := NewGroupWriter(db, stmts)
	var mu sync.Mutex
	var committed []any
	w.AfterCommit = func(results []any) { mu.Lock(); committed = append(committed, results...); mu.Unlock() }
	defer w.Close()

	var wg sync.WaitGroup
	errs := make([]error, 40)
	for i := range 40 {
		wg.Go(func() {
			_, errs[i] = w.Apply(ctx, func(ctx context.Context, tx Tx) (any, error) {
				if _, err := tx.ExecContext(ctx, insert, i, fmt.Sprint("v", i)); err != nil {
					return nil, err
				}
				if i%10 == 3 { // wrote, then failed: must leave nothing behind
					return nil, errors.New("refused")
				}
				return i, nil
			})
		})
	}
	wg.Wait()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM t`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	failed := 0
	for _, err := range errs {
		if err != nil {
			failed++
		}
	}
	if n != 36 || failed != 4 || len(committed) != 36 {
		t.Errorf("rows %d, failed %d, handed after commit %d; want 36, 4, 36", n, failed, len(committed))
	}
}
