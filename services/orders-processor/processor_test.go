package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"

	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/outbox"
	"github.com/kafkakit/kit/services/platform/sqldb"
	"github.com/kafkakit/kit/services/platform/sqldb/sqldbtest"
	"github.com/kafkakit/kit/services/platform/tracing"
)

func TestPaymentRule(t *testing.T) {
	rule := PaymentRule{Limit: 1000}
	tests := []struct {
		total      float64
		wantStatus events.Status
	}{
		{0, events.StatusPaid},
		{999.99, events.StatusPaid},
		{1000, events.StatusPaid},
		{1000.01, events.StatusFailed},
		{5000, events.StatusFailed},
	}
	for _, tt := range tests {
		status, kind, reason := rule.Decide(tt.total, "EUR")
		if status != tt.wantStatus {
			t.Errorf("Decide(total %v) = %s, want %s", tt.total, status, tt.wantStatus)
		}
		if (status == events.StatusFailed) != (reason != "") {
			t.Errorf("Decide(total %v): reason %q, want one exactly when FAILED", tt.total, reason)
		}
		wantKind := events.FailureKind("")
		if tt.wantStatus == events.StatusFailed {
			wantKind = events.FailurePaymentDeclined
		}
		if kind != wantKind {
			t.Errorf("Decide(total %v): failure kind %q, want %q", tt.total, kind, wantKind)
		}
	}
}

func reservation(orderID string, result events.ReservationResult, total float64) events.StockReservation {
	r := events.StockReservation{OrderID: orderID, Result: result, Items: []events.Item{{SKU: "A", Qty: 1}}, Total: total, Currency: "EUR"}
	if result == events.Rejected {
		r.Reason = "out of stock: A has 0 left, the order asks for 1"
	}
	return r
}

// broker is what the relay produced: each status checked against the
// orders.status contract as a consumer would check it.
type broker struct {
	mu      sync.Mutex
	msgs    []kafka.Message
	got     []events.OrderStatus
	written func(events.OrderStatus) // called for each status produced
}

func (b *broker) WriteMessages(_ context.Context, msgs ...kafka.Message) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range msgs {
		if m.Topic != events.TopicOrdersStatus {
			return fmt.Errorf("record for topic %q, want %s", m.Topic, events.TopicOrdersStatus)
		}
		s, err := events.DecodeOrderStatus(m.Value)
		if err != nil {
			return fmt.Errorf("status %s breaks its contract: %w", m.Value, err)
		}
		if string(m.Key) != s.OrderID {
			return fmt.Errorf("status of %s keyed by %q", s.OrderID, m.Key)
		}
		b.msgs = append(b.msgs, m)
		b.got = append(b.got, s)
		if b.written != nil {
			b.written(s)
		}
	}
	return nil
}

// statuses returns what was produced for orderID, in order.
func (b *broker) statuses(orderID string) []events.OrderStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []events.OrderStatus
	for _, s := range b.got {
		if s.OrderID == orderID {
			out = append(out, s)
		}
	}
	return out
}

// running is one processor with its ledger in a database file and its
// relay producing to a broker, as run wires them.
type running struct {
	*Processor
	ledger  *Ledger
	stopped bool
	stop    func()
}

// start starts a processor on the database at dsn (a fresh one, or the one
// a stopped processor left) producing to b; t.Cleanup stops it.
func start(t *testing.T, dsn string, b *broker, delay time.Duration, now func() time.Time) *running {
	t.Helper()
	db, err := sqldb.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	ob := outbox.New(db)
	relay := outbox.NewRelay(ob, b, slog.New(slog.DiscardHandler))
	l, err := OpenLedger(context.Background(), db, ob, events.TopicOrdersStatus, relay.Committed)
	if err != nil {
		t.Fatal(err)
	}
	stopRelay := relay.Start(context.Background())
	r := &running{Processor: &Processor{Statuses: l, Rule: PaymentRule{Limit: 1000}, Delay: delay, Log: slog.New(slog.DiscardHandler), Now: now}, ledger: l}
	r.stop = func() {
		if !r.stopped {
			r.stopped = true
			stopRelay()
			l.Close()
		}
	}
	t.Cleanup(r.stop)
	return r
}

// settle waits until the relay produced everything the ledger committed.
func (r *running) settle(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	poll := time.NewTicker(5 * time.Millisecond)
	defer poll.Stop()
	for {
		n, err := r.ledger.Outbox().Backlog(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d statuses still in the outbox after 30 s", n)
		}
		<-poll.C
	}
}

func testDSN(t *testing.T) string { return filepath.Join(t.TempDir(), "orders-processor.db") }

// outcome is how an order's last status ends: its reason and failure kind
// (none for PAID).
type outcome struct {
	reason string
	kind   events.FailureKind
}

var (
	paid       = outcome{}
	declined   = outcome{"payment declined: total 1500.00 EUR is over the 1000.00 limit", events.FailurePaymentDeclined}
	outOfStock = outcome{"out of stock: A has 0 left, the order asks for 1", events.FailureOutOfStock}
)

// lifecycles are the three ways an order goes, with the statuses each
// writes and how the last ends.
var lifecycles = []struct {
	name    string
	result  events.ReservationResult
	total   float64
	want    []events.Status
	wantSeq []int
	wantEnd outcome
}{
	{"reserved and within the limit", events.Reserved, 10, []events.Status{events.StatusCreated, events.StatusProcessing, events.StatusPaid}, []int{1, 2, 3}, paid},
	{"reserved but over the limit", events.Reserved, 1500, []events.Status{events.StatusCreated, events.StatusProcessing, events.StatusFailed}, []int{1, 2, 3}, declined},
	{"rejected for stock: nobody pays", events.Rejected, 10, []events.Status{events.StatusCreated, events.StatusFailed}, []int{1, 2}, outOfStock},
}

// checkLifecycle says what differs between got and the lifecycle's
// statuses, each once, in order, the last ending as wantEnd and none
// before it carrying a reason or a kind.
func checkLifecycle(t *testing.T, what string, got []events.OrderStatus, want []events.Status, wantSeq []int, wantEnd outcome) {
	t.Helper()
	names := make([]events.Status, len(got))
	for i, s := range got {
		names[i] = s.Status
	}
	if len(got) != len(want) {
		t.Fatalf("%s: statuses %v, want %v, each once", what, names, want)
	}
	for i, s := range got {
		if s.Status != want[i] || s.Seq != wantSeq[i] {
			t.Errorf("%s: status %d = %s seq %d, want %s seq %d", what, i, s.Status, s.Seq, want[i], wantSeq[i])
		}
		if s.UpdatedAt.Location() != time.UTC {
			t.Errorf("%s: updatedAt %v is not UTC", what, s.UpdatedAt)
		}
		end := outcome{}
		if i == len(got)-1 {
			end = wantEnd
		}
		if got := (outcome{s.Reason, s.FailureKind}); got != end {
			t.Errorf("%s: status %d %s: reason %q failure kind %q, want %q %q", what, i, s.Status, got.reason, got.kind, end.reason, end.kind)
		}
	}
}

// TestAnOrderRejectedAsInvalidFailsWithoutAKind: stock-service also
// rejects an order it cannot apply at all ("invalid order: …"); that is
// not out of stock, so its FAILED carries the reason and no kind, and a
// reader shows it as a failure of no known kind rather than as out of
// stock.
func TestAnOrderRejectedAsInvalidFailsWithoutAKind(t *testing.T) {
	b := &broker{}
	p := start(t, testDSN(t), b, 0, time.Now)
	id := uuid.NewString()
	r := reservation(id, events.Rejected, 10)
	r.Reason = `invalid order: SKU "A\nB" has a control character`
	if err := p.Handle(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	p.settle(t)
	checkLifecycle(t, "rejected as invalid", b.statuses(id), []events.Status{events.StatusCreated, events.StatusFailed}, []int{1, 2}, outcome{r.Reason, ""})
}

func TestHandleRecordsTheLifecycleInOrder(t *testing.T) {
	at := time.Date(2026, 11, 25, 9, 0, 0, 0, time.FixedZone("CET", 3600))
	for _, tt := range lifecycles {
		for _, delay := range []time.Duration{0, time.Nanosecond} { // one transaction, or two around the payment
			b := &broker{}
			p := start(t, testDSN(t), b, delay, func() time.Time { return at })
			id := uuid.NewString()
			if err := p.Handle(context.Background(), reservation(id, tt.result, tt.total)); err != nil {
				t.Fatal(err)
			}
			p.settle(t)
			checkLifecycle(t, fmt.Sprintf("%s (delay %v)", tt.name, delay), b.statuses(id), tt.want, tt.wantSeq, tt.wantEnd)
		}
	}
}

// TestARedeliveredReservationWritesNothingNew: stock-service's answer
// handled again (a redelivery after a rebalance, a crash before the
// consumer's commit, a copy put back on the topic) writes no status the
// order already has: a reader that keeps the latest status never sees a
// finished order go back to CREATED.
func TestARedeliveredReservationWritesNothingNew(t *testing.T) {
	for _, tt := range lifecycles {
		for _, delay := range []time.Duration{0, time.Nanosecond} {
			b := &broker{}
			p := start(t, testDSN(t), b, delay, time.Now)
			var logs bytes.Buffer
			p.Log = slog.New(slog.NewTextHandler(&logs, nil))
			id := uuid.NewString()
			for range 3 {
				if err := p.Handle(context.Background(), reservation(id, tt.result, tt.total)); err != nil {
					t.Fatal(err)
				}
			}
			p.settle(t)
			what := fmt.Sprintf("%s (delay %v), handled three times", tt.name, delay)
			checkLifecycle(t, what, b.statuses(id), tt.want, tt.wantSeq, tt.wantEnd)
			// The lessons (docs/learn) look for this line.
			if got := strings.Count(logs.String(), "order already answered; nothing written"); got != 2 {
				t.Errorf("%s: logged %d redeliveries, want 2:\n%s", what, got, logs.String())
			}
		}
	}
}

// TestARedeliveryAfterACrashDuringPaymentWritesOnlyTheFinalStatus: the
// processor stops (a crash, a deploy) after CREATED and PROCESSING were
// recorded and before the payment ended; the reservation, not committed,
// comes again to a new process, which records only what is missing.
func TestARedeliveryAfterACrashDuringPaymentWritesOnlyTheFinalStatus(t *testing.T) {
	dsn := testDSN(t)
	b := &broker{}
	id := uuid.NewString()
	ctx, crash := context.WithCancel(context.Background())
	b.written = func(s events.OrderStatus) {
		if s.Status == events.StatusProcessing {
			crash() // in the middle of the payment
		}
	}
	first := start(t, dsn, b, time.Hour, time.Now)
	if err := first.Handle(ctx, reservation(id, events.Reserved, 10)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Handle during the crash: err = %v, want context.Canceled (the reservation stays uncommitted)", err)
	}
	first.settle(t)
	first.stop()

	again := start(t, dsn, b, time.Nanosecond, time.Now)
	if err := again.Handle(context.Background(), reservation(id, events.Reserved, 10)); err != nil {
		t.Fatal(err)
	}
	again.settle(t)
	checkLifecycle(t, "crash during the payment, then the redelivery", b.statuses(id),
		[]events.Status{events.StatusCreated, events.StatusProcessing, events.StatusPaid}, []int{1, 2, 3}, paid)
}

// TestOneOrderHandledTwiceAtOnceWritesEachStatusOnce: two handlers of one
// reservation at once (an old and a new owner of the partition during a
// rebalance) write each status once between them.
func TestOneOrderHandledTwiceAtOnceWritesEachStatusOnce(t *testing.T) {
	b := &broker{}
	p := start(t, testDSN(t), b, time.Nanosecond, time.Now)
	id := uuid.NewString()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if err := p.Handle(context.Background(), reservation(id, events.Reserved, 10)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	p.settle(t)
	checkLifecycle(t, "handled four times at once", b.statuses(id),
		[]events.Status{events.StatusCreated, events.StatusProcessing, events.StatusPaid}, []int{1, 2, 3}, paid)
}

// failingLedger is a ledger whose database is gone.
type failingLedger struct{}

func (failingLedger) Advance(context.Context, ...events.OrderStatus) (Reached, bool, error) {
	return Reached{}, false, errors.New("database is locked")
}

func TestHandleFailsWhenTheLedgerDoesNot(t *testing.T) {
	for _, r := range []events.StockReservation{reservation(uuid.NewString(), events.Reserved, 1), reservation(uuid.NewString(), events.Rejected, 1)} {
		for _, delay := range []time.Duration{0, time.Nanosecond} {
			p := &Processor{Statuses: failingLedger{}, Rule: PaymentRule{Limit: 1}, Delay: delay, Log: slog.New(slog.DiscardHandler), Now: time.Now}
			if err := p.Handle(context.Background(), r); err == nil {
				t.Fatalf("%s: Handle returned nil although no status was recorded; the reservation would be committed and the order lost", r.Result)
			}
		}
	}
}

func TestHandleStopsWaitingWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p := start(t, testDSN(t), &broker{}, time.Hour, time.Now)
	if err := p.Handle(ctx, reservation(uuid.NewString(), events.Reserved, 1)); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// Each status carries the trace of the reservation it answers and the time
// it was sent, so one order is one trace and its hops can be timed.
func TestStatusesCarryTheTraceAndTheirTime(t *testing.T) {
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
	tr, err := tracing.Setup(context.Background(), "orders-processor", "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, span := tr.StartConsume(context.Background(), kafka.Message{Topic: events.TopicStockReservations,
		Headers: []kafka.Header{{Key: "traceparent", Value: []byte(parent)}}}, events.GroupOrdersProcessor)
	defer span.End()
	b := &broker{}
	p := start(t, testDSN(t), b, 0, time.Now)
	before := time.Now()
	if err := p.Handle(ctx, reservation(uuid.NewString(), events.Reserved, 10)); err != nil {
		t.Fatal(err)
	}
	p.settle(t)
	if len(b.msgs) != 3 {
		t.Fatalf("%d statuses produced, want 3", len(b.msgs))
	}
	for i, m := range b.msgs {
		if got := tracing.TraceID(m.Headers); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
			t.Errorf("status %d: trace id %q (headers %v), want the reservation's", i, got, m.Headers)
		}
		if m.Time.Before(before) {
			t.Errorf("status %d: time %v, want when it was sent (after %v)", i, m.Time, before)
		}
	}
}

// A DB_DSN that names no database the ledger can open is refused at start.
func TestConfigRefusesABadDSN(t *testing.T) {
	env := map[string]string{"DB_DSN": "mysql://x/y"}
	if _, err := loadConfig(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "DB_DSN") {
		t.Errorf("loadConfig(DB_DSN=mysql://x/y) = %v, want an error naming DB_DSN", err)
	}
}

// TestTwoInstancesOnOnePostgreSQLWriteEachStatusOnce: processors sharing
// one PostgreSQL (DB_DSN=postgres://…) racing on the same orders — a
// reservation redelivered to another instance during a rebalance while the
// first still handles it — write each status once between them: the
// order's ledger row is locked, and the loser of the race to insert it is
// applied again and finds the winner's statuses. It needs a PostgreSQL
// database: the test's own (sqldbtest; `make unit` starts the server).
func TestTwoInstancesOnOnePostgreSQLWriteEachStatusOnce(t *testing.T) {
	dsn := sqldbtest.Postgres(t)
	b := &broker{}
	instances := []*running{start(t, dsn, b, time.Nanosecond, time.Now), start(t, dsn, b, time.Nanosecond, time.Now)}
	orders := make([]string, 20)
	var wg sync.WaitGroup
	for i := range orders {
		orders[i] = uuid.NewString()
		result := events.Reserved
		if i%4 == 0 {
			result = events.Rejected
		}
		for _, p := range instances {
			for range 2 {
				wg.Go(func() {
					if err := p.Handle(context.Background(), reservation(orders[i], result, 10)); err != nil {
						t.Error(err)
					}
				})
			}
		}
	}
	wg.Wait()
	for _, p := range instances {
		p.settle(t)
	}
	for i, id := range orders {
		want, wantSeq, end := []events.Status{events.StatusCreated, events.StatusProcessing, events.StatusPaid}, []int{1, 2, 3}, paid
		if i%4 == 0 {
			want, wantSeq, end = []events.Status{events.StatusCreated, events.StatusFailed}, []int{1, 2}, outOfStock
		}
		checkLifecycle(t, fmt.Sprintf("order %d handled twice by each of two instances", i), b.statuses(id), want, wantSeq, end)
	}
}
