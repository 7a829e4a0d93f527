package features

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cucumber/godog"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/kafkakit/kit/harness"
	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/stream"
)

// stepTimeout bounds how long a step waits for the system to get somewhere.
const stepTimeout = 30 * time.Second

// world is one scenario's state. It lives in the scenario's context, never
// in globals, so scenarios cannot see each other's ids.
type world struct {
	*env
	// token makes this scenario's users, SKUs and keys unique, so scenarios
	// can share one broker and one set of services.
	token    string
	user     string
	orderID  string
	response harness.Response
	// order is what the shopper asked for, to compare with the record.
	order harness.OrderRequest

	// idempotencyKey is the key the shopper's last order was sent with;
	// firstOrderID is the order its first send was answered with.
	idempotencyKey string
	firstOrderID   string

	// Tails started before the scenario acts, so they see its records.
	orders, reservations, statuses, inventory *harness.Tail
	// deadLetters are tails of dead-letter topics, started by the steps
	// that send a record there.
	deadLetters map[string]*harness.Tail

	stream      *harness.EventStream
	seen        []harness.Event
	lastEventID string
	refused     *harness.StreamRefused
	injected    harness.Record
	// statusesBefore are the order's status records before something was
	// delivered to it again.
	statusesBefore []harness.Record
}

type worldKey struct{}

func the(ctx context.Context) *world { return ctx.Value(worldKey{}).(*world) }

func (e *env) beginScenario(ctx context.Context, sc *godog.Scenario) (context.Context, error) {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	w := &world{env: e, token: hex.EncodeToString(b), deadLetters: map[string]*harness.Tail{}}
	setup, cancel := within(ctx)
	defer cancel()
	var err error
	for _, t := range []struct {
		tail  **harness.Tail
		topic string
	}{
		{&w.orders, events.TopicOrdersCreated},
		{&w.reservations, events.TopicStockReservations},
		{&w.statuses, events.TopicOrdersStatus},
		{&w.inventory, events.TopicInventoryUpdated},
	} {
		if *t.tail, err = e.kafka.Tail(setup, t.topic); err != nil {
			return ctx, err
		}
	}
	return context.WithValue(ctx, worldKey{}, w), nil
}

func (e *env) endScenario(ctx context.Context, sc *godog.Scenario, err error) (context.Context, error) {
	w, ok := ctx.Value(worldKey{}).(*world)
	if !ok {
		return ctx, nil
	}
	if w.stream != nil {
		w.stream.Close()
	}
	for _, t := range []*harness.Tail{w.orders, w.reservations, w.statuses, w.inventory} {
		if t != nil {
			t.Close()
		}
	}
	for _, t := range w.deadLetters {
		t.Close()
	}
	if err != nil {
		dir, saveErr := saveLogs(e.stack, sc.Name, w.token)
		where := "every instance's whole log in " + dir
		if saveErr != nil {
			where = "the whole logs could not be saved: " + saveErr.Error()
		}
		fmt.Fprintf(os.Stdout, "\n--- scenario %q failed (token %s, order %s); each service's warnings and last lines follow (%s) ---\n", sc.Name, w.token, w.orderID, where)
		for _, name := range harness.Services {
			for _, in := range e.stack.Instances(name) {
				logs := in.Logs()
				fmt.Fprintf(os.Stdout, "\n===== %s: warnings and errors =====\n%s", in.Name(), lastLines(warnings(logs), 40))
				fmt.Fprintf(os.Stdout, "\n===== %s: last lines =====\n%s", in.Name(), lastLines(logs, 60))
			}
		}
	}
	return ctx, nil
}

// saveLogs writes every instance's whole log into a directory of the
// failed scenario's own under FEATURES_LOG_DIR (the Makefile's stages put it
// in features/reports, which CI keeps), or the temp dir, and returns it:
// the lines printed with a failure are a window, and a delivery fault can
// start minutes before the check that sees it.
func saveLogs(stack *harness.Stack, scenario, token string) (string, error) {
	root := os.Getenv("FEATURES_LOG_DIR")
	if root == "" {
		root = filepath.Join(os.TempDir(), "kafkakit-features-logs")
	}
	slug := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, scenario)
	dir := filepath.Join(root, token+"-"+slug)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return dir, err
	}
	for _, name := range harness.Services {
		for _, in := range stack.Instances(name) {
			if err := os.WriteFile(filepath.Join(dir, strings.ReplaceAll(in.Name(), "#", "-")+".log"), []byte(in.Logs()), 0o644); err != nil {
				return dir, err
			}
		}
	}
	return dir, nil
}

// warnings keeps the log lines at level WARN or ERROR.
func warnings(logs string) string {
	var out strings.Builder
	for line := range strings.Lines(logs) {
		if strings.Contains(line, `"level":"WARN"`) || strings.Contains(line, `"level":"ERROR"`) {
			out.WriteString(line)
		}
	}
	return out.String()
}

// sku returns the scenario's own SKU for a name used in a feature.
func (w *world) sku(name string) string { return strings.ToUpper(name) + "-" + w.token }

// within returns a context for one step's waiting.
func within(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, stepTimeout)
}

// eventually polls cond until it reports true, fails, or ctx ends. It is for
// state only reachable by asking (stock over HTTP); records and events are
// awaited on their streams instead.
func eventually(ctx context.Context, what string, cond func() (bool, error)) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		ok, err := cond()
		if ok && err == nil {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", what, errors.Join(ctx.Err(), last))
		case <-tick.C:
		}
	}
}

func lastLines(s string, n int) string {
	lines := strings.SplitAfter(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "")
}

// contracts are the JSON Schemas from services/events, compiled once.
var contracts = map[string]*jsonschema.Schema{}

func init() {
	for _, topic := range events.Topics {
		s, err := stream.Schema(topic)
		if err != nil {
			panic(err)
		}
		contracts[topic] = s
	}
}

// conforms checks a record's value against its topic's contract, and that
// it says which version of the contract its writer followed (the framing).
func conforms(r harness.Record) error {
	if r.SchemaID == 0 {
		return fmt.Errorf("%s record at %d/%d carries no schema id: every record the kit writes starts with the framing\n%s", r.Topic, r.Partition, r.Offset, r.Value)
	}
	if err := stream.Conforms(contracts[r.Topic])(r.Value); err != nil {
		return fmt.Errorf("%s record at %d/%d breaks its contract: %w\n%s", r.Topic, r.Partition, r.Offset, err, r.Value)
	}
	return nil
}
