package features

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cucumber/godog"
	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkakit/kit/harness"
	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/inspect"
)

// scalingInstances are the instance counts `make test` runs the @scaling
// scenarios with (as INSTANCES takes them); scalingNeeds is the least each
// scenario needs.
const scalingInstances = "orders-api=2,orders-processor=3,notifications-api=2,stock-service=2"

var scalingNeeds = map[string]int{harness.OrdersProcessor: 3, harness.NotificationsAPI: 2, harness.StockService: 2}

// scalingMissing says what the stack lacks for the @scaling scenarios, or
// "" when it has it all: several instances, stock services sharing one
// PostgreSQL.
func scalingMissing(s *harness.Stack) string {
	var missing []string
	for _, name := range harness.Services {
		if have, need := len(s.Instances(name)), scalingNeeds[name]; have < need {
			missing = append(missing, fmt.Sprintf("%d %s (want %d)", have, name, need))
		}
	}
	if s.Postgres() == nil {
		missing = append(missing, "no PostgreSQL (want DB=postgres)")
	}
	return strings.Join(missing, ", ")
}

// The services a scenario names, in its words.
var servicesNamed = map[string]string{
	"order":        harness.OrdersAPI,
	"payment":      harness.OrdersProcessor,
	"stock":        harness.StockService,
	"notification": harness.NotificationsAPI,
}

// groups are the consumer groups of the services that share partitions,
// and the topic whose partitions they share out.
var groups = map[string]struct{ id, topic string }{
	harness.OrdersProcessor: {events.GroupOrdersProcessor, events.TopicStockReservations},
	harness.StockService:    {events.GroupStockService, events.TopicOrdersCreated},
}

// scaling is one scenario's stream of orders, what it took down and what
// it measured.
type scaling struct {
	mu     sync.Mutex
	orders []*placed
	// sku is what the stream's orders are for; stockBefore its stock when
	// the stream began.
	sku         string
	stockBefore int
	// followCtx ends the followers when the scenario ends.
	followCtx   context.Context
	stopFollows context.CancelFunc

	// down are the instances the scenario stopped or killed and has not
	// brought back; killed are brokers it killed.
	down   []*harness.Instance
	killed []int32
	// takeover is what a crashed consumer instance left to the others.
	takeover *takeover
	// faultAt is when the stream's first fault struck, and what it was.
	faultAt   time.Time
	faultWhat string
	// followedOn is the notification service the shopper follows on.
	followedOn *harness.Instance
	// careful makes the stream's shopper a careful client: each order
	// sent with an idempotency key and sent again with it, after a pause,
	// when it was refused for now (5xx, 429) or got no answer; retries
	// counts those second sends.
	careful bool
	retries int
}

type scalingKey struct{}

func scaleOf(ctx context.Context) *scaling { return ctx.Value(scalingKey{}).(*scaling) }

func scalingSteps(sc *godog.ScenarioContext) {
	sc.Before(func(ctx context.Context, _ *godog.Scenario) (context.Context, error) {
		s := &scaling{}
		s.followCtx, s.stopFollows = context.WithCancel(context.WithoutCancel(ctx))
		return context.WithValue(ctx, scalingKey{}, s), nil
	})
	sc.After(restoreScaled)

	sc.Given(`^every (payment|stock) service instance has a share of the orders$`, func(ctx context.Context, which string) error {
		w, name := the(ctx), servicesNamed[which]
		if n := len(w.stack.Instances(name)); n < 2 {
			return fmt.Errorf("%s runs %d instance(s); this scenario needs several (INSTANCES=%s)", name, n, scalingInstances)
		}
		ctx, cancel := within(ctx)
		defer cancel()
		_, err := w.shared(ctx, name, len(w.stack.Instances(name)))
		return err
	})
	sc.When(`^the shopper keeps ordering "([^"]*)" while two payment service instances are stopped for a deploy and started again$`, redeployTwoProcessors)
	sc.Then(`^every order is paid, each order's statuses recorded in order$`, everyOrderPaid)
	sc.Then(`^the shopper saw each order go through CREATED, PROCESSING and PAID once$`, sawEachOrderOnce)
	sc.Then(`^each order took its "([^"]*)" from stock once$`, eachTookStockOnce)

	sc.Given(`^the shopper is following a new order on one notification service and has seen its first status$`, followingOnOne)
	sc.When(`^that notification service is stopped for a deploy$`, stopFollowedInstance)
	sc.When(`^the shopper reconnects to another notification service from the last status seen$`, reconnectElsewhere)

	sc.When(`^(\d+) orders for 1 "([^"]*)" each arrive at once, spread over every partition$`, ordersOnEveryPartition)
	sc.Then(`^(\d+) of them get a "([^"]*)" and (\d+) are refused as out of stock$`, reservedAndRefused)
	sc.Then(`^"([^"]*)" is down to (\d+) on every stock service, each taken by one order$`, downOnEveryInstance)
	sc.When(`^(\d+) "([^"]*)" are stocked through one stock service and (\d+) "([^"]*)" through another$`, seedThroughEach)
	sc.Then(`^every stock service shows (\d+) "([^"]*)" and (\d+) "([^"]*)"$`, everyInstanceShows)
}

// shared waits until a service's consumer group has members instances
// members, settled, and each owns a share of its topic's partitions, all of
// which are owned; it returns the group as it stands then.
func (w *world) shared(ctx context.Context, service string, members int) (inspect.Group, error) {
	g, ok := groups[service]
	if !ok {
		return inspect.Group{}, fmt.Errorf("%s reads without a consumer group; it has no share of partitions", service)
	}
	ins := inspect.New(w.stack.BrokerAddrs(), w.stack.KafkaDialer())
	defer ins.Close()
	var last inspect.Group
	var why string
	err := eventually(ctx, fmt.Sprintf("the %d instances of %s never settled into sharing %s", members, service, g.topic), func() (bool, error) {
		described, err := ins.Groups(ctx, g.id)
		if err != nil {
			return false, err
		}
		last = described[0]
		why = shareProblem(last, g.topic, members)
		return why == "", nil
	})
	if err != nil {
		return last, fmt.Errorf("%w: %s", err, why)
	}
	return last, nil
}

// shareProblem says why group g is not members members settled on sharing
// every partition of topic, each with a share, or "".
func shareProblem(g inspect.Group, topic string, members int) string {
	if g.State != "Stable" || len(g.Members) != members {
		return fmt.Sprintf("group %s is %s with %d members", g.ID, g.State, len(g.Members))
	}
	owned := map[int]bool{}
	for _, m := range g.Members {
		mine := ownedBy(m, topic)
		if len(mine) == 0 {
			return fmt.Sprintf("member %s owns no partition of %s", m.ID, topic)
		}
		for _, p := range mine {
			owned[p] = true
		}
	}
	if len(owned) != events.Partitions {
		return fmt.Sprintf("only partitions %v of %s are owned", owned, topic)
	}
	return ""
}

// ownedBy are the partitions of topic member m owns.
func ownedBy(m inspect.Member, topic string) []int {
	for _, a := range m.Assignments {
		if a.Topic == topic {
			return a.Partitions
		}
	}
	return nil
}

func redeployTwoProcessors(ctx context.Context, sku string) error {
	w := the(ctx)
	all := w.stack.Instances(harness.OrdersProcessor)
	if len(all) < 3 {
		return fmt.Errorf("%d payment service instances; this scenario needs 3 (INSTANCES=%s)", len(all), scalingInstances)
	}
	two := all[1:3]
	return w.placeStream(ctx, sku,
		fault{"stop two payment service instances", func(ctx context.Context) error {
			return eachInstance(two, func(in *harness.Instance) error { return w.takeDown(ctx, in, (*harness.Instance).Stop) })
		}},
		fault{"start them again", func(ctx context.Context) error {
			return eachInstance(two, func(in *harness.Instance) error { return w.bringBack(ctx, in) })
		}},
	)
}

// eachInstance runs fn on every instance at once and joins their errors.
func eachInstance(list []*harness.Instance, fn func(*harness.Instance) error) error {
	errs := make([]error, len(list))
	var wg sync.WaitGroup
	for i, in := range list {
		wg.Go(func() { errs[i] = fn(in) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// takeDown stops or kills an instance and remembers to bring it back.
func (w *world) takeDown(ctx context.Context, in *harness.Instance, how func(*harness.Instance) error) error {
	if in.PID() == 0 {
		return fmt.Errorf("%s is not a process the harness runs, so it cannot be taken down", in.Name())
	}
	s := scaleOf(ctx)
	s.mu.Lock()
	s.down = append(s.down, in)
	s.mu.Unlock()
	if err := how(in); err != nil {
		return fmt.Errorf("take %s down: %w", in.Name(), err)
	}
	return nil
}

// isDown reports whether the scenario took in down and has not brought it
// back.
func (s *scaling) isDown(in *harness.Instance) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Contains(s.down, in)
}

// bringBack restarts an instance the scenario took down and waits until
// it is ready (a consumer: it has joined its group).
func (w *world) bringBack(ctx context.Context, in *harness.Instance) error {
	if err := in.Restart(ctx); err != nil {
		return fmt.Errorf("restart %s: %w", in.Name(), err)
	}
	s := scaleOf(ctx)
	s.mu.Lock()
	s.down = slices.DeleteFunc(s.down, func(d *harness.Instance) bool { return d == in })
	s.mu.Unlock()
	return nil
}

// service until the first status arrives.
func followingOnOne(ctx context.Context) error {
	w, s := the(ctx), scaleOf(ctx)
	in := w.stack.Instance(harness.NotificationsAPI, 2)
	if in == nil {
		return fmt.Errorf("one notification service instance; this scenario needs 2 (INSTANCES=%s)", scalingInstances)
	}
	if err := w.placeOrder(ctx, "12.00", "EUR", 1, "mug"); err != nil {
		return err
	}
	if err := w.accepted(); err != nil {
		return err
	}
	s.followedOn = in
	var err error
	if w.stream, err = w.stack.ClientOn(2).FollowOrder(ctx, w.orderID, ""); err != nil {
		return err
	}
	wait, cancel := within(ctx)
	defer cancel()
	e, err := w.stream.Next(wait)
	if err != nil {
		return fmt.Errorf("the first status on %s: %w", in.Name(), err)
	}
	w.lastEventID = e.ID
	return nil
}

// stopFollowedInstance stops the notification service the shopper follows
// on, as a deploy would; the shopper's stream ends with it.
func stopFollowedInstance(ctx context.Context) error {
	w, s := the(ctx), scaleOf(ctx)
	if s.followedOn == nil {
		return errors.New("the shopper is not following on a notification service")
	}
	if err := w.takeDown(ctx, s.followedOn, (*harness.Instance).Stop); err != nil {
		return err
	}
	wait, cancel := within(ctx)
	defer cancel()
	// What was sent before the stop may still be buffered; the stream
	// must end, not hang.
	for {
		if _, err := w.stream.Next(wait); err != nil {
			if wait.Err() != nil {
				return fmt.Errorf("the stream on %s did not end when it stopped: %w", s.followedOn.Name(), err)
			}
			break
		}
	}
	w.stream.Close()
	w.stream = nil
	return nil
}

// reconnectElsewhere resumes on a notification service other than the one
// the shopper followed on, from the last status the shopper saw.
func reconnectElsewhere(ctx context.Context) error {
	w, s := the(ctx), scaleOf(ctx)
	for _, in := range w.stack.Instances(harness.NotificationsAPI) {
		if in == s.followedOn {
			continue
		}
		var err error
		w.stream, err = w.stack.ClientOn(in.N()).FollowOrder(ctx, w.orderID, w.lastEventID)
		w.seen = nil
		return err
	}
	return errors.New("there is no other notification service instance")
}

// ordersOnEveryPartition writes n orders for one of sku straight onto the
// orders topic in one produce request, with order ids chosen so that each
// partition gets its share (the kit's murmur2 partitioner, as Java's), so
// that the stock service instances owning different partitions take stock
// of one SKU at the same time.
func ordersOnEveryPartition(ctx context.Context, n int, sku string) error {
	w, s := the(ctx), scaleOf(ctx)
	if n%events.Partitions != 0 {
		return fmt.Errorf("%d orders cannot be spread evenly over %d partitions", n, events.Partitions)
	}
	ctx, cancel := within(ctx)
	defer cancel()
	s.sku = w.sku(sku)
	perPartition := map[int]int{}
	want := map[string]int32{}
	var recs []*kgo.Record
	for len(recs) < n {
		id := uuid.NewString()
		p := events.Partition([]byte(id), events.Partitions)
		if perPartition[p] == n/events.Partitions {
			continue
		}
		perPartition[p]++
		value, err := json.Marshal(events.OrderCreated{OrderID: id, UserID: w.user, Items: []events.Item{{SKU: s.sku, Qty: 1}},
			Total: 9.50, Currency: "EUR", CreatedAt: time.Now().UTC()})
		if err != nil {
			return err
		}
		// Framed with the schema id, as orders-api's relay writes them.
		if value, err = w.kafka.Frame(ctx, events.TopicOrdersCreated, value); err != nil {
			return err
		}
		want[id] = int32(p)
		recs = append(recs, &kgo.Record{Topic: events.TopicOrdersCreated, Key: []byte(id), Value: value})
	}
	// Written where the services' producers would put each key.
	client, err := kgo.NewClient(kgo.SeedBrokers(w.stack.BrokerAddrs()...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(harness.KeyPartitioner{}), kgo.ProducerLinger(50*time.Millisecond))
	if err != nil {
		return err
	}
	defer client.Close()
	if err := client.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("write the orders: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range recs {
		if r.Partition != want[string(r.Key)] {
			return fmt.Errorf("order %s landed on partition %d; the kit's partitioner puts it on %d", r.Key, r.Partition, want[string(r.Key)])
		}
		s.orders = append(s.orders, &placed{id: string(r.Key), response: harness.Response{Status: http.StatusCreated}})
	}
	return nil
}

// reservedAndRefused checks the stock service's answer to each order: as
// many reserved as there was stock, the rest refused for stock. An answer
// sent again (a relay retry) must be the same answer.
func reservedAndRefused(ctx context.Context, reserved int, sku string, refused int) error {
	w, s := the(ctx), scaleOf(ctx)
	ids, err := s.accepted()
	if err != nil {
		return err
	}
	ctx, cancel := within(ctx)
	defer cancel()
	mine := unique(ids)
	answers := map[string][]events.StockReservation{}
	_, err = w.reservations.WaitFor(ctx, func(recs []harness.Record) bool {
		answers = map[string][]events.StockReservation{}
		for _, r := range recs {
			var a events.StockReservation
			if mine[r.Key] && json.Unmarshal(r.Value, &a) == nil {
				answers[r.Key] = append(answers[r.Key], a)
			}
		}
		return len(answers) == len(ids)
	})
	if err != nil {
		return fmt.Errorf("%d of %d orders were answered: %w", len(answers), len(ids), err)
	}
	got := map[events.ReservationResult]int{}
	for id, as := range answers {
		a := as[0]
		for _, again := range as[1:] {
			if again.Result != a.Result || again.Reason != a.Reason {
				return fmt.Errorf("order %s was answered %s (%s), then %s (%s)", id, a.Result, a.Reason, again.Result, again.Reason)
			}
		}
		if a.Result == events.Rejected && !strings.HasPrefix(a.Reason, events.OutOfStockPrefix+s.sku) {
			return fmt.Errorf("order %s was refused for %q, want out of stock of %s", id, a.Reason, sku)
		}
		got[a.Result]++
	}
	if got[events.Reserved] != reserved || got[events.Rejected] != refused {
		return fmt.Errorf("%d orders got a %q and %d were refused, want %d and %d", got[events.Reserved], sku, got[events.Rejected], reserved, refused)
	}
	return nil
}

// downOnEveryInstance checks the SKU's stock on every stock service
// instance, and that each item was taken by one order: the takes count down
// to what is left without a gap or a repeat.
func downOnEveryInstance(ctx context.Context, sku string, n int) error {
	w, s := the(ctx), scaleOf(ctx)
	ctx, cancel := within(ctx)
	defer cancel()
	if err := w.everyInstanceHas(ctx, w.sku(sku), n); err != nil {
		return err
	}
	recs, err := w.inventory.UpToNow(ctx)
	if err != nil {
		return err
	}
	mine := map[string]bool{}
	for _, o := range s.placed() {
		mine[o.id] = true
	}
	left, err := takes(recs, w.sku(sku), mine)
	if err != nil {
		return err
	}
	for q := n; q < n+len(left); q++ {
		if _, ok := left[q]; !ok {
			return fmt.Errorf("no order left %d %q: the takes do not count down one by one to %d (%v)", q, sku, n, left)
		}
	}
	return nil
}

func seedThroughEach(ctx context.Context, n1 int, sku1 string, n2 int, sku2 string) error {
	w := the(ctx)
	if len(w.stack.Instances(harness.StockService)) < 2 {
		return fmt.Errorf("one stock service instance; this scenario needs 2 (INSTANCES=%s)", scalingInstances)
	}
	ctx, cancel := within(ctx)
	defer cancel()
	if err := w.stack.ClientOn(1).Seed(ctx, map[string]int{w.sku(sku1): n1}); err != nil {
		return err
	}
	return w.stack.ClientOn(2).Seed(ctx, map[string]int{w.sku(sku2): n2})
}

func everyInstanceShows(ctx context.Context, n1 int, sku1 string, n2 int, sku2 string) error {
	w := the(ctx)
	ctx, cancel := within(ctx)
	defer cancel()
	for i := range w.stack.Instances(harness.StockService) {
		stock, err := w.stack.ClientOn(i + 1).Stock(ctx)
		if err != nil {
			return err
		}
		if stock[w.sku(sku1)] != n1 || stock[w.sku(sku2)] != n2 {
			return fmt.Errorf("stock service instance %d shows %d %q and %d %q, want %d and %d",
				i+1, stock[w.sku(sku1)], sku1, stock[w.sku(sku2)], sku2, n1, n2)
		}
	}
	return nil
}
