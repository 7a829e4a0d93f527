package features

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cucumber/godog"
	"github.com/google/uuid"

	"github.com/kafkakit/kit/harness"
	"github.com/kafkakit/kit/services/events"
)

func orderSteps(sc *godog.ScenarioContext) {
	sc.Given(`^a shopper$`, aShopper)
	sc.When(`^the shopper orders (\d+) "([^"]*)" for (\d+\.\d\d) ([A-Z]{3})$`, func(ctx context.Context, qty int, sku, total, currency string) error {
		return the(ctx).placeOrder(ctx, total, currency, qty, sku)
	})
	sc.When(`^the shopper orders (\d+) "([^"]*)" and (\d+) "([^"]*)" for (\d+\.\d\d) ([A-Z]{3})$`, func(ctx context.Context, q1 int, sku1 string, q2 int, sku2, total, currency string) error {
		return the(ctx).placeOrder(ctx, total, currency, q1, sku1, q2, sku2)
	})
	sc.Then(`^the order is accepted with a new order id$`, orderAccepted)
	sc.Then(`^the order is recorded once, under its order id, as the order contract describes$`, orderRecorded)
	sc.When(`^the shopper places an order (.+)$`, placeBadOrder)
	sc.Then(`^the order is rejected as (invalid|malformed|too large|of the wrong type), naming "([^"]*)"$`, orderRejected)
	sc.Then(`^nothing is recorded for the shopper$`, nothingRecorded)

	sc.When(`^the shopper orders (\d+) "([^"]*)" for (\d+\.\d\d) ([A-Z]{3}) with a fresh idempotency key$`, func(ctx context.Context, qty int, sku, total, currency string) error {
		w := the(ctx)
		w.idempotencyKey = "order-" + w.token + "-" + uuid.NewString()
		if err := w.placeOrder(ctx, total, currency, qty, sku); err != nil {
			return err
		}
		if err := w.accepted(); err != nil {
			return err
		}
		w.firstOrderID = w.orderID
		return nil
	})
	sc.When(`^the shopper sends the same order again with the same key$`, func(ctx context.Context) error {
		w := the(ctx)
		ctx, cancel := within(ctx)
		defer cancel()
		var err error
		w.orderID, w.response, err = w.client.PlaceOrderWithKey(ctx, w.order, w.idempotencyKey)
		return err
	})
	sc.When(`^the shopper sends an order for (\d+) "([^"]*)" with the same key$`, func(ctx context.Context, qty int, sku string) error {
		w := the(ctx)
		other := w.order
		other.Items = []harness.Item{{SKU: w.sku(sku), Qty: qty}}
		ctx, cancel := within(ctx)
		defer cancel()
		var err error
		_, w.response, err = w.client.PlaceOrderWithKey(ctx, other, w.idempotencyKey)
		w.orderID = w.firstOrderID // the order in question stays the first one
		return err
	})
	sc.Then(`^both answers name the same order, the second as a replay$`, sameOrderReplayed)
	sc.Then(`^the second order is refused, naming "([^"]*)"$`, func(ctx context.Context, what string) error {
		return the(ctx).refusedNaming(http.StatusUnprocessableEntity, what)
	})
	sc.Then(`^only the first order is recorded for the shopper$`, onlyFirstRecorded)
}

func aShopper(ctx context.Context) error {
	w := the(ctx)
	w.user = "shopper-" + w.token
	return nil
}

// placeOrder posts an order for pairs of (quantity, SKU name) and keeps the
// answer; whether it was accepted is for a Then step to say.
func (w *world) placeOrder(ctx context.Context, total, currency string, items ...any) error {
	amount, err := strconv.ParseFloat(total, 64)
	if err != nil {
		return err
	}
	w.order = harness.OrderRequest{UserID: w.user, Total: amount, Currency: currency}
	for i := 0; i < len(items); i += 2 {
		w.order.Items = append(w.order.Items, harness.Item{SKU: w.sku(items[i+1].(string)), Qty: items[i].(int)})
	}
	ctx, cancel := within(ctx)
	defer cancel()
	w.orderID, w.response, err = w.client.PlaceOrderWithKey(ctx, w.order, w.idempotencyKey)
	return err
}

// accepted fails unless the last order was accepted.
func (w *world) accepted() error {
	if w.response.Status != http.StatusCreated || w.orderID == "" {
		return fmt.Errorf("the order was not accepted: %d %s", w.response.Status, w.response.Body)
	}
	return nil
}

func orderAccepted(ctx context.Context) error {
	w := the(ctx)
	if err := w.accepted(); err != nil {
		return err
	}
	id, err := uuid.Parse(w.orderID)
	if err != nil {
		return fmt.Errorf("order id %q is not a UUID: %w", w.orderID, err)
	}
	if id.Version() != 4 {
		return fmt.Errorf("order id %s is a version %d UUID, want a random (version 4) one", id, id.Version())
	}
	return nil
}

// recordsFor returns the records of recs keyed by key.
func recordsFor(recs []harness.Record, key string) []harness.Record {
	var out []harness.Record
	for _, r := range recs {
		if r.Key == key {
			out = append(out, r)
		}
	}
	return out
}

func orderRecorded(ctx context.Context) error {
	w := the(ctx)
	if err := w.accepted(); err != nil {
		return err
	}
	r, err := w.recordedOnce(ctx, w.orderID)
	if err != nil {
		return err
	}
	if err := conforms(r); err != nil {
		return err
	}
	var got events.OrderCreated
	if err := json.Unmarshal(r.Value, &got); err != nil {
		return err
	}
	want := events.OrderCreated{OrderID: w.orderID, UserID: w.user, Total: w.order.Total, Currency: w.order.Currency}
	for _, it := range w.order.Items {
		want.Items = append(want.Items, events.Item{SKU: it.SKU, Qty: it.Qty})
	}
	if got.OrderID != want.OrderID || got.UserID != want.UserID || got.Total != want.Total ||
		got.Currency != want.Currency || !slices.Equal(got.Items, want.Items) {
		return fmt.Errorf("recorded order %+v, want %+v", got, want)
	}
	if age := time.Since(got.CreatedAt); age < 0 || age > time.Hour {
		return fmt.Errorf("createdAt %s is not the time the order was placed", got.CreatedAt)
	}
	return nil
}

// recordedOnce waits for the order's record on the orders topic (the API
// answers once the order is committed; its relay produces the record right
// after), then makes sure there is no second one: the stock service, which
// has to have answered the order, read past anything produced for it.
func (w *world) recordedOnce(ctx context.Context, orderID string) (harness.Record, error) {
	ctx, cancel := within(ctx)
	defer cancel()
	if _, err := w.orders.WaitFor(ctx, func(recs []harness.Record) bool { return len(recordsFor(recs, orderID)) > 0 }); err != nil {
		return harness.Record{}, fmt.Errorf("order %s was never recorded on the orders topic: %w", orderID, err)
	}
	recs, err := w.orders.UpToNow(ctx)
	if err != nil {
		return harness.Record{}, err
	}
	mine := recordsFor(recs, orderID)
	if len(mine) != 1 {
		return harness.Record{}, fmt.Errorf("found %d records keyed by order %s, want exactly 1", len(mine), orderID)
	}
	return mine[0], nil
}

func sameOrderReplayed(ctx context.Context) error {
	w := the(ctx)
	if err := w.accepted(); err != nil {
		return fmt.Errorf("the second send: %w", err)
	}
	if w.orderID != w.firstOrderID {
		return fmt.Errorf("the second send was answered with order %s, the first with %s: the retry became a second order", w.orderID, w.firstOrderID)
	}
	if got := w.response.Header.Get("Idempotent-Replayed"); got != "true" {
		return fmt.Errorf("the second answer says Idempotent-Replayed: %q, want true", got)
	}
	return nil
}

// refusedNaming checks the last answer is status with a JSON error
// mentioning what.
func (w *world) refusedNaming(status int, what string) error {
	if w.response.Status != status {
		return fmt.Errorf("answer %d %s, want %d", w.response.Status, w.response.Body, status)
	}
	problem, ok := w.response.Problem()
	if !ok || !strings.Contains(problem.Error, what) {
		return fmt.Errorf("answer %s does not explain the refusal naming %q", w.response.Body, what)
	}
	return nil
}

func onlyFirstRecorded(ctx context.Context) error {
	w := the(ctx)
	if _, err := w.recordedOnce(ctx, w.firstOrderID); err != nil {
		return err
	}
	ctx, cancel := within(ctx)
	defer cancel()
	recs, err := w.orders.UpToNow(ctx)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if strings.Contains(string(r.Value), w.user) && r.Key != w.firstOrderID {
			return fmt.Errorf("a second order was recorded for the shopper: %s", r.Value)
		}
	}
	return nil
}

// badOrders are the ways an order can be wrong, in the words of the feature.
func (w *world) badOrder(problem string) (contentType string, body []byte, err error) {
	valid := map[string]any{"userId": w.user, "items": []map[string]any{{"sku": w.sku("book"), "qty": 1}}, "total": 10.0, "currency": "EUR"}
	item := valid["items"].([]map[string]any)[0]
	switch problem {
	case "without saying who the buyer is":
		delete(valid, "userId")
	case "with no items":
		valid["items"] = []any{}
	case "with an item that has no SKU":
		item["sku"] = ""
		valid["userId"] = w.user + " " + w.sku("book") // keep the scenario's token in the body
	case "for zero of an item":
		item["qty"] = 0
	case "for half of an item":
		item["qty"] = 0.5
	case "for more of an item than can exist":
		item["qty"] = events.MaxQty + 1
	case "with a negative total":
		valid["total"] = -1
	case "in a currency that does not exist":
		valid["currency"] = "XYZ"
	case "that is not valid JSON":
		return "application/json", []byte(`{"userId": "` + w.user + `", "items": [`), nil
	case "larger than one megabyte":
		valid["userId"] = w.user + strings.Repeat("x", 1<<20)
	case "sent as plain text":
		b, _ := json.Marshal(valid)
		return "text/plain", b, nil
	default:
		return "", nil, fmt.Errorf("no bad order %q is known to the steps", problem)
	}
	b, err := json.Marshal(valid)
	return "application/json", b, err
}

func placeBadOrder(ctx context.Context, problem string) error {
	w := the(ctx)
	contentType, body, err := w.badOrder(problem)
	if err != nil {
		return err
	}
	ctx, cancel := within(ctx)
	defer cancel()
	w.response, err = w.client.Post(ctx, harness.OrdersAPI, "/orders", contentType, body)
	return err
}

var rejections = map[string]int{
	"invalid":           http.StatusUnprocessableEntity,
	"malformed":         http.StatusBadRequest,
	"too large":         http.StatusRequestEntityTooLarge,
	"of the wrong type": http.StatusUnsupportedMediaType,
}

func orderRejected(ctx context.Context, rejection, what string) error {
	w := the(ctx)
	if want := rejections[rejection]; w.response.Status != want {
		return fmt.Errorf("answer %d %s, want %d", w.response.Status, w.response.Body, want)
	}
	problem, ok := w.response.Problem()
	if !ok {
		return fmt.Errorf("answer %s does not explain the problem as {\"error\": ...}", w.response.Body)
	}
	if rejection == "invalid" {
		for _, f := range problem.Fields {
			if f.Field == what && f.Message != "" {
				return nil
			}
		}
		return fmt.Errorf("answer %s does not name the field %q", w.response.Body, what)
	}
	if !strings.Contains(problem.Error, what) {
		return fmt.Errorf("reason %q does not mention %q", problem.Error, what)
	}
	return nil
}

func nothingRecorded(ctx context.Context) error {
	w := the(ctx)
	ctx, cancel := within(ctx)
	defer cancel()
	// A rejection is answered synchronously and an accepted order is
	// recorded before its answer, so anything recorded is before these ends.
	recs, err := w.orders.UpToNow(ctx)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if strings.Contains(string(r.Value), w.token) {
			return fmt.Errorf("a rejected order was recorded anyway: %s", r.Value)
		}
	}
	return nil
}
