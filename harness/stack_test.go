package harness_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/kafkakit/kit/harness"
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
	c := stack.Client()
	if err := c.Seed(ctx, map[string]int{"HARNESS-1": 5}); err != nil {
		t.Fatal(err)
	}
	id, resp, err := c.PlaceOrder(ctx, harness.OrderRequest{UserID: "harness", Items: []harness.Item{{SKU: "HARNESS-1", Qty: 2}}, Total: 10, Currency: "EUR"})
	if err != nil || id == "" {
		t.Fatalf("place order: %v (%d %s)", err, resp.Status, resp.Body)
	}
	stream, err := c.FollowOrder(ctx, id, "")
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	var got []events.Status
	for len(got) == 0 || !got[len(got)-1].Final() {
		e, err := stream.Next(ctx)
		if err != nil {
			t.Fatalf("after %v: %v\n%s", got, err, stack.Logs(harness.OrdersProcessor))
		}
		s, err := e.Status()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, s.Status)
	}
	want := []events.Status{events.StatusCreated, events.StatusProcessing, events.StatusPaid}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("statuses = %v, want %v", got, want)
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
