package outbox

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/kafkakit/kit/services/platform/sqldb/sqldbtest"
)

// TestATableReadNeverSplitsATransactionsRecords: on PostgreSQL a record's
// seq is taken when it is inserted, not when its transaction commits, so a
// transaction can commit records with seqs below some another transaction
// committed first. A read of the table that pages by seq saw such a
// transaction's later records on a page read after its commit and not its
// earlier ones, whose seqs a page read before the commit had passed: the
// relay sent PROCESSING, and CREATED only on its next read — an order's
// statuses backwards on orders.status (make features-cluster, about one run
// in twenty). Here one transaction queues CREATED and PROCESSING of an order
// around another transaction's record, and commits between the read's two
// pages.
func TestATableReadNeverSplitsATransactionsRecords(t *testing.T) {
	ctx := context.Background()
	db, o := openOutboxAt(t, sqldbtest.Postgres(t))
	r := NewRelay(o, newFakeWriter(), slog.New(slog.DiscardHandler))
	r.Batch = 1 // one record per page

	order, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer order.Rollback()
	if _, err := o.Put(ctx, order, msg("orders.status", "o1", "CREATED")); err != nil {
		t.Fatal(err)
	}
	other := commit(t, db, o, msg("orders.status", "o2", "other")) // a seq between the two
	if _, err := o.Put(ctx, order, msg("orders.status", "o1", "PROCESSING")); err != nil {
		t.Fatal(err)
	}
	r.acknowledged(other[0].seq) // sent, not yet deleted: the read pages past it

	pages := 0
	r.pageRead = func() {
		if pages++; pages == 1 {
			if err := order.Commit(); err != nil {
				t.Fatal(err)
			}
		}
	}
	var sent []string
	for range 3 { // reads until both went, as Run's rounds do
		batch, err := r.readBatch(ctx, r.nextRetry)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range batch {
			sent = append(sent, string(q.msg.Value))
			r.acknowledged(q.seq)
		}
	}
	if got := strings.Join(sent, ","); got != "CREATED,PROCESSING" {
		t.Errorf("reads of the table returned %s, want CREATED,PROCESSING: a transaction's records in its order", got)
	}
}
