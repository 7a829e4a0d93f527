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
	sc.Then(`^no inventory update is recorded for the order$`, noInventoryUpdate)
	sc.When(`^an order for (\d+) "([^"]*)" is delivered twice$`, deliveredTwice)
	sc.Then(`^the shop still has (\d+) "([^"]*)" in stock$`, func(ctx context.Context, n int, sku string) error {
		return the(ctx).stockAfterOrder(ctx, map[string]int{sku: n})
	})
	sc.Then(`^the order failed because "([^"]*)" has (\d+) left and the order asks for (\d+)$`, failedForStock)
	sc.Then(`^"([^"]*)" is back to (\d+)$`, func(ctx context.Context, sku string, n int) error {
		return the(ctx).stockBecomes(ctx, sku, n)
	})
	sc.Then(`^"([^"]*)" is still at (\d+)$`, func(ctx context.Context, sku string, n int) error {
		return the(ctx).stockAfterOrder(ctx, map[string]int{sku: n})
	})
	sc.Then(`^the inventory updates for the order take (\d+) "([^"]*)" and give (\d+) back$`, takenAndGivenBack)
	sc.Then(`^the stock of the order was given back once$`, givenBackOnce)
}

// stockBecomes waits until sku's stock is n: for changes that follow the
// order's answer, such as stock given back after a declined payment.
func (w *world) stockBecomes(ctx context.Context, name string, n int) error {
	ctx, cancel := within(ctx)
	defer cancel()
	var last int
	err := eventually(ctx, fmt.Sprintf("%q never got to %d", name, n), func() (bool, error) {
		stock, err := w.client.Stock(ctx)
		last = stock[w.sku(name)]
		return err == nil && last == n, err
	})
	if err != nil {
		return fmt.Errorf("%w (it has %d)", err, last)
	}
	return nil
}

func failedForStock(ctx context.Context, sku string, left, asked int) error {
	w := the(ctx)
	final, err := w.finalStatus(ctx)
	if err != nil {
		return err
	}
	// The kind says why, for a program; the reason names what was short,
	// for a person.
	want := fmt.Sprintf("%s has %d left, the order asks for %d", w.sku(sku), left, asked)
	if final.Status != events.StatusFailed || final.FailureKind != events.FailureOutOfStock || !strings.Contains(final.Reason, want) {
		return fmt.Errorf("final status %+v, want FAILED %s with a reason saying %s", final, events.FailureOutOfStock, want)
	}
	return nil
}

// updatesFor returns the inventory updates of the order, by SKU, in the
// order they were recorded.
func (w *world) updatesFor(recs []harness.Record) map[string][]events.InventoryUpdated {
	bySKU := map[string][]events.InventoryUpdated{}
	for _, r := range recs {
		var u events.InventoryUpdated
		if json.Unmarshal(r.Value, &u) == nil && u.OrderID == w.orderID {
			bySKU[r.Key] = append(bySKU[r.Key], u)
		}
	}
	return bySKU
}

func takenAndGivenBack(ctx context.Context, taken int, sku string, back int) error {
	w := the(ctx)
	ctx, cancel := within(ctx)
	defer cancel()
	key := w.sku(sku)
	recs, err := w.inventory.WaitFor(ctx, func(recs []harness.Record) bool { return len(w.updatesFor(recs)[key]) >= 2 })
	if err != nil {
		return fmt.Errorf("the order's stock was not taken and given back: %w", err)
	}
	ups := w.updatesFor(recs)[key]
	if len(ups) != 2 || ups[0].Delta != -taken || ups[1].Delta != back || ups[1].NewQuantity != ups[0].NewQuantity+back {
		return fmt.Errorf("inventory updates for %q: %+v, want -%d then +%d", sku, ups, taken, back)
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

// givenBack waits until the order's stock was given back: the ledger says
// released and a positive update was recorded.
func (w *world) givenBack(ctx context.Context, qty int, sku string) error {
	ctx, cancel := within(ctx)
	defer cancel()
	_, err := w.inventory.WaitFor(ctx, func(recs []harness.Record) bool {
		for _, u := range w.updatesFor(recs)[w.sku(sku)] {
			if u.Delta == qty {
				return true
			}
		}
		return false
	})
	return err
}

func givenBackOnce(ctx context.Context) error {
	w := the(ctx)
	ctx, cancel := within(ctx)
	defer cancel()
	out, err := w.processed(ctx)
	if err != nil {
		return err
	}
	if out.Result != "RELEASED" {
		return fmt.Errorf("the stock service says the order is %q, want RELEASED", out.Result)
	}
	recs, err := w.inventory.UpToNow(ctx)
	if err != nil {
		return err
	}
	for sku, ups := range w.updatesFor(recs) {
		back := 0
		for _, u := range ups {
			if u.Delta > 0 {
				back++
			}
		}
		if back != 1 {
			return fmt.Errorf("%d updates gave %s back, want 1: %+v", back, sku, ups)
		}
	}
	return nil
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
	recs, err := w.inventory.WaitFor(ctx, func(recs []harness.Record) bool { return len(w.updatesFor(recs)) >= len(names) })
	if err != nil {
		return err
	}
	bySKU := w.updatesFor(recs)
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
		next, err := w.kafka.Committed(ctx, events.GroupStockService, events.TopicOrdersCreated, second.Partition)
		return next > second.Offset, err
	})
}
