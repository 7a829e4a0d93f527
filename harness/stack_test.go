package harness_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kafkakit/kit/harness"
	"github.com/kafkakit/kit/harness/postgres"
	"github.com/kafkakit/kit/services/events"
)

func TestMain(m *testing.M) {
	code := m.Run()
	_ = harness.RemoveBuild()
	os.Exit(code)
}

// TestStackRunsAnOrderEndToEnd checks the harness itself on the embedded
// broker: services start ready, an order flows to PAID on its stream, and a
// killed service comes back on the same port.
func TestStackRunsAnOrderEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	stack, err := harness.Start(ctx, harness.Options{ServiceEnv: map[string]string{"PAYMENT_DELAY": "0"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stack.Close(context.Background()) })
	checkRegistry(ctx, t, stack)
	c := stack.Client()
	if err := c.Seed(ctx, map[string]int{"HARNESS-1": 5}); err != nil {
		t.Fatal(err)
	}
	id, resp, err := c.PlaceOrder(ctx, harness.OrderRequest{UserID: "harness", Items: []harness.Item{{SKU: "HARNESS-1", Qty: 2}}, Total: 10, Currency: "EUR"})
	if err != nil || id == "" {
		t.Fatalf("place order: %v (%d %s)", err, resp.Status, resp.Body)
	}
	got := statusesOf(ctx, t, c, id)
	want := []events.Status{events.StatusCreated, events.StatusProcessing, events.StatusPaid}
	if !slices.Equal(got, want) {
		t.Fatalf("statuses = %v, want %v\n%s", got, want, stack.Logs(harness.OrdersProcessor))
	}

	url := stack.URL(harness.StockService)
	if err := stack.Kill(harness.StockService); err != nil {
		t.Fatal(err)
	}
	if err := stack.Restart(ctx, harness.StockService); err != nil {
		t.Fatal(err)
	}
	if stack.URL(harness.StockService) != url {
		t.Errorf("restarted on %s, want %s", stack.URL(harness.StockService), url)
	}
}

// TestStackRunsInstances runs two order processors and two
// notifications-apis on the embedded broker: each instance has its own port
// and name, one can be killed and restarted alone, and an order is followed
// on either notifications-api.
func TestStackRunsInstances(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	stack, err := harness.Start(ctx, harness.Options{
		Instances:  map[string]int{harness.OrdersProcessor: 2, harness.NotificationsAPI: 2},
		ServiceEnv: map[string]string{"PAYMENT_DELAY": "0"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stack.Close(context.Background()) })

	for _, tc := range []struct {
		service string
		names   []string
	}{
		{harness.OrdersProcessor, []string{"orders-processor#1", "orders-processor#2"}},
		{harness.NotificationsAPI, []string{"notifications-api#1", "notifications-api#2"}},
		{harness.StockService, []string{"stock-service"}},
		{harness.OrdersAPI, []string{"orders-api"}},
	} {
		var names []string
		for _, in := range stack.Instances(tc.service) {
			names = append(names, in.Name())
		}
		if !slices.Equal(names, tc.names) {
			t.Errorf("instances of %s = %v, want %v", tc.service, names, tc.names)
		}
		urls := stack.URLs(tc.service)
		if len(urls) != len(tc.names) || len(slices.Compact(slices.Sorted(slices.Values(urls)))) != len(urls) {
			t.Errorf("URLs(%s) = %v, want %d distinct", tc.service, urls, len(tc.names))
		}
		if stack.URL(tc.service) != urls[0] {
			t.Errorf("URL(%s) = %s, want the first instance's %s", tc.service, stack.URL(tc.service), urls[0])
		}
	}
	if stack.Instance(harness.OrdersProcessor, 3) != nil || stack.Instance(harness.OrdersProcessor, 0) != nil {
		t.Errorf("Instance(orders-processor, 3 or 0) is not nil for a service run twice")
	}

	second := stack.Instance(harness.OrdersProcessor, 2)
	firstPID, secondPID := stack.PID(harness.OrdersProcessor), second.PID()
	if err := second.Kill(); err != nil {
		t.Fatal(err)
	}
	if second.PID() != 0 || stack.PID(harness.OrdersProcessor) != firstPID {
		t.Errorf("after killing #2: PIDs #1 %d, #2 %d; want #1 still %d and #2 gone", stack.PID(harness.OrdersProcessor), second.PID(), firstPID)
	}
	if err := second.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if pid := second.PID(); pid == 0 || pid == secondPID {
		t.Errorf("after restarting #2: PID %d, want a new process (was %d)", pid, secondPID)
	}

	c := stack.Client()
	if err := c.Seed(ctx, map[string]int{"INSTANCES-1": 5}); err != nil {
		t.Fatal(err)
	}
	id, resp, err := c.PlaceOrder(ctx, harness.OrderRequest{UserID: "instances", Items: []harness.Item{{SKU: "INSTANCES-1", Qty: 1}}, Total: 10, Currency: "EUR"})
	if err != nil || id == "" {
		t.Fatalf("place order: %v (%d %s)", err, resp.Status, resp.Body)
	}
	for n, client := range []*harness.Client{stack.ClientOn(1), stack.ClientOn(2)} {
		if got := client.URLs[harness.NotificationsAPI]; got != stack.URLs(harness.NotificationsAPI)[n] {
			t.Fatalf("ClientOn(%d) reaches notifications-api at %s, want %s", n+1, got, stack.URLs(harness.NotificationsAPI)[n])
		}
		if got := statusesOf(ctx, t, client, id); !slices.Equal(got, []events.Status{events.StatusCreated, events.StatusProcessing, events.StatusPaid}) {
			t.Errorf("statuses on notifications-api#%d = %v, want CREATED, PROCESSING, PAID\n%s", n+1, got, stack.Logs(harness.OrdersProcessor))
		}
	}
}

// statusesOf follows an order's stream until a final status.
func statusesOf(ctx context.Context, t *testing.T, c *harness.Client, orderID string) []events.Status {
	t.Helper()
	stream, err := c.FollowOrder(ctx, orderID, "")
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	var got []events.Status
	for len(got) == 0 || !got[len(got)-1].Final() {
		e, err := stream.Next(ctx)
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		s, err := e.Status()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, s.Status)
	}
	return got
}

// TestStackSharesPostgres runs two orders-apis and two stock-services on
// one PostgreSQL (DB "postgres"): stock seeded through one stock-service is
// seen by the other, and an order placed on the second orders-api is paid
// from it.
func TestStackSharesPostgres(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	stack, err := harness.Start(ctx, harness.Options{
		DB:         "postgres",
		Instances:  map[string]int{harness.OrdersAPI: 2, harness.StockService: 2},
		ServiceEnv: map[string]string{"PAYMENT_DELAY": "0"},
	})
	if errors.Is(err, postgres.ErrMissingTool) {
		t.Fatalf("!!! POSTGRESQL CANNOT RUN: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stack.Close(context.Background()) })
	if stack.Postgres() == nil {
		t.Fatal("Postgres() = nil on a stack started with DB postgres")
	}

	if err := stack.ClientOn(1).Seed(ctx, map[string]int{"SHARED-1": 7}); err != nil {
		t.Fatal(err)
	}
	second := stack.ClientOn(2)
	stock, err := second.Stock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stock["SHARED-1"] != 7 {
		t.Errorf("stock-service#2 sees SHARED-1 = %d, want the 7 seeded through #1", stock["SHARED-1"])
	}
	id, resp, err := second.PlaceOrder(ctx, harness.OrderRequest{UserID: "shared", Items: []harness.Item{{SKU: "SHARED-1", Qty: 3}}, Total: 10, Currency: "EUR"})
	if err != nil || id == "" {
		t.Fatalf("place order on orders-api#2: %v (%d %s)", err, resp.Status, resp.Body)
	}
	want := []events.Status{events.StatusCreated, events.StatusProcessing, events.StatusPaid}
	if got := statusesOf(ctx, t, second, id); !slices.Equal(got, want) {
		t.Errorf("statuses = %v, want %v\n%s", got, want, stack.Logs(harness.StockService))
	}
	for n, c := range []*harness.Client{stack.ClientOn(1), second} {
		stock, err := c.Stock(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if stock["SHARED-1"] != 4 {
			t.Errorf("after the order, stock-service#%d sees SHARED-1 = %d, want 4", n+1, stock["SHARED-1"])
		}
	}
}

// checkRegistry: the embedded stack runs a registry beside its broker that
// answers the Confluent API, and every service was given its URL.
func checkRegistry(ctx context.Context, t *testing.T, stack *harness.Stack) {
	t.Helper()
	url := stack.RegistryURL()
	if url == "" {
		t.Fatal("the stack started no schema registry")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/subjects", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("the schema registry at %s: %v", url, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s/subjects: %s", url, resp.Status)
	}
	if runtime.GOOS != "linux" {
		return // the environment of a process is read from /proc
	}
	for _, name := range harness.Services {
		environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", stack.PID(name)))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(strings.Split(string(environ), "\x00"), "SCHEMA_REGISTRY_URL="+url) {
			t.Errorf("%s was not given SCHEMA_REGISTRY_URL=%s", name, url)
		}
	}
}
