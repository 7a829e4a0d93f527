package sqldb

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
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
	var mu sync.Mutex
	var committed []int
	w, err := NewGroupWriter(ctx, db, func(results []int) { mu.Lock(); committed = append(committed, results...); mu.Unlock() }, insert)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	var wg sync.WaitGroup
	errs := make([]error, 40)
	for i := range 40 {
		wg.Go(func() {
			_, errs[i] = w.Apply(ctx, func(ctx context.Context, tx Tx) (int, error) {
				if _, err := tx.ExecContext(ctx, insert, i, fmt.Sprint("v", i)); err != nil {
					return 0, err
				}
				if i%10 == 3 { // wrote, then failed: must leave nothing behind
					return 0, errors.New("refused")
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

func TestApplyAgainOnDuplicateTriesThreeTimesOnlyForDuplicates(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "d.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.CreateSchema(ctx, `CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t (id) VALUES (1), (2)`); err != nil {
		t.Fatal(err)
	}
	insert := `INSERT INTO t (id) VALUES (?)`
	w, err := NewGroupWriter[struct{}](ctx, db, nil, insert)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	// inserting ids in turn from first: a duplicate until the id is free
	tries := func(first int, other error) (int, error) {
		n := 0
		_, err := w.ApplyAgainOnDuplicate(ctx, func(ctx context.Context, tx Tx) (struct{}, error) {
			n++
			if other != nil {
				return struct{}{}, other
			}
			_, err := tx.ExecContext(ctx, insert, first+n-1)
			return struct{}{}, err
		})
		return n, err
	}
	if n, err := tries(2, nil); err != nil || n != 2 {
		t.Errorf("id 2 taken, 3 free: %d tries, %v; want 2 tries and no error", n, err)
	}
	if n, err := tries(1, nil); !UniqueViolation(err) || n != 3 {
		t.Errorf("ids 1 to 3 taken: %d tries, %v; want 3 tries and the duplicate key", n, err)
	}
	if n, err := tries(0, errors.New("refused")); err == nil || n != 1 {
		t.Errorf("another error: %d tries, %v; want 1 try and the error", n, err)
	}
}

// A change whose context is already done is never applied, grouped or
// separate: its caller has given up on it (a consumer drained, a client
// gone), and applying it anyway would let a later record of the same key
// overtake it. Apply once picked between handing it over and the done
// context at random, and applyAlone never looked.
func TestGroupWriterAppliesNoChangeWhoseContextIsDone(t *testing.T) {
	for _, separate := range []bool{false, true} {
		t.Run(fmt.Sprintf("separate=%v", separate), func(t *testing.T) {
			ctx := context.Background()
			db, err := Open(ctx, filepath.Join(t.TempDir(), "c.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			w, err := NewGroupWriter[struct{}](ctx, db, nil)
			if err != nil {
				t.Fatal(err)
			}
			w.Separate = separate
			t.Cleanup(w.Close)
			done, cancel := context.WithCancel(ctx)
			cancel()
			ran := 0
			// Many tries, each right after a change that went through (so
			// the writer is running and waiting for the next): a random
			// choice between two ready cases passes one in two.
			for range 40 {
				if _, err := w.Apply(ctx, func(context.Context, Tx) (struct{}, error) { return struct{}{}, nil }); err != nil {
					t.Fatal(err)
				}
				_, err := w.Apply(done, func(context.Context, Tx) (struct{}, error) { ran++; return struct{}{}, nil })
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("Apply with a cancelled context = %v, want context.Canceled", err)
				}
			}
			if ran != 0 {
				t.Errorf("applied %d of 40 changes whose context was done, want 0", ran)
			}
		})
	}
}

// TestGroupWriterTimeoutStillBoundsASQLiteTransaction: on SQLite the
// statements run without the transaction's deadline (statementContext), so
// what ends a group that outlives TxTimeout is database/sql rolling the
// transaction back: the change's next statement fails, nothing commits, and
// Apply reports an error.
func TestGroupWriterTimeoutStillBoundsASQLiteTransaction(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "timeout.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.CreateSchema(ctx, `CREATE TABLE t (id INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	insert := `INSERT INTO t (id) VALUES (?)`
	w, err := NewGroupWriter[int](ctx, db, nil, insert)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	w.TxTimeout = 50 * time.Millisecond

	var stmtErr error
	_, err = w.Apply(ctx, func(ctx context.Context, tx Tx) (int, error) {
		if _, err := tx.ExecContext(ctx, insert, 1); err != nil {
			return 0, err
		}
		// Keep the transaction busy until the timeout ends it: each
		// statement runs until one fails, for at most ten seconds.
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
			if _, stmtErr = tx.ExecContext(ctx, insert, 2); stmtErr != nil {
				return 0, nil // the change itself succeeds: the commit must still fail
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM t WHERE id = 2`); err != nil {
				stmtErr = err
				return 0, nil
			}
		}
		return 0, nil
	})
	if stmtErr == nil {
		t.Fatal("the transaction's statements went on for ten seconds past a 50 ms TxTimeout")
	}
	if err == nil {
		t.Errorf("Apply: got no error for a transaction past its TxTimeout (statement error %v)", stmtErr)
	}
	t.Logf("statement: %v; Apply: %v", stmtErr, err)
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM t`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("got %d rows committed by a transaction past its TxTimeout, want 0", n)
	}
}

// TestAChangeAloneInItsGroupFailsWhole: a change alone in its group runs
// without a savepoint, so when it fails its whole transaction is rolled
// back — what it wrote included — and nothing is handed over; the next
// change commits as usual.
func TestAChangeAloneInItsGroupFailsWhole(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "alone.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.CreateSchema(ctx, `CREATE TABLE t (id INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	insert := `INSERT INTO t (id) VALUES (?)`
	var handed []int
	w, err := NewGroupWriter(ctx, db, func(results []int) { handed = append(handed, results...) }, insert)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	refused := errors.New("refused")
	_, err = w.Apply(ctx, func(ctx context.Context, tx Tx) (int, error) {
		if _, err := tx.ExecContext(ctx, insert, 1); err != nil {
			return 0, err
		}
		return 1, refused
	})
	if !errors.Is(err, refused) {
		t.Fatalf("Apply of a failing change: got %v, want %v", err, refused)
	}
	if _, err := w.Apply(ctx, func(ctx context.Context, tx Tx) (int, error) {
		_, err := tx.ExecContext(ctx, insert, 2)
		return 2, err
	}); err != nil {
		t.Fatal(err)
	}
	var ids []int
	rows, err := db.QueryContext(ctx, `SELECT id FROM t ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if fmt.Sprint(ids) != "[2]" || fmt.Sprint(handed) != "[2]" {
		t.Errorf("rows %v, handed over %v; want [2], [2]", ids, handed)
	}
}
