package features

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/cucumber/godog"
	"github.com/google/uuid"

	"github.com/kafkakit/kit/harness"
	"github.com/kafkakit/kit/services/events"
)

// stockGroup is stock-service's consumer group.
const stockGroup = "stock-service-cg"

func stockSteps(sc *godog.ScenarioContext) {
	sc.Given(`^the shop has (\d+) "([^"]*)" in stock$`, func(ctx context.Context, n int, sku string) error {
		return the(ctx).seed(ctx, map[string]int{sku: n})
	})
	sc.Given(`^the shop has (\d+) "([^"]*)" and (\d+) "([^"]*)" in stock$`, func(ctx context.Context, n1 int, sku1 string, n2 int, sku2 string) error {
		return the(ctx).seed(ctx, map[string]int{sku1: n1, sku2: n2})
	})
	sc.Then(`^"([^"]*)" is down to (\d+)$`, func(ctx context.Context, sku string, n int) error {
		return the(ctx).stockAfterOrder(ctx, map[string]int{sku: n})
	})
	sc.Then(`^"([^"]*)" is down to (\d+) and "([^"]*)" to (\d+)$`, func(ctx context.Context, sku1 string, n1 int, sku2 string, n2 int) error {
		return the(ctx).stockAfterOrder(ctx, map[string]int{sku1: n1, sku2: n2})
	})
	sc.Then(`^the shop still has (\d+) "([^"]*)" and (\d+) "([^"]*)" in stock$`, func(ctx context.Context, n1 int, sku1 string, n2 int, sku2 string) error {
		return the(ctx).stockAfterOrder(ctx, map[string]int{sku1: n1, sku2: n2})
	})
	sc.Then(`^one inventory update is recorded for each of "([^"]*)"(?: and "([^"]*)")?, keyed by the SKU$`, inventoryUpdates)
	sc.Then(`^the shop reports the order cannot be filled because of "([^"]*)"$`, cannotBeFilled)
	sc.Then(`^no inventory update is recorded for the order$`, noInventoryUpdate)
	sc.When(`^an order for (\d+) "([^"]*)" is delivered twice$`, deliveredTwice)
}

func (w *world) seed(ctx context.Context, stock map[string]int) error {
	mine := map[string]int{}
	for name, n := range stock {
		mine[w.sku(name)] = n
	}
	ctx, cancel := within(ctx)
	defer cancel()
	return w.client.Seed(ctx, mine)
}

// processed waits until stock-service has decided on the order.
func (w *world) processed(ctx context.Context) (harness.StockOutcome, error) {
	var out harness.StockOutcome
	err := eventually(ctx, "stock-service never processed order "+w.orderID, func() (bool, error) {
		var found bool
		var err error
		out, found, err = w.client.StockOutcome(ctx, w.orderID)
		return found, err
	})
	return out, err
}

// stockAfterOrder waits for stock-service to process the order, then
// checks the quantities.
func (w *world) stockAfterOrder(ctx context.Context, want map[string]int) error {
	ctx, cancel := within(ctx)
	defer cancel()
	if _, err := w.processed(ctx); err != nil {
		return err
	}
	stock, err := w.client.Stock(ctx)
	if err != nil {
		return err
	}
	for name, n := range want {
		if got := stock[w.sku(name)]; got != n {
			return fmt.Errorf("%q has %d in stock, want %d", name, got, n)
		}
	}
	return nil
}

func inventoryUpdates(ctx context.Context, sku1, sku2 string) error {
	w := the(ctx)
	names := []string{sku1}
	if sku2 != "" {
		names = append(names, sku2)
	}
	ctx, cancel := within(ctx)
	defer cancel()
	mine := func(recs []harness.Record) map[string][]events.InventoryUpdated {
		bySKU := map[string][]events.InventoryUpdated{}
		for _, r := range recs {
			var u events.InventoryUpdated
			if json.Unmarshal(r.Value, &u) == nil && u.OrderID == w.orderID {
				bySKU[r.Key] = append(bySKU[r.Key], u)
			}
		}
		return bySKU
	}
	recs, err := w.inventory.WaitFor(ctx, func(recs []harness.Record) bool { return len(mine(recs)) >= len(names) })
	if err != nil {
		return err
	}
	bySKU := mine(recs)
	if len(bySKU) != len(names) {
		return fmt.Errorf("inventory updates for %d SKUs (%v), want %d", len(bySKU), bySKU, len(names))
	}
	for _, name := range names {
		ups := bySKU[w.sku(name)]
		if len(ups) != 1 {
			return fmt.Errorf("%d inventory updates keyed by %q for the order, want 1", len(ups), name)
		}
		if ups[0].SKU != w.sku(name) || ups[0].Delta >= 0 {
			return fmt.Errorf("update %+v, want a decrease of %q", ups[0], name)
		}
	}
	for _, r := range recs {
		if strings.Contains(string(r.Value), w.orderID) {
			if err := conforms(r); err != nil {
				return err
			}
		}
	}
	return nil
}

func cannotBeFilled(ctx context.Context, reason string) error {
	w := the(ctx)
	if err := w.accepted(); err != nil {
		return err
	}
	ctx, cancel := within(ctx)
	defer cancel()
	out, err := w.processed(ctx)
	if err != nil {
		return err
	}
	if out.Result != "rejected" || !strings.Contains(out.Reason, reason) {
		return fmt.Errorf("stock-service says %+v, want rejected because of %q", out, reason)
	}
	return nil
}

func noInventoryUpdate(ctx context.Context) error {
	w := the(ctx)
	ctx, cancel := within(ctx)
	defer cancel()
	if _, err := w.processed(ctx); err != nil {
		return err
	}
	recs, err := w.inventory.UpToNow(ctx)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if strings.Contains(string(r.Value), w.orderID) {
			return fmt.Errorf("an order that changed nothing announced a change: %s", r.Value)
		}
	}
	return nil
}

// deliveredTwice writes the same order to the orders topic twice, as a
// producer retry or a consumer restart would, and waits until stock-service
// has consumed past the second copy.
func deliveredTwice(ctx context.Context, qty int, sku string) error {
	w := the(ctx)
	w.orderID = uuid.NewString()
	w.response.Status = 201 // the order exists: it was written, not posted
	value, err := json.Marshal(events.OrderCreated{
		OrderID: w.orderID, UserID: w.user, Items: []events.Item{{SKU: w.sku(sku), Qty: qty}},
		Total: 5, Currency: "EUR", CreatedAt: time.Now().UTC(),
	})
	if err != nil {
		return err
	}
	ctx, cancel := within(ctx)
	defer cancel()
	var second harness.Record
	for range 2 {
		if second, err = w.kafka.Produce(ctx, events.TopicOrdersCreated, w.orderID, value); err != nil {
			return err
		}
	}
	return eventually(ctx, "stock-service never consumed the second delivery", func() (bool, error) {
		next, err := w.kafka.Committed(ctx, stockGroup, events.TopicOrdersCreated, second.Partition)
		return next > second.Offset, err
	})
}
