package features

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/cucumber/godog"

	"github.com/kafkakit/kit/harness"
	"github.com/kafkakit/kit/services/events"
)

func notificationSteps(sc *godog.ScenarioContext) {
	sc.When(`^the shopper follows the order(?: straight away)?$`, func(ctx context.Context) error {
		return the(ctx).follow(ctx, "")
	})
	sc.Given(`^the shopper has an order that has been paid$`, paidOrder)
	sc.Given(`^the shopper saw only the first status before losing the connection$`, sawFirstThenDropped)
	sc.When(`^the shopper reconnects from the last status seen$`, func(ctx context.Context) error {
		w := the(ctx)
		return w.follow(ctx, w.lastEventID)
	})
	sc.Then(`^the shopper sees (\w+), (\w+) and (\w+), in that order$`, func(ctx context.Context, a, b, c string) error {
		return the(ctx).sees(ctx, events.Status(a), events.Status(b), events.Status(c))
	})
	sc.Then(`^the shopper sees (\w+) and (\w+), in that order$`, func(ctx context.Context, a, b string) error {
		return the(ctx).sees(ctx, events.Status(a), events.Status(b))
	})
	sc.When(`^someone follows (without an order id|an order id that is not an id)$`, followWithout)
	sc.Then(`^following is refused with a reason naming "([^"]*)"$`, followingRefused)
}

func (w *world) follow(ctx context.Context, lastEventID string) error {
	if err := w.accepted(); err != nil {
		return err
	}
	if w.stream != nil {
		w.stream.Close()
	}
	var err error
	w.stream, err = w.client.FollowOrder(ctx, w.orderID, lastEventID)
	w.seen = nil
	return err
}

func paidOrder(ctx context.Context) error {
	w := the(ctx)
	if err := w.placeOrder(ctx, "20.00", "EUR", 1, "mug"); err != nil {
		return err
	}
	return w.goesThrough(ctx, events.StatusCreated, events.StatusProcessing, events.StatusPaid)
}

func sawFirstThenDropped(ctx context.Context) error {
	w := the(ctx)
	if err := w.follow(ctx, ""); err != nil {
		return err
	}
	ctx, cancel := within(ctx)
	defer cancel()
	e, err := w.stream.Next(ctx)
	if err != nil {
		return err
	}
	w.stream.Close()
	w.stream = nil
	w.lastEventID = e.ID
	return nil
}

// sees reads the stream until it has len(want) events and checks them: the
// statuses in order, ids counting up by one from where the stream resumed
// (no gap, no repeat), each event of type "status" for this order.
func (w *world) sees(ctx context.Context, want ...events.Status) error {
	if w.stream == nil {
		return errors.New("the shopper is not following the order")
	}
	ctx, cancel := within(ctx)
	defer cancel()
	first := 1
	if w.lastEventID != "" {
		n, err := strconv.Atoi(w.lastEventID)
		if err != nil {
			return fmt.Errorf("last event id %q: %w", w.lastEventID, err)
		}
		first = n + 1
	}
	var got []events.Status
	for len(got) < len(want) {
		e, err := w.stream.Next(ctx)
		if err != nil {
			return fmt.Errorf("after %v: %w", got, err)
		}
		s, err := e.Status()
		if err != nil || e.Event != "status" || s.OrderID != w.orderID {
			return fmt.Errorf("event %q %q %s is not a status of order %s (%v)", e.ID, e.Event, e.Data, w.orderID, err)
		}
		if wantID := strconv.Itoa(first + len(got)); e.ID != wantID {
			return fmt.Errorf("event id %q for %s, want %s: ids must count up without gaps or repeats", e.ID, s.Status, wantID)
		}
		got = append(got, s.Status)
		w.seen = append(w.seen, e)
	}
	if !slices.Equal(got, want) {
		return fmt.Errorf("the shopper saw %v, want %v", got, want)
	}
	return nil
}

func followWithout(ctx context.Context, which string) error {
	w := the(ctx)
	path := "/events"
	if which == "an order id that is not an id" {
		path += "?orderId=" + w.token + "-not-a-uuid"
	}
	ctx, cancel := within(ctx)
	defer cancel()
	s, err := w.client.Stream(ctx, harness.NotificationsAPI, path, "")
	if err == nil {
		s.Close()
		return errors.New("the stream was opened; want it refused")
	}
	if !errors.As(err, &w.refused) {
		return err
	}
	return nil
}

func followingRefused(ctx context.Context, what string) error {
	w := the(ctx)
	if w.refused == nil || w.refused.Status != http.StatusBadRequest {
		return fmt.Errorf("refusal %v, want 400", w.refused)
	}
	if problem, ok := (harness.Response{Body: w.refused.Body}).Problem(); !ok || !strings.Contains(problem.Error, what) {
		return fmt.Errorf("reason %s does not name %q", w.refused.Body, what)
	}
	return nil
}
