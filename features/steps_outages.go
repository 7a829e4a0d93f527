package features

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/cucumber/godog"

	"github.com/kafkakit/kit/harness"
	"github.com/kafkakit/kit/harness/broker"
	"github.com/kafkakit/kit/services/events"
)

// heldTopics are the topics a service's outbox relay writes to, which a
// scenario makes the broker refuse to hold records in the outbox.
var heldTopics = map[string][]string{
	harness.OrdersAPI:    {events.TopicOrdersCreated},
	harness.StockService: {events.TopicStockReservations, events.TopicInventoryUpdated},
}

// restoreTimeout bounds bringing the stack back after a scenario that left
// something down; a broker restart plus every consumer rejoining fits.
const restoreTimeout = 2 * time.Minute

// outage is what one scenario took down and has not brought back yet, so
// that the stack is whole again for the next scenario even when a step
// failed half-way.
type outage struct {
	services   map[string]bool
	brokerDown bool
	// brokerBounced is set once the broker went down in this scenario.
	brokerBounced bool
	// pids are the services' processes when the broker went down: a
	// service must ride out the outage, not exit.
	pids map[string]int
	// accepted is the order accepted before the broker went down.
	accepted string
	// unblock lets the broker take writes again, per service whose topics
	// were blocked.
	unblock map[string]func(context.Context) error
	// stream is the shopper's steady stream of orders, when there is one.
	stream *orderStream
}

type outageKey struct{}

func outageOf(ctx context.Context) *outage { return ctx.Value(outageKey{}).(*outage) }

func outageSteps(sc *godog.ScenarioContext) {
	sc.Before(func(ctx context.Context, _ *godog.Scenario) (context.Context, error) {
		return context.WithValue(ctx, outageKey{}, &outage{services: map[string]bool{}, unblock: map[string]func(context.Context) error{}}), nil
	})
	sc.After(restoreStack)

	sc.Step(`^the (payment|stock|order) service is stopped for a deploy$`, func(ctx context.Context, which string) error {
		if s := outageOf(ctx).stream; s != nil {
			// Mid-stream: once the service has had some of it.
			if err := s.waitAccepted(ctx, 10); err != nil {
				return err
			}
		}
		return stopService(ctx, which, (*harness.Stack).Stop)
	})
	sc.Given(`^the shopper keeps ordering "([^"]*)"$`, keepOrdering)
	sc.Then(`^every order the stock service took in has its answer recorded$`, answersOfTakenIn)
	sc.Then(`^every order the shop accepted is recorded$`, acceptedAreRecorded)
	sc.Then(`^every order of the stream is paid once$`, streamPaidOnce)
	sc.Given(`^the (payment|stock) service has crashed$`, func(ctx context.Context, which string) error {
		return stopService(ctx, which, (*harness.Stack).Kill)
	})
	sc.When(`^the (payment|stock|order) service is back$`, serviceBack)

	sc.Given(`^the shopper has an order that was just accepted$`, justAccepted)
	sc.When(`^the message broker goes down$`, brokerDown)
	sc.Then(`^a new order from the shopper is still accepted$`, acceptedWhileDown)
	sc.When(`^the message broker is back$`, brokerBack)
	sc.Then(`^both orders are paid, each taking its stock once$`, bothPaidOnce)

	sc.Given(`^the (order|stock) service cannot pass (?:orders|its answers) on to the message broker$`, holdOutbox)
	sc.When(`^the (order|stock) service crashes after (?:accepting the order|reserving the stock) and before passing (?:it|the answer) on$`, crashWithOutboxHeld)
	sc.When(`^the (order|stock) service is back, and can pass (?:orders|its answers) on again$`, releaseOutbox)
}

// holdOutbox makes the broker refuse the writes of a service's outbox
// relay while everything else goes on: the service commits, and what it
// committed waits in its outbox.
func holdOutbox(ctx context.Context, which string) error {
	w, name := the(ctx), servicesNamed[which]
	ctx, cancel := within(ctx)
	defer cancel()
	unblock, err := broker.BlockWrites(ctx, w.stack.Broker(), heldTopics[name]...)
	if err != nil {
		return fmt.Errorf("hold %s's records: %w", name, err)
	}
	outageOf(ctx).unblock[name] = unblock
	return nil
}

// crashWithOutboxHeld kills a service once it has committed the order's
// change but, its records held, has produced nothing for it: the state a
// crash between the commit and the produce leaves.
func crashWithOutboxHeld(ctx context.Context, which string) error {
	w, name := the(ctx), servicesNamed[which]
	if err := w.accepted(); err != nil {
		return err
	}
	wait, cancel := within(ctx)
	defer cancel()
	tail := w.orders
	if name == harness.StockService {
		// The change is committed once the ledger has the order.
		if _, err := w.processed(wait); err != nil {
			return err
		}
		tail = w.reservations
	}
	recs, err := tail.UpToNow(wait)
	if err != nil {
		return err
	}
	if mine := recordsFor(recs, w.orderID); len(mine) > 0 {
		return fmt.Errorf("%s produced %s for order %s although the broker was refusing it", name, tail.Topic, w.orderID)
	}
	return stopService(ctx, which, (*harness.Stack).Kill)
}

// releaseOutbox lets the broker take the service's writes again and
// restarts it on its data: its relay finds the committed records.
func releaseOutbox(ctx context.Context, which string) error {
	name := servicesNamed[which]
	o := outageOf(ctx)
	if unblock := o.unblock[name]; unblock != nil {
		wait, cancel := within(ctx)
		defer cancel()
		if err := unblock(wait); err != nil {
			return fmt.Errorf("let %s's records through again: %w", name, err)
		}
		delete(o.unblock, name)
	}
	return serviceBack(ctx, which)
}

// stopService takes a service down with stop (SIGTERM for a deploy, SIGKILL
// for a crash) and waits until its process is gone.
func stopService(ctx context.Context, which string, stop func(*harness.Stack, string) error) error {
	w, name := the(ctx), servicesNamed[which]
	if w.stack.PID(name) == 0 {
		return fmt.Errorf("%s is not a process the harness runs, so it cannot be taken down", name)
	}
	outageOf(ctx).services[name] = true
	if err := stop(w.stack, name); err != nil {
		return fmt.Errorf("take %s down: %w", name, err)
	}
	return nil
}

// serviceBack restarts a service on its port and data and waits until it
// is ready again (for a consumer: it has joined its group).
func serviceBack(ctx context.Context, which string) error {
	w, name := the(ctx), servicesNamed[which]
	ctx, cancel := within(ctx)
	defer cancel()
	if err := w.stack.Restart(ctx, name); err != nil {
		return fmt.Errorf("restart %s: %w", name, err)
	}
	delete(outageOf(ctx).services, name)
	return nil
}

// restarter is the stack's broker as one that can go down and come back, or
// an error saying loudly why this broker cannot run the scenario.
func (w *world) restarter() (broker.Restarter, error) {
	r, ok := w.stack.Broker().(broker.Restarter)
	if !ok {
		return nil, fmt.Errorf("the %s broker cannot be stopped and started again (it is not a broker.Restarter): "+
			"run this scenario with BROKER=kafka (its tags @real-kafka and @broker-outage keep it off other brokers)", w.stack.Broker().Name())
	}
	return r, nil
}

func justAccepted(ctx context.Context) error {
	w := the(ctx)
	if err := w.placeOrder(ctx, "20.00", "EUR", 1, "kettle"); err != nil {
		return err
	}
	if err := w.accepted(); err != nil {
		return err
	}
	outageOf(ctx).accepted = w.orderID
	return nil
}

func brokerDown(ctx context.Context) error {
	w := the(ctx)
	r, err := w.restarter()
	if err != nil {
		return err
	}
	ctx, cancel := within(ctx)
	defer cancel()
	o := outageOf(ctx)
	o.brokerDown, o.brokerBounced = true, true
	o.pids = map[string]int{}
	for _, name := range harness.Services {
		o.pids[name] = w.stack.PID(name)
	}
	return r.Stop(ctx)
}

// acceptedWhileDown places an order while the broker is down: the API
// records it in its own database and says yes; its relay produces it once
// the broker is back.
func acceptedWhileDown(ctx context.Context) error {
	w := the(ctx)
	if err := w.placeOrder(ctx, "15.00", "EUR", 1, "kettle"); err != nil {
		return err
	}
	if err := w.accepted(); err != nil {
		return fmt.Errorf("an order placed while the broker is down: %w", err)
	}
	return nil
}

// brokerBack starts the broker again and waits until every service is
// ready on it, as a shopper retrying after the hint would find it.
func brokerBack(ctx context.Context) error {
	w := the(ctx)
	r, err := w.restarter()
	if err != nil {
		return err
	}
	ctx, cancel := within(ctx)
	defer cancel()
	if err := r.Start(ctx); err != nil {
		return fmt.Errorf("start the broker again: %w", err)
	}
	o := outageOf(ctx)
	o.brokerDown = false
	for _, name := range harness.Services {
		if pid := w.stack.PID(name); pid != o.pids[name] {
			return fmt.Errorf("%s did not ride out the broker outage: its process %d exited (now %d); its log ends:\n%s",
				name, o.pids[name], pid, lastLines(w.stack.Logs(name), 5))
		}
	}
	return w.allReady(ctx)
}

func bothPaidOnce(ctx context.Context) error {
	w := the(ctx)
	accepted := outageOf(ctx).accepted
	if accepted == "" {
		return errors.New("no order was accepted before the outage")
	}
	// The order accepted just before the broker went down may be on the
	// orders topic twice: its first produce can reach the broker as it
	// stops, unanswered, and be sent again (kafka-go has no idempotent
	// producer). What must hold is the effect: each order paid, and its
	// stock taken once.
	for _, id := range []string{accepted, w.orderID} {
		if err := w.paid(ctx, id); err != nil {
			return err
		}
	}
	// Two orders of one kettle each: taken once each, whatever was
	// produced or delivered twice around the outage.
	return w.stockAfterOrder(ctx, map[string]int{"kettle": 8})
}

// paid waits until the status topic says the order is PAID. A redelivery
// after the outage may record its statuses again, so repeats are allowed;
// any other final status is not.
func (w *world) paid(ctx context.Context, orderID string) error {
	ctx, cancel := within(ctx)
	defer cancel()
	var final events.OrderStatus
	_, err := w.statuses.WaitFor(ctx, func(recs []harness.Record) bool {
		for _, r := range recordsFor(recs, orderID) {
			var s events.OrderStatus
			if json.Unmarshal(r.Value, &s) == nil && s.Status.Final() {
				final = s
				return true
			}
		}
		return false
	})
	if err != nil {
		return fmt.Errorf("order %s never reached a final status: %w", orderID, err)
	}
	if final.Status != events.StatusPaid {
		return fmt.Errorf("order %s ended %s (%s), want PAID", orderID, final.Status, final.Reason)
	}
	return nil
}

// allReady waits until every instance of every service answers /readyz
// with 200.
func (w *world) allReady(ctx context.Context) error {
	for _, name := range harness.Services {
		for _, in := range w.stack.Instances(name) {
			client := w.stack.ClientOn(in.N())
			err := eventually(ctx, in.Name()+" is not ready", func() (bool, error) {
				resp, err := client.Get(ctx, name, "/readyz")
				if err != nil {
					return false, err
				}
				if resp.Status != http.StatusOK {
					return false, fmt.Errorf("/readyz: %d %s", resp.Status, resp.Body)
				}
				return true, nil
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// restoreStack brings back whatever the scenario left down, so that one
// failed outage scenario cannot fail the scenarios after it.
func restoreStack(ctx context.Context, sc *godog.Scenario, stepErr error) (context.Context, error) {
	o, ok := ctx.Value(outageKey{}).(*outage)
	w, ok2 := ctx.Value(worldKey{}).(*world)
	if ok && o.stream != nil {
		o.stream.stop()
	}
	if !ok || !ok2 || (!o.brokerBounced && len(o.services) == 0 && len(o.unblock) == 0) {
		return ctx, nil
	}
	restore, cancel := context.WithTimeout(context.WithoutCancel(ctx), restoreTimeout)
	defer cancel()
	var errs []error
	if o.stream != nil {
		o.stream.stop()
	}
	for name, unblock := range o.unblock {
		errs = append(errs, unblock(restore))
		delete(o.unblock, name)
	}
	if o.brokerDown {
		if r, err := w.restarter(); err == nil {
			errs = append(errs, r.Start(restore))
		}
	}
	for _, name := range harness.Services {
		if w.stack.PID(name) == 0 {
			o.services[name] = true // exited during a failed scenario
		}
	}
	for name := range o.services {
		errs = append(errs, w.stack.Restart(restore, name))
	}
	errs = append(errs, w.allReady(restore))
	if err := errors.Join(errs...); err != nil {
		return ctx, fmt.Errorf("bring the stack back after %q: %w", sc.Name, err)
	}
	return ctx, nil
}

// streamSize is how many orders the shopper's stream places, one every
// streamEvery: long enough to stop a service in the middle of it.
const (
	streamSize  = 60
	streamEvery = 20 * time.Millisecond
)

// orderStream places streamSize orders in the background, each with an
// idempotency key, and retries an order with its key until it is accepted,
// as the page does: an order refused while a service is down is placed
// once it is back.
type orderStream struct {
	mu       sync.Mutex
	accepted []string // order ids, in the order they were accepted
	news     chan struct{}
	cancel   context.CancelFunc
	done     chan struct{}
}

func keepOrdering(ctx context.Context, sku string) error {
	w := the(ctx)
	run, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &orderStream{news: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{})}
	outageOf(ctx).stream = s
	order := harness.OrderRequest{UserID: w.user, Total: 5, Currency: "EUR", Items: []harness.Item{{SKU: w.sku(sku), Qty: 1}}}
	go func() {
		defer close(s.done)
		var placing sync.WaitGroup
		defer placing.Wait()
		tick := time.NewTicker(streamEvery)
		defer tick.Stop()
		for i := range streamSize {
			key := fmt.Sprintf("stream-%s-%d", w.token, i)
			placing.Go(func() { s.place(run, w.client, order, key) })
			select {
			case <-run.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return nil
}

// place sends one order until it is accepted or the stream is stopped.
func (s *orderStream) place(ctx context.Context, client *harness.Client, order harness.OrderRequest, key string) {
	for ctx.Err() == nil {
		try, cancel := context.WithTimeout(ctx, 5*time.Second)
		id, resp, err := client.PlaceOrderWithKey(try, order, key)
		cancel()
		if err == nil && resp.Status == http.StatusCreated {
			s.mu.Lock()
			s.accepted = append(s.accepted, id)
			s.mu.Unlock()
			select {
			case s.news <- struct{}{}:
			default:
			}
			return
		}
		select { // refused or unreachable: the service is down; again shortly
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Accepted returns the ids of the orders accepted so far.
func (s *orderStream) Accepted() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.accepted...)
}

// waitAccepted waits until n orders of the stream were accepted.
func (s *orderStream) waitAccepted(ctx context.Context, n int) error {
	ctx, cancel := within(ctx)
	defer cancel()
	for len(s.Accepted()) < n {
		select {
		case <-s.news:
		case <-ctx.Done():
			return fmt.Errorf("the stream had %d orders accepted, waiting for %d: %w", len(s.Accepted()), n, ctx.Err())
		}
	}
	return nil
}

func (s *orderStream) stop() {
	s.cancel()
	<-s.done
}

func streamOf(ctx context.Context) (*orderStream, error) {
	if s := outageOf(ctx).stream; s != nil {
		return s, nil
	}
	return nil, errors.New("the shopper is not ordering steadily in this scenario")
}

// answersOfTakenIn: once the stock service has stopped, every order it
// committed having read (its group's committed offsets) has its answer on
// stock.reservations — its outbox was sent before it exited.
func answersOfTakenIn(ctx context.Context) error {
	w := the(ctx)
	s, err := streamOf(ctx)
	if err != nil {
		return err
	}
	mine := map[string]bool{}
	for _, id := range s.Accepted() {
		mine[id] = true
	}
	ctx, cancel := within(ctx)
	defer cancel()
	orders, err := w.orders.UpToNow(ctx)
	if err != nil {
		return err
	}
	answers, err := w.reservations.UpToNow(ctx)
	if err != nil {
		return err
	}
	answered := map[string]bool{}
	for _, r := range answers {
		answered[r.Key] = true
	}
	takenIn := 0
	for _, r := range orders {
		if !mine[r.Key] {
			continue
		}
		next, err := w.kafka.Committed(ctx, events.GroupStockService, events.TopicOrdersCreated, r.Partition)
		if err != nil {
			return err
		}
		if r.Offset >= next {
			continue // not taken in before the stop: it is read after the restart
		}
		takenIn++
		if !answered[r.Key] {
			return fmt.Errorf("order %s (offset %d/%d) was taken in before the stop but its answer was never sent", r.Key, r.Partition, r.Offset)
		}
	}
	if takenIn == 0 {
		return errors.New("the stock service took in none of the stream before it stopped; the stop was not mid-stream")
	}
	return nil
}

// acceptedAreRecorded: once the order service has stopped, every order it
// answered 201 is on the orders topic — its outbox was sent before it exited.
func acceptedAreRecorded(ctx context.Context) error {
	w := the(ctx)
	s, err := streamOf(ctx)
	if err != nil {
		return err
	}
	accepted := s.Accepted()
	ctx, cancel := within(ctx)
	defer cancel()
	recs, err := w.orders.UpToNow(ctx)
	if err != nil {
		return err
	}
	recorded := map[string]bool{}
	for _, r := range recs {
		recorded[r.Key] = true
	}
	for _, id := range accepted {
		if !recorded[id] {
			return fmt.Errorf("order %s was accepted before the stop but is not on the orders topic (%d of %d accepted are)", id, len(recorded), len(accepted))
		}
	}
	return nil
}

// streamPaidOnce waits for the stream to place all its orders, then checks
// each was recorded once and paid, and stock was taken once per order.
func streamPaidOnce(ctx context.Context) error {
	w := the(ctx)
	s, err := streamOf(ctx)
	if err != nil {
		return err
	}
	if err := s.waitAccepted(ctx, streamSize); err != nil {
		return err
	}
	ids := s.Accepted()
	if len(ids) != streamSize || len(unique(ids)) != streamSize {
		return fmt.Errorf("%d orders accepted (%d distinct), want %d: a retried order became a second one", len(ids), len(unique(ids)), streamSize)
	}
	for _, id := range ids {
		if err := w.paid(ctx, id); err != nil {
			return err
		}
		if _, err := w.recordedOnce(ctx, id); err != nil {
			return err
		}
	}
	return w.stockBecomes(ctx, "toaster", 500-streamSize)
}

func unique(ids []string) map[string]bool {
	out := map[string]bool{}
	for _, id := range ids {
		out[id] = true
	}
	return out
}
