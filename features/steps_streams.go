package features

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kafkakit/kit/harness"
	"github.com/kafkakit/kit/services/events"
)

// A stream of orders: placed at streamRate a second, streamLead of them
// before the first fault, between faults and after the last, so that every
// fault happens while orders flow. Slow enough for a 2-core machine running
// a whole cluster, fast enough that each fault meets orders in flight.
const (
	streamRate     = 25
	streamLead     = 40
	streamInFlight = 16
	// streamTimeout bounds a stream with its faults, and each wait for
	// all of its orders to get somewhere.
	streamTimeout = 3 * time.Minute
)

// placed is one order of a stream: the answer and what its follower saw.
type placed struct {
	id       string
	response harness.Response
	err      error
	at       time.Time
	follow   *followed
}

// followed is a live stream of one order's statuses, read until a final
// status or the end of the scenario.
type followed struct {
	done   chan struct{}
	events []harness.Event
	err    error
}

// fault is something that happens to the stack while orders flow; it
// returns once it has happened (and the stack has reacted as far as the
// scenario waits for).
type fault struct {
	what string
	do   func(ctx context.Context) error
}

// placeStream has the shopper place orders for one of sku at streamRate,
// through every orders-api instance in turn, each followed live on a
// notification service in turn, and runs the faults one after another
// while they flow: streamLead orders before each and after the last. It
// returns once the faults are done and every order placed was answered.
func (w *world) placeStream(ctx context.Context, sku string, faults ...fault) error {
	s := scaleOf(ctx)
	if w.user == "" {
		return errors.New("no shopper: the scenario needs `Given a shopper`")
	}
	ctx, cancel := context.WithTimeout(ctx, streamTimeout)
	defer cancel()
	stock, err := w.client.Stock(ctx)
	if err != nil {
		return err
	}
	s.sku, s.stockBefore = w.sku(sku), stock[w.sku(sku)]

	p := &placer{w: w, s: s, news: make(chan struct{}, 1)}
	// Stopping ends the placing of new orders; those already sent are
	// answered (under ctx), as the server may have taken them.
	placing, stopPlacing := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.run(placing, ctx)
	}()
	stop := func() { stopPlacing(); <-done }
	defer stop()
	for _, f := range faults {
		if err := p.await(ctx, p.answered()+streamLead); err != nil {
			return fmt.Errorf("before %s: %w", f.what, err)
		}
		if s.faultAt.IsZero() {
			s.faultAt, s.faultWhat = time.Now(), f.what
		}
		if err := f.do(ctx); err != nil {
			return fmt.Errorf("%s while orders flow (%d placed): %w", f.what, p.answered(), err)
		}
	}
	if err := p.await(ctx, p.answered()+streamLead); err != nil {
		return fmt.Errorf("after the last fault: %w", err)
	}
	stop()
	fmt.Printf("MEASURE stream: %d orders placed at %d/s\n", len(s.placed()), streamRate)
	return nil
}

// placer places the orders of a stream.
type placer struct {
	w    *world
	s    *scaling
	mu   sync.Mutex
	n    int // answered orders
	keys int // idempotency keys handed out (careful streams)
	news chan struct{}
}

// run places an order every 1/streamRate seconds until placing ends, each
// sent under ctx, and returns once every order sent was answered.
func (p *placer) run(placing, ctx context.Context) {
	w := p.w
	apis := len(w.stack.Instances(harness.OrdersAPI))
	notifiers := len(w.stack.Instances(harness.NotificationsAPI))
	clients := map[int]*harness.Client{}
	for n := 1; n <= max(apis, notifiers); n++ {
		clients[n] = w.stack.ClientOn(n)
	}
	slots := make(chan struct{}, streamInFlight)
	var wg sync.WaitGroup
	defer wg.Wait()
	tick := time.NewTicker(time.Second / streamRate)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-placing.Done():
			return
		case slots <- struct{}{}:
		}
		wg.Go(func() {
			defer func() { <-slots }()
			p.place(ctx, clients[i%apis+1], clients[i%notifiers+1])
		})
		select {
		case <-placing.Done():
			return
		case <-tick.C:
		}
	}
}

// place places one order through api and follows it on notifier.
func (p *placer) place(ctx context.Context, api, notifier *harness.Client) {
	w, s := p.w, p.s
	order := harness.OrderRequest{UserID: w.user, Items: []harness.Item{{SKU: s.sku, Qty: 1}}, Total: 9.50, Currency: "EUR"}
	o := &placed{at: time.Now()}
	if s.careful {
		o.id, o.response, o.err = p.placeCarefully(ctx, api, order)
	} else {
		o.id, o.response, o.err = api.PlaceOrder(ctx, order)
	}
	if o.err == nil && o.response.Status == http.StatusCreated {
		o.follow = &followed{done: make(chan struct{})}
		go o.follow.run(s.followCtx, notifier, o.id)
	}
	s.mu.Lock()
	s.orders = append(s.orders, o)
	s.mu.Unlock()
	p.mu.Lock()
	p.n++
	p.mu.Unlock()
	select {
	case p.news <- struct{}{}:
	default:
	}
}

// placeCarefully sends order with an idempotency key of its own until it
// is accepted, refused for good (a 4xx other than 429) or ctx ends: sent
// again with the same key after a refusal for now (5xx, 429; after its
// Retry-After, up to 5 s) or no answer, so that a retry is the same order,
// never a second one.
func (p *placer) placeCarefully(ctx context.Context, api *harness.Client, order harness.OrderRequest) (string, harness.Response, error) {
	p.mu.Lock()
	p.keys++
	key := fmt.Sprintf("careful-%s-%d", p.w.token, p.keys)
	p.mu.Unlock()
	for {
		try, cancel := context.WithTimeout(ctx, 5*time.Second)
		id, resp, err := api.PlaceOrderWithKey(try, order, key)
		cancel()
		if err == nil && (resp.Status < 500 && resp.Status != http.StatusTooManyRequests) || ctx.Err() != nil {
			return id, resp, err
		}
		p.s.mu.Lock()
		p.s.retries++
		p.s.mu.Unlock()
		pause := 200 * time.Millisecond
		if secs, perr := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && perr == nil && secs > 0 {
			pause = min(time.Duration(secs)*time.Second, 5*time.Second)
		}
		select {
		case <-ctx.Done():
			return id, resp, err
		case <-time.After(pause): // a client's pause before sending again, as the server asked; not a wait for the system
		}
	}
}

func (p *placer) answered() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

// await returns once n orders were answered.
func (p *placer) await(ctx context.Context, n int) error {
	for p.answered() < n {
		select {
		case <-p.news:
		case <-ctx.Done():
			return fmt.Errorf("%d of %d orders answered: %w", p.answered(), n, ctx.Err())
		}
	}
	return nil
}

// run follows an order from its first status until a final one.
func (f *followed) run(ctx context.Context, c *harness.Client, orderID string) {
	defer close(f.done)
	stream, err := c.FollowOrder(ctx, orderID, "")
	if err != nil {
		f.err = err
		return
	}
	defer stream.Close()
	for {
		e, err := stream.Next(ctx)
		if err != nil {
			f.err = err
			return
		}
		f.events = append(f.events, e)
		if s, err := e.Status(); err != nil || s.Status.Final() {
			return
		}
	}
}

// placed returns the orders of the stream so far.
func (s *scaling) placed() []*placed {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.orders)
}

// accepted returns the stream's order ids, failing when any order was not
// accepted: the shop takes orders whatever else is going on.
func (s *scaling) accepted() ([]string, error) {
	all := s.placed()
	if len(all) == 0 {
		return nil, errors.New("no orders were placed")
	}
	var ids []string
	var refused []string
	for _, o := range all {
		switch {
		case o.err != nil:
			refused = append(refused, o.err.Error())
		case o.response.Status != http.StatusCreated:
			refused = append(refused, fmt.Sprintf("%d %s", o.response.Status, o.response.Body))
		default:
			ids = append(ids, o.id)
		}
	}
	if len(refused) > 0 {
		return ids, fmt.Errorf("%d of %d orders were not accepted; the first: %s", len(refused), len(all), refused[0])
	}
	return ids, nil
}

// The lifecycles an order's statuses may take, each status at its seq (its
// 1-based position): a reserved order is paid or declined, a rejected one
// fails at once.
var lifecycles = [][]events.Status{
	{events.StatusCreated, events.StatusProcessing, events.StatusPaid},
	{events.StatusCreated, events.StatusProcessing, events.StatusFailed},
	{events.StatusCreated, events.StatusFailed},
}

// trail lists an order's status records for a failure message: offset,
// seq, status and the record's timestamp — the moment its producer's call
// sent it (the relays stamp it), the same for every attempt of one call —
// so a record appended late by the broker tells itself from one sent late.
func trail(recs []harness.Record) string {
	var out []string
	for _, r := range recs {
		var st events.OrderStatus
		_ = json.Unmarshal(r.Value, &st) // lifecycle said what did not decode
		out = append(out, fmt.Sprintf("%d/%d %d:%s sent %s", r.Partition, r.Offset, st.Seq, st.Status,
			r.Timestamp.UTC().Format("15:04:05.000")))
	}
	return strings.Join(out, ", ")
}

// tailErrors names the fetch errors the status tail met, for a failure
// message: a record it never saw (a truncated log, a reset offset) shows
// there; "" when there were none.
func tailErrors(t *harness.Tail) string {
	errs := t.Errors()
	if len(errs) == 0 {
		return ""
	}
	return "; the status tail's fetch errors: " + strings.Join(errs, "; ")
}

// lifecycle checks one order's status records, in the order they were
// recorded, as a reader that keeps the highest seq per order reads them. A
// record with a seq already seen is a repeat (a producer's retry, a relay's
// resend) and is dropped, but must say what it said the first time. What is
// left must be one of the lifecycles, each status at its seq, and no record
// with a new seq may carry a status earlier in the lifecycle than one
// already seen: that record would take a reader back (PAID to PROCESSING
// when a redelivered reservation is answered again). It returns the
// statuses kept and how many repeats were dropped.
func lifecycle(recs []harness.Record) (kept []events.Status, repeats int, err error) {
	bySeq := map[int]events.Status{}
	var got []string  // every record as seq:status, for the messages
	var seqs []string // the kept records as seq:status
	for _, r := range recs {
		var st events.OrderStatus
		if err := json.Unmarshal(r.Value, &st); err != nil {
			return kept, repeats, fmt.Errorf("status at %d/%d: %w", r.Partition, r.Offset, err)
		}
		if r.Partition != recs[0].Partition {
			return kept, repeats, fmt.Errorf("statuses on partitions %d and %d; one key must stay on one partition", recs[0].Partition, r.Partition)
		}
		got = append(got, fmt.Sprintf("%d:%s", st.Seq, st.Status))
		if st.Seq <= 0 {
			return kept, repeats, fmt.Errorf("statuses %v: %s at offset %d has no seq, so a reader cannot tell it from a stale one", got, st.Status, r.Offset)
		}
		if was, ok := bySeq[st.Seq]; ok {
			if was != st.Status {
				return kept, repeats, fmt.Errorf("statuses %v: seq %d is %s at offset %d but was %s", got, st.Seq, st.Status, r.Offset, was)
			}
			repeats++
			continue
		}
		if len(kept) > 0 && stage(st.Status) < stage(kept[len(kept)-1]) {
			return kept, repeats, fmt.Errorf("statuses %v go backwards at offset %d: %s with a new seq %d after %s", got, r.Offset, st.Status, st.Seq, kept[len(kept)-1])
		}
		bySeq[st.Seq] = st.Status
		kept = append(kept, st.Status)
		seqs = append(seqs, got[len(got)-1])
	}
	for _, l := range lifecycles {
		var want []string
		for i, s := range l {
			want = append(want, fmt.Sprintf("%d:%s", i+1, s))
		}
		if slices.Equal(seqs, want) {
			return kept, repeats, nil
		}
	}
	return kept, repeats, fmt.Errorf("statuses %v keep %v once repeats are dropped, which is no order's lifecycle (1:CREATED 2:PROCESSING 3:PAID or FAILED, or 1:CREATED 2:FAILED)", got, seqs)
}

// stage is how far into an order's lifecycle a status is: a status of a
// lower stage never follows one of a higher.
func stage(s events.Status) int {
	switch s {
	case events.StatusCreated:
		return 1
	case events.StatusProcessing:
		return 2
	default: // PAID, FAILED
		return 3
	}
}

// everyOrderPaid waits until every order of the stream has a final status
// and checks each order's statuses on the status topic: on one partition,
// never taking a reader that keeps the highest seq backwards (lifecycle),
// ending PAID. A producer's retry may repeat a status; how many were
// repeated is printed.
func everyOrderPaid(ctx context.Context) error {
	w, s := the(ctx), scaleOf(ctx)
	ids, err := s.accepted()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, streamTimeout)
	defer cancel()
	recs, err := w.statuses.WaitFor(ctx, func(recs []harness.Record) bool {
		return len(finalOf(recs, ids)) == len(ids)
	})
	if err != nil {
		final := finalOf(recs, ids)
		var missing []string
		for _, id := range ids {
			if _, ok := final[id]; !ok {
				missing = append(missing, id)
			}
		}
		return fmt.Errorf("%d of %d orders never reached a final status (the first: %s): %w", len(missing), len(ids), missing[0], err)
	}
	byOrder := map[string][]harness.Record{}
	for _, r := range recs {
		byOrder[r.Key] = append(byOrder[r.Key], r)
	}
	repeats := 0
	for _, id := range ids {
		kept, n, err := lifecycle(byOrder[id])
		if err != nil {
			return fmt.Errorf("order %s: %w; its records: %s%s", id, err, trail(byOrder[id]), tailErrors(w.statuses))
		}
		if final := kept[len(kept)-1]; final != events.StatusPaid {
			return fmt.Errorf("order %s ended %s, want PAID", id, final)
		}
		repeats += n
	}
	created, err := w.orders.UpToNow(ctx)
	if err != nil {
		return err
	}
	perOrder := map[string]int{}
	for _, r := range created {
		perOrder[r.Key]++
	}
	sentTwice := 0
	for _, id := range ids {
		switch n := perOrder[id]; {
		case n == 0:
			return fmt.Errorf("order %s was paid but never recorded on the orders topic", id)
		case n > 1:
			sentTwice++
		}
	}
	s.printLatency(byOrder)
	fmt.Printf("MEASURE delivery: %d orders paid; %d recorded more than once on the orders topic; %d repeated statuses dropped by a reader keeping the highest seq\n",
		len(ids), sentTwice, repeats)
	return nil
}

// printLatency prints how long the stream's orders took from being placed
// to their first PAID record (its timestamp is when the processor wrote
// it), and when the slowest was placed relative to the first fault: how
// long the stack took to recover shows there.
func (s *scaling) printLatency(byOrder map[string][]harness.Record) {
	var took []time.Duration
	var slowest *placed
	var worst time.Duration
	for _, o := range s.placed() {
		for _, r := range byOrder[o.id] {
			var st events.OrderStatus
			if json.Unmarshal(r.Value, &st) != nil || st.Status != events.StatusPaid {
				continue
			}
			d := r.Timestamp.Sub(o.at)
			took = append(took, d)
			if d > worst {
				worst, slowest = d, o
			}
			break
		}
	}
	if len(took) == 0 {
		return
	}
	slices.Sort(took)
	at := func(q float64) time.Duration { return took[int(q*float64(len(took)-1))].Round(time.Millisecond) }
	where := ""
	if !s.faultAt.IsZero() && slowest != nil {
		side, d := "after", slowest.at.Sub(s.faultAt).Round(10*time.Millisecond)
		if d < 0 {
			side, d = "before", -d
		}
		where = fmt.Sprintf(", placed %v %s %q began", d, side, s.faultWhat)
	}
	fmt.Printf("MEASURE latency: order placed to PAID recorded: p50 %v, p99 %v, max %v (order %s%s)\n",
		at(0.5), at(0.99), worst.Round(time.Millisecond), slowest.id, where)
}

// finalOf returns, for each of ids, its final status records seen so far.
func finalOf(recs []harness.Record, ids []string) map[string]events.Status {
	want := unique(ids)
	out := map[string]events.Status{}
	for _, r := range recs {
		if !want[r.Key] {
			continue
		}
		var st events.OrderStatus
		if json.Unmarshal(r.Value, &st) == nil && st.Status.Final() {
			out[r.Key] = st.Status
		}
	}
	return out
}

// sawEachOrderOnce checks what each order's live follower saw: CREATED,
// PROCESSING and PAID, once each, with ids 1, 2 and 3, whichever instance
// it followed on and whatever was redelivered.
func sawEachOrderOnce(ctx context.Context) error {
	s := scaleOf(ctx)
	if _, err := s.accepted(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, streamTimeout)
	defer cancel()
	want := []events.Status{events.StatusCreated, events.StatusProcessing, events.StatusPaid}
	var wrong []string
	for _, o := range s.placed() {
		if o.follow == nil {
			return fmt.Errorf("order %s was not followed", o.id)
		}
		select {
		case <-o.follow.done:
		case <-ctx.Done():
			return fmt.Errorf("the follower of order %s never saw a final status (it saw %d events): %w", o.id, len(o.follow.events), ctx.Err())
		}
		var got []string
		ok := o.follow.err == nil && len(o.follow.events) == len(want)
		for i, e := range o.follow.events {
			st, err := e.Status()
			got = append(got, e.ID+":"+string(st.Status))
			if err != nil || e.Event != "status" || st.OrderID != o.id || i >= len(want) || st.Status != want[i] || e.ID != strconv.Itoa(i+1) {
				ok = false
			}
		}
		if !ok {
			wrong = append(wrong, fmt.Sprintf("order %s: saw %v (%v)", o.id, got, o.follow.err))
		}
	}
	if len(wrong) > 0 {
		return fmt.Errorf("%d followers did not see 1:CREATED, 2:PROCESSING, 3:PAID once each; %s", len(wrong), strings.Join(wrong[:min(len(wrong), 5)], "; "))
	}
	return nil
}

// eachTookStockOnce checks the stock of the stream's SKU: every order took
// one, once, the takes count down from the stock the stream began with, and
// every stock service instance shows what is left.
func eachTookStockOnce(ctx context.Context, sku string) error {
	w, s := the(ctx), scaleOf(ctx)
	ids, err := s.accepted()
	if err != nil {
		return err
	}
	if s.sku != w.sku(sku) {
		return fmt.Errorf("the orders were for %q, not %q", s.sku, sku)
	}
	ctx, cancel := context.WithTimeout(ctx, streamTimeout)
	defer cancel()
	mine := unique(ids)
	var left map[int]string
	var wrong error
	if _, err := w.inventory.WaitFor(ctx, func(recs []harness.Record) bool {
		left, wrong = takes(recs, s.sku, mine)
		return wrong != nil || len(left) == len(ids)
	}); err != nil {
		return fmt.Errorf("%d of %d orders announced taking their %s: %w", len(left), len(ids), sku, err)
	}
	if wrong != nil {
		return wrong
	}
	want := s.stockBefore - len(ids)
	for q := want; q < s.stockBefore; q++ {
		if _, ok := left[q]; !ok {
			return fmt.Errorf("no order left %d %s: the takes do not count down one by one from %d", q, sku, s.stockBefore)
		}
	}
	return w.everyInstanceHas(ctx, s.sku, want)
}

// takes reads the inventory updates of sku for orders: each order may take
// one item, once — an update sent again (a resent outbox row) leaves the
// same quantity, a second take would not — and no two orders may leave the
// same quantity, or one take overwrote another. It returns each quantity
// left and the order that left it.
func takes(recs []harness.Record, sku string, orders map[string]bool) (map[int]string, error) {
	left := map[int]string{}
	byOrder := map[string]int{}
	for _, r := range recs {
		var u events.InventoryUpdated
		if r.Key != sku || json.Unmarshal(r.Value, &u) != nil || !orders[u.OrderID] {
			continue
		}
		if u.Delta != -1 {
			return nil, fmt.Errorf("order %s changed %s by %d, want -1", u.OrderID, sku, u.Delta)
		}
		if q, ok := byOrder[u.OrderID]; ok && q != u.NewQuantity {
			return nil, fmt.Errorf("order %s took %s twice: it left %d, then %d", u.OrderID, sku, q, u.NewQuantity)
		}
		if other, ok := left[u.NewQuantity]; ok && other != u.OrderID {
			return nil, fmt.Errorf("orders %s and %s both left %d %s: one take was lost", other, u.OrderID, u.NewQuantity, sku)
		}
		byOrder[u.OrderID], left[u.NewQuantity] = u.NewQuantity, u.OrderID
	}
	return left, nil
}

// everyInstanceHas waits until every running stock service instance shows
// n of sku (they share one database, so what one took all see).
func (w *world) everyInstanceHas(ctx context.Context, sku string, n int) error {
	down := scaleOf(ctx).isDown
	for i, in := range w.stack.Instances(harness.StockService) {
		if down(in) {
			continue
		}
		c := w.stack.ClientOn(i + 1)
		var got int
		err := eventually(ctx, fmt.Sprintf("stock service instance %d never showed %d %s", i+1, n, sku), func() (bool, error) {
			stock, err := c.Stock(ctx)
			got = stock[sku]
			return err == nil && got == n, err
		})
		if err != nil {
			return fmt.Errorf("%w (it shows %d)", err, got)
		}
	}
	return nil
}

// followingOnOne places an order and follows it on the second notification
