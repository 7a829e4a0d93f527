package features

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cucumber/godog"

	"github.com/kafkakit/kit/harness"
	"github.com/kafkakit/kit/harness/netfault"
	"github.com/kafkakit/kit/services/platform/metrics"
)

// A link, as the steps name it: "stock-service's link to the broker",
// "orders-api's link to its database" or "the broker's link to
// orders-processor" (the same link, seen from the broker's end: what the
// broker sends the service is what a bandwidth limit or a reset hits).
const linkPhrase = `(the broker's link to [a-z-]+|[a-z-]+'s link to (?:the broker|its database))`

var (
	linkFromBroker  = regexp.MustCompile(`^the broker's link to ([a-z-]+)$`)
	linkFromService = regexp.MustCompile(`^([a-z-]+)'s link to (the broker|its database)$`)
)

// netLink is the links a phrase names: a service's links to every broker,
// or to its database.
type netLink struct {
	phrase, service, target string
}

func parseLink(phrase string) (netLink, error) {
	if m := linkFromBroker.FindStringSubmatch(phrase); m != nil {
		return netLink{phrase, m[1], netfault.Broker}, checkService(m[1])
	}
	if m := linkFromService.FindStringSubmatch(phrase); m != nil {
		target := netfault.Broker
		if m[2] == "its database" {
			target = netfault.Database
		}
		return netLink{phrase, m[1], target}, checkService(m[1])
	}
	return netLink{}, fmt.Errorf("%q names no link: want \"<service>'s link to the broker\", \"<service>'s link to its database\" or \"the broker's link to <service>\"", phrase)
}

func checkService(name string) error {
	if !slices.Contains(harness.Services, name) {
		return fmt.Errorf("no service %q: want one of %s", name, strings.Join(harness.Services, ", "))
	}
	return nil
}

// netFault is a fault as a step says it, and how long it lasts (0: until
// the link heals, by a step or at the end of the scenario).
type netFault struct {
	fault netfault.Fault
	lasts time.Duration
}

// The faults a step can say, after the link.
var faultPhrases = []struct {
	re   *regexp.Regexp
	make func(n int) netFault
}{
	{regexp.MustCompile(`^adds (\d+) ms$`), func(n int) netFault {
		return netFault{fault: netfault.Fault{Kind: netfault.Latency, Delay: time.Duration(n) * time.Millisecond}}
	}},
	{regexp.MustCompile(`^drops every connection for (\d+) seconds$`), func(n int) netFault {
		return netFault{fault: netfault.Fault{Kind: netfault.Down}, lasts: time.Duration(n) * time.Second}
	}},
	{regexp.MustCompile(`^is cut for (\d+) seconds while it keeps running$`), func(n int) netFault {
		return netFault{fault: netfault.Fault{Kind: netfault.Cut}, lasts: time.Duration(n) * time.Second}
	}},
	{regexp.MustCompile(`^is cut$`), func(int) netFault { return netFault{fault: netfault.Fault{Kind: netfault.Cut}} }},
	{regexp.MustCompile(`^is limited to (\d+) KB/s$`), func(n int) netFault {
		return netFault{fault: netfault.Fault{Kind: netfault.Bandwidth, RateKB: int64(n)}}
	}},
	{regexp.MustCompile(`^resets connections every (\d+) seconds$`), func(n int) netFault {
		return netFault{fault: netfault.Fault{Kind: netfault.Reset, Every: time.Duration(n) * time.Second}}
	}},
}

func parseNetFault(s string) (netFault, error) {
	for _, p := range faultPhrases {
		if m := p.re.FindStringSubmatch(s); m != nil {
			n := 0
			if len(m) > 1 {
				n, _ = strconv.Atoi(m[1])
			}
			f := p.make(n)
			if n <= 0 && len(m) > 1 {
				return netFault{}, fmt.Errorf("%q: the number must be above zero", s)
			}
			return f, nil
		}
	}
	return netFault{}, fmt.Errorf("%q is no fault the steps know: adds N ms, drops every connection for N seconds, is cut for N seconds while it keeps running, is cut, is limited to N KB/s, resets connections every N seconds", s)
}

// network is one scenario's network faults: the links it broke, what it
// saw while they were broken, and the heals still due.
type network struct {
	mu       sync.Mutex
	broken   map[string]bool // link names with a fault on
	seen     map[string]*observed
	bg       sync.WaitGroup
	stopHeal context.CancelFunc
	healCtx  context.Context
	cut      *brokerCut // the broker cut from the others, if any
}

// observed is what the system did while a link was broken.
type observed struct {
	what           string
	notReady       string        // the first /readyz refusal of the service, "" if none
	notReadyAfter  time.Duration // how long after the fault began
	maxBacklog     float64       // its outbox backlog at most
	maxLag         int64         // its consumer group's lag at most
	lagTopic       string
	stillRunning   bool
	samples        int
	stopObserving  context.CancelFunc
	observingEnded chan struct{}
	finished       sync.Once
}

// finish stops watching, once, and notes whether the service's process
// is still the one that was running: a fault on its links must not have
// killed it.
func (o *observed) finish(w *world, service string) {
	o.finished.Do(func() {
		o.stopObserving()
		<-o.observingEnded
		o.stillRunning = w.stack.PID(service) != 0 && !closed(w.stack.Exited(service))
	})
}

type networkKey struct{}

func networkOf(ctx context.Context) *network { return ctx.Value(networkKey{}).(*network) }

func networkSteps(sc *godog.ScenarioContext) {
	sc.Before(func(ctx context.Context, _ *godog.Scenario) (context.Context, error) {
		n := &network{broken: map[string]bool{}, seen: map[string]*observed{}}
		n.healCtx, n.stopHeal = context.WithCancel(context.WithoutCancel(ctx))
		return context.WithValue(ctx, networkKey{}, n), nil
	})
	sc.After(healNetwork)

	sc.Given(`^`+linkPhrase+` (adds \d+ ms|drops every connection for \d+ seconds|is cut for \d+ seconds while it keeps running|is cut|is limited to \d+ KB/s|resets connections every \d+ seconds)$`, breakLink)
	sc.When(`^`+linkPhrase+` heals$`, func(ctx context.Context, phrase string) error {
		l, err := parseLink(phrase)
		if err != nil {
			return err
		}
		return networkOf(ctx).heal(the(ctx), l)
	})
	sc.When(`^the shopper keeps ordering "([^"]*)" while `+linkPhrase+` (.+)$`, orderWhileLinkBreaks)
	sc.Then(`^([a-z-]+) held back its work while cut off, and kept running$`, heldBack)
	sc.Then(`^([a-z-]+) fell behind while its link (?:was slow|kept resetting)$`, fellBehind)
	sc.Then(`^a new order is refused for now, with a time to retry$`, refusedForNow)
	sc.Then(`^that order, sent again with its key, is taken as a new one$`, refusedWasNotRecorded)
	brokerCutSteps(sc)
}

// links resolves l to the stack's link names, or says why it cannot.
func (w *world) links(l netLink) (*netfault.Links, []string, error) {
	links := w.stack.Links()
	if links == nil {
		return nil, nil, errors.New("the stack has no proxied links: start it with FAULTS=1 (make features-kafka does)")
	}
	names, err := links.Select(l.service, l.target)
	if err != nil && l.target == netfault.Database && w.stack.Postgres() == nil {
		return nil, nil, fmt.Errorf("%s keeps its data in a SQLite file, with no link to cut: run with DB=postgres (the tag @postgres keeps this scenario there)", l.service)
	}
	return links, names, err
}

// breakLink gives a link a fault now; one that lasts a while heals by
// itself after it, in the background.
func breakLink(ctx context.Context, phrase, fault string) error {
	w, n := the(ctx), networkOf(ctx)
	l, err := parseLink(phrase)
	if err != nil {
		return err
	}
	f, err := parseNetFault(fault)
	if err != nil {
		return err
	}
	if err := n.apply(w, l, f.fault); err != nil {
		return err
	}
	if f.lasts > 0 {
		n.bg.Go(func() {
			select {
			case <-time.After(f.lasts): // the fault's own length, as the step says
				if err := n.heal(w, l); err != nil {
					fmt.Printf("NETWORK heal %s: %v\n", l.phrase, err)
				}
			case <-n.healCtx.Done():
			}
		})
	}
	return nil
}

// apply puts f on every link l names and starts observing its service.
func (n *network) apply(w *world, l netLink, f netfault.Fault) error {
	links, names, err := w.links(l)
	if err != nil {
		return err
	}
	for _, name := range names {
		if err := links.Apply(name, f); err != nil {
			return err
		}
		n.mu.Lock()
		n.broken[name] = true
		n.mu.Unlock()
	}
	o := &observed{what: fmt.Sprintf("%s: %s", l.phrase, f), observingEnded: make(chan struct{})}
	var obs context.Context
	obs, o.stopObserving = context.WithCancel(n.healCtx)
	n.mu.Lock()
	n.seen[l.service] = o
	n.mu.Unlock()
	fmt.Printf("NETWORK fault applied: %s (%s)\n", o.what, strings.Join(names, ", "))
	go o.watch(obs, w, l.service, time.Now())
	return nil
}

// heal takes every fault off the links l names, stops observing and
// prints what the system did meanwhile.
func (n *network) heal(w *world, l netLink) error {
	links, names, err := w.links(l)
	if err != nil {
		return err
	}
	n.mu.Lock()
	o := n.seen[l.service]
	n.mu.Unlock()
	if o != nil {
		o.finish(w, l.service)
	}
	for _, name := range names {
		if err := links.Heal(name); err != nil {
			return err
		}
		n.mu.Lock()
		delete(n.broken, name)
		n.mu.Unlock()
	}
	if o != nil {
		fmt.Printf("NETWORK healed: %s\n", o.report())
	}
	return nil
}

func closed(c <-chan struct{}) bool {
	if c == nil {
		return true
	}
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// report says what was seen while the link was broken.
func (o *observed) report() string {
	ready := "it stayed ready"
	if o.notReady != "" {
		ready = fmt.Sprintf("not ready %v in: %s", o.notReadyAfter.Round(100*time.Millisecond), o.notReady)
	}
	lag := ""
	if o.lagTopic != "" {
		lag = fmt.Sprintf(", its group's lag on %s at most %d", o.lagTopic, o.maxLag)
	}
	return fmt.Sprintf("%s; %s; outbox backlog at most %.0f%s; still running: %v (%d samples)", o.what, ready, o.maxBacklog, lag, o.stillRunning, o.samples)
}

// watch samples, until ctx ends, the service's readiness, its outbox
// backlog and its group's lag: what the fault did, for the report and the
// Then steps. Sampling is observation, at a fixed pace; nothing waits on it.
func (o *observed) watch(ctx context.Context, w *world, service string, began time.Time) {
	defer close(o.observingEnded)
	client := w.stack.ClientOn(1)
	g, hasGroup := groups[service]
	if hasGroup {
		o.lagTopic = g.topic
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		if resp, err := client.Get(ctx, service, "/readyz"); err == nil && resp.Status == http.StatusServiceUnavailable && o.notReady == "" {
			o.notReady, o.notReadyAfter = strings.TrimSpace(string(resp.Body)), time.Since(began)
		}
		if resp, err := client.Get(ctx, service, "/metrics"); err == nil && resp.Status == http.StatusOK {
			o.maxBacklog = max(o.maxBacklog, metricSum(string(resp.Body), metrics.OutboxBacklog))
		}
		if hasGroup {
			if lag, err := w.groupLag(ctx, g.id, g.topic); err == nil {
				o.maxLag = max(o.maxLag, lag)
			}
		}
		o.samples++
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// metricSum adds up every sample of a metric in a Prometheus text page.
func metricSum(page, name string) float64 {
	sum := 0.0
	sc := bufio.NewScanner(strings.NewReader(page))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		if i := strings.LastIndexByte(line, ' '); i > 0 {
			if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
				sum += v
			}
		}
	}
	return sum
}

// groupLag is how many records of topic group has yet to commit, asked of
// the broker on the harness's own listener (never through a proxy).
func (w *world) groupLag(ctx context.Context, group, topic string) (int64, error) {
	ends, err := w.kafka.EndOffsets(ctx, topic)
	if err != nil {
		return 0, err
	}
	var lag int64
	for p, end := range ends {
		at, err := w.kafka.Committed(ctx, group, topic, p)
		if err != nil {
			return 0, err
		}
		lag += end - max(at, 0)
	}
	return lag, nil
}

// orderWhileLinkBreaks runs the shopper's stream (a careful client: keys
// and retries) and breaks the link once orders flow: a fault that lasts a
// while heals before the stream goes on; one that does not stays on until
// a step heals it or the scenario ends.
func orderWhileLinkBreaks(ctx context.Context, sku, phrase, what string) error {
	w, n, s := the(ctx), networkOf(ctx), scaleOf(ctx)
	l, err := parseLink(phrase)
	if err != nil {
		return err
	}
	f, err := parseNetFault(what)
	if err != nil {
		return err
	}
	s.careful = true
	err = w.placeStream(ctx, sku, fault{phrase + " " + what, func(ctx context.Context) error {
		if err := n.apply(w, l, f.fault); err != nil {
			return err
		}
		if f.lasts == 0 {
			return nil
		}
		select {
		case <-time.After(f.lasts): // the fault's own length, as the step says
		case <-ctx.Done():
			return ctx.Err()
		}
		return n.heal(w, l)
	}})
	s.mu.Lock()
	fmt.Printf("NETWORK stream: %d orders placed, %d sends repeated by the careful shopper\n", len(s.orders), s.retries)
	s.mu.Unlock()
	return err
}

// seenOf is what was seen while a link of service was broken, once the
// watching has stopped.
func seenOf(ctx context.Context, service string) (*observed, error) {
	n := networkOf(ctx)
	n.mu.Lock()
	o := n.seen[service]
	n.mu.Unlock()
	if o == nil {
		return nil, fmt.Errorf("no link of %s was broken in this scenario", service)
	}
	o.finish(the(ctx), service)
	return o, nil
}

// heldBack: while its link to the broker was cut, nothing the service
// owed went missing — the orders for it waited on their topic (its group's
// lag) and the answers it had committed waited in its outbox (its backlog,
// only what was in flight: the cut stops its fetches too) — and its
// process kept running. What /readyz said is printed, not asserted: the
// relay's producer tries a request 5 times, 5 s each, so a cut shorter
// than about 26 s never reaches the relay as an error and readiness stays
// green (README, "The features").
func heldBack(ctx context.Context, service string) error {
	o, err := seenOf(ctx, service)
	if err != nil {
		return err
	}
	switch {
	case o.maxBacklog == 0 && o.maxLag == 0:
		return fmt.Errorf("%s had nothing waiting, neither in its outbox nor on its topic, while cut off: the cut came between orders (%s)", service, o.report())
	case !o.stillRunning:
		return fmt.Errorf("%s stopped running while cut off (%s)", service, o.report())
	}
	return nil
}

// fellBehind: while its link was slow or kept resetting, the service's
// group had records of its topic waiting.
func fellBehind(ctx context.Context, service string) error {
	o, err := seenOf(ctx, service)
	if err != nil {
		return err
	}
	if o.lagTopic == "" {
		return fmt.Errorf("%s reads in no group of its own; there is no lag to see", service)
	}
	if o.maxLag == 0 {
		return fmt.Errorf("%s never fell behind while its link was broken (%s)", service, o.report())
	}
	fmt.Printf("NETWORK lag: %s\n", o.report())
	return nil
}

// refusedOrder is the order refusedForNow sends, by its key.
func refusedOrder(w *world) (harness.OrderRequest, string) {
	return harness.OrderRequest{UserID: w.user, Total: 5, Currency: "EUR", Items: []harness.Item{{SKU: w.sku("toaster"), Qty: 1}}}, "refused-" + w.token
}

// refusedForNow: with its database out of reach, the order service
// refuses a new order with 503 and a Retry-After.
func refusedForNow(ctx context.Context) error {
	w := the(ctx)
	order, key := refusedOrder(w)
	try, cancel := within(ctx)
	defer cancel()
	id, resp, err := w.client.PlaceOrderWithKey(try, order, key)
	if err != nil {
		return fmt.Errorf("the order service did not answer with its database out of reach: %w", err)
	}
	if resp.Status != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		return fmt.Errorf("with its database out of reach the order service answered %d (Retry-After %q) %s, want 503 with a Retry-After", resp.Status, resp.Header.Get("Retry-After"), resp.Body)
	}
	if id != "" {
		return fmt.Errorf("a refused order got an id, %s", id)
	}
	fmt.Printf("NETWORK refused for now: %d, Retry-After %s: %s\n", resp.Status, resp.Header.Get("Retry-After"), strings.TrimSpace(string(resp.Body)))
	return nil
}

// refusedWasNotRecorded: the order refused while the database was out of
// reach left nothing behind — sent again with its key it is recorded now,
// not answered as a replay of an order half-written then.
func refusedWasNotRecorded(ctx context.Context) error {
	w := the(ctx)
	order, key := refusedOrder(w)
	ctx, cancel := within(ctx)
	defer cancel()
	var id string
	var resp harness.Response
	// The service may take a moment to get a healthy connection back.
	err := eventually(ctx, "the order service never took the order again once its database was back", func() (bool, error) {
		var err error
		id, resp, err = w.client.PlaceOrderWithKey(ctx, order, key)
		return err == nil && resp.Status == http.StatusCreated, nil
	})
	if err != nil {
		return fmt.Errorf("%w (last answer %d %s)", err, resp.Status, resp.Body)
	}
	if resp.Header.Get("Idempotent-Replayed") == "true" {
		return fmt.Errorf("order %s was answered as a replay: the refused order had been half-written", id)
	}
	w.orderID = id
	return w.paid(ctx, id)
}

// healNetwork heals every link the scenario broke, so that the next
// scenario starts on a healthy network.
func healNetwork(ctx context.Context, sc *godog.Scenario, _ error) (context.Context, error) {
	n, ok := ctx.Value(networkKey{}).(*network)
	if !ok {
		return ctx, nil
	}
	n.stopHeal()
	n.bg.Wait()
	n.mu.Lock()
	broken := make([]string, 0, len(n.broken))
	for name := range n.broken {
		broken = append(broken, name)
	}
	for _, o := range n.seen {
		o.stopObserving()
	}
	n.mu.Unlock()
	w, ok := ctx.Value(worldKey{}).(*world)
	if !ok || len(broken) == 0 {
		return ctx, nil
	}
	var errs []error
	for _, name := range broken {
		errs = append(errs, w.stack.Links().Heal(name))
	}
	restore, cancel := context.WithTimeout(context.WithoutCancel(ctx), recoverTimeout)
	defer cancel()
	errs = append(errs, w.allReady(restore))
	if err := errors.Join(errs...); err != nil {
		return ctx, fmt.Errorf("heal the network after %q: %w", sc.Name, err)
	}
	return ctx, nil
}

// linksProxied reports whether the stack has a proxy between its services
// and the brokers, as the @network scenarios need.
func linksProxied(s *harness.Stack) bool {
	if s.Links() == nil {
		return false
	}
	_, err := s.Links().Select(harness.OrdersAPI, netfault.Broker)
	return err == nil
}
