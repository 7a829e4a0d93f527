package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kafkakit/kit/services/platform/sqldb"
)

// TestSeparateChangesOfTwoInstancesNeverDeadlock: two instances' writers on
// one PostgreSQL, each change locking the rows it changes in key order, as
// stock-service's reservations do. Grouped, one instance's group would hold
// "a" while waiting for "b" and the other's the reverse (PostgreSQL breaks
// that deadlock by failing one); separate, every change goes through and
// the counts are exact.
func TestSeparateChangesOfTwoInstancesNeverDeadlock(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, dsn := startDatabase(ctx, t, "separate changes", "separate")
	const (
		lock   = `SELECT qty FROM stock WHERE sku = $1 FOR UPDATE`
		update = `UPDATE stock SET qty = $1 WHERE sku = $2`
		start  = 100000
	)
	var writers []*sqldb.GroupWriter[struct{}]
	for i := range 2 {
		db, err := sqldb.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if i == 0 {
			if err := db.CreateSchema(ctx, `CREATE TABLE stock (sku TEXT PRIMARY KEY, qty BIGINT NOT NULL);
INSERT INTO stock VALUES ('a', 100000), ('b', 100000)`); err != nil {
				t.Fatal(err)
			}
		}
		w, err := sqldb.NewGroupWriter[struct{}](ctx, db, nil, lock, update)
		if err != nil {
			t.Fatal(err)
		}
		w.Separate = true
		defer w.Close()
		writers = append(writers, w)
	}
	// take takes one of each SKU, locking them in key order.
	take := func(skus ...string) sqldb.Change[struct{}] {
		return func(ctx context.Context, tx sqldb.Tx) (struct{}, error) {
			for _, sku := range skus {
				var q int64
				if err := tx.QueryRowContext(ctx, lock, sku).Scan(&q); err != nil {
					return struct{}{}, fmt.Errorf("lock %s: %w", sku, err)
				}
				if _, err := tx.ExecContext(ctx, update, q-1, sku); err != nil {
					return struct{}{}, fmt.Errorf("take %s: %w", sku, err)
				}
			}
			return struct{}{}, nil
		}
	}
	changes := [][]string{{"a"}, {"b"}, {"a", "b"}}
	const perWriter = 600
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []error
	taken := map[string]int64{}
	for _, w := range writers {
		for i := range perWriter {
			skus := changes[i%len(changes)]
			for _, sku := range skus {
				taken[sku]++
			}
			wg.Go(func() {
				if _, err := w.Apply(ctx, take(skus...)); err != nil {
					mu.Lock()
					failures = append(failures, err)
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Errorf("%d of %d changes failed, first: %v", len(failures), 2*perWriter, failures[0])
	}
	check, err := sqldb.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer check.Close()
	for sku, n := range taken {
		var q int64
		if err := check.QueryRowContext(ctx, `SELECT qty FROM stock WHERE sku = $1`, sku).Scan(&q); err != nil {
			t.Fatal(err)
		}
		if q != start-n {
			t.Errorf("%s: %d left, want %d (%d taken)", sku, q, start-n, n)
		}
	}
}
