package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"
	"golang.org/x/text/currency"

	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/httpx"
	"github.com/kafkakit/kit/services/platform/tracing"
)

// OrderStore records an order with its orders.created record in one
// transaction; *Store is one.
type OrderStore interface {
	Place(ctx context.Context, p placement) (orderID string, replayed bool, err error)
}

// placeOrderRequest is the body of POST /orders. Numbers stay raw so that a
// quantity of 1.5 or "2" is reported as the field's problem, not as a
// malformed body.
type placeOrderRequest struct {
	UserID   string          `json:"userId"`
	Items    itemList        `json:"items"`
	Total    json.RawMessage `json:"total"`
	Currency string          `json:"currency"`
}

type itemRequest struct {
	SKU string          `json:"sku"`
	Qty json.RawMessage `json:"qty"`
}

// itemList is a request's items as they are decoded: the first
// maxItems+1 of them, and how many there were. A 1 MiB body holds a third
// of a million empty items; decoding each into the list cost some seventy
// times the body in allocations, for a list refused anyway.
type itemList struct {
	items []itemRequest
	n     int
}

// UnmarshalJSON decodes data, a JSON array the request's decoder already
// checked, as encoding/json would (unknown fields refused, a wrong type
// reported with its field), keeping items only up to one past the limit.
func (l *itemList) UnmarshalJSON(data []byte) error {
	*l = itemList{}
	if string(data) == "null" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok != json.Delim('[') {
		return &json.UnmarshalTypeError{Value: fmt.Sprintf("%v", tok), Type: reflect.TypeFor[[]itemRequest]()}
	}
	var skipped json.RawMessage // reused: items past the limit are counted, not kept
	for dec.More() {
		if l.n <= maxItems {
			var it itemRequest
			err = dec.Decode(&it)
			l.items = append(l.items, it)
		} else {
			err = dec.Decode(&skipped)
		}
		if err != nil {
			return err
		}
		l.n++
	}
	return nil
}

type placeOrderResponse struct {
	OrderID string `json:"orderId"`
}

const (
	maxItems     = 100
	maxUserIDLen = 128
	maxSKULen    = 64
	// maxFieldErrors bounds the fields one 422 names, so that a body of
	// many bad parts cannot make a reply many times its own size; the
	// message says how many more there were.
	maxFieldErrors = 20
)

var currencyCode = regexp.MustCompile(`^[A-Z]{3}$`)

// hasControl reports whether s holds a control character (U+0000–U+001F,
// U+007F–U+009F): PostgreSQL refuses a NUL in text, and none belongs in a
// user id or a SKU, so they are refused here rather than later, where the
// order could only fail.
func hasControl(s string) bool { return strings.IndexFunc(s, unicode.IsControl) >= 0 }

// validate turns a request into an OrderCreated without id and time, or
// returns a 422 naming the invalid fields (the first maxFieldErrors of
// them). A list of more than maxItems items is refused without looking
// inside it.
func (req placeOrderRequest) validate() (events.OrderCreated, error) {
	var problems []httpx.FieldError
	more := 0 // invalid fields past maxFieldErrors, counted but not described
	// bad records a problem; field is a function so that the ones past the
	// cap cost nothing to describe.
	bad := func(field func() string, format string, args ...any) {
		if len(problems) == maxFieldErrors {
			more++
			return
		}
		problems = append(problems, httpx.FieldError{Field: field(), Message: fmt.Sprintf(format, args...)})
	}
	named := func(name string) func() string { return func() string { return name } }
	order := events.OrderCreated{UserID: strings.TrimSpace(req.UserID), Currency: req.Currency}

	switch {
	case order.UserID == "":
		bad(named("userId"), "is required")
	case len(order.UserID) > maxUserIDLen:
		bad(named("userId"), "must be at most %d characters", maxUserIDLen)
	case hasControl(order.UserID):
		bad(named("userId"), "must not contain control characters such as U+0000")
	}

	switch {
	case req.Items.n == 0:
		bad(named("items"), "must contain at least one item")
	case req.Items.n > maxItems:
		bad(named("items"), "must contain at most %d items, got %d", maxItems, req.Items.n)
	default:
		order.Items = make([]events.Item, 0, req.Items.n)
	}
	// A list over the limit is refused whole: its items are not worth
	// describing.
	if req.Items.n <= maxItems {
		for i, it := range req.Items.items {
			field := func(name string) func() string { return func() string { return fmt.Sprintf("items[%d].%s", i, name) } }
			sku := strings.TrimSpace(it.SKU)
			switch {
			case sku == "":
				bad(field("sku"), "is required")
			case len(sku) > maxSKULen:
				bad(field("sku"), "must be at most %d characters", maxSKULen)
			case hasControl(sku):
				bad(field("sku"), "must not contain control characters such as U+0000")
			}
			qty, ok := httpx.Number(it.Qty)
			if !ok || qty != math.Trunc(qty) || qty < 1 || qty > events.MaxQty {
				bad(field("qty"), "must be a whole number from 1 to %d", events.MaxQty)
			}
			order.Items = append(order.Items, events.Item{SKU: sku, Qty: int(qty)})
		}
	}

	total, ok := httpx.Number(req.Total)
	if !ok || total < 0 || math.IsInf(total, 0) {
		bad(named("total"), "must be a number >= 0")
	}
	order.Total = total

	if _, err := currency.ParseISO(req.Currency); err != nil || !currencyCode.MatchString(req.Currency) {
		bad(named("currency"), "must be a 3-letter ISO 4217 code such as EUR, got %q", req.Currency)
	}

	if len(problems) > 0 {
		msg := "invalid order"
		if more > 0 {
			msg = fmt.Sprintf("invalid order: %d more invalid fields not listed", more)
		}
		return events.OrderCreated{}, &httpx.Error{Status: http.StatusUnprocessableEntity, Message: msg, Fields: problems}
	}
	return order, nil
}

// handlePlaceOrder validates an order and records it, with its
// orders.created record in the outbox, in one transaction; it answers 201
// once that committed, whether or not the broker is up: the relay produces
// the record when it can. Only a database that cannot commit gets 503. A
// commit that failed but may have happened is settled by looking the order
// up (Store.Place): recorded, 201; not, 503; the database silent, a 503
// saying the outcome is unknown and to retry with the same Idempotency-Key.
//
// With an Idempotency-Key, a repeat of the same request by the same user
// answers the first order's id again (Idempotent-Replayed: true) and records
// nothing; the same key with another body is refused (422), and a repeat
// while the first is still being recorded gets 409.
func handlePlaceOrder(log *slog.Logger, orders OrderStore, keys *inFlight, now func() time.Time) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, err := idempotencyKey(r)
		if err != nil {
			httpx.WriteError(w, r, log, err)
			return
		}
		var req placeOrderRequest
		if err := httpx.Decode(w, r, &req); err != nil {
			httpx.WriteError(w, r, log, err)
			return
		}
		order, err := req.validate()
		if err != nil {
			httpx.WriteError(w, r, log, err)
			return
		}
		p := placement{orderID: uuid.NewString(), userID: order.UserID, createdAt: now().UTC(), key: key,
			headers: tracing.Headers(r.Context())}
		if key != "" {
			p.hash = requestHash(order) // before the id and time make it unique
			if !keys.acquire(order.UserID, key) {
				httpx.WriteError(w, r, log, &httpx.Error{Status: http.StatusConflict, RetryAfter: 1,
					Message: "a request with this Idempotency-Key is still being processed; retry in a moment"})
				return
			}
			defer keys.release(order.UserID, key)
		}
		order.OrderID, order.CreatedAt = p.orderID, p.createdAt
		if p.value, err = json.Marshal(order); err != nil {
			httpx.WriteError(w, r, log, fmt.Errorf("encode order: %w", err))
			return
		}

		// A client that hangs up must not leave the commit in doubt.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Second)
		defer cancel()
		orderID, replayed, err := orders.Place(ctx, p)
		switch {
		case errors.Is(err, errKeyReused):
			httpx.WriteError(w, r, log, &httpx.Error{Status: http.StatusUnprocessableEntity,
				Message: "this Idempotency-Key was already used for a different order; use a new key for a new order"})
			return
		case errors.Is(err, errOutcomeUnknown):
			log.Error("order outcome unknown: the commit failed and the database could not be asked whether it happened", "orderId", p.orderID, "err", err)
			msg := "the database did not confirm whether the order was recorded (it may have been); " +
				"retry with the same Idempotency-Key: it answers that order if it was recorded, and records it once if not"
			if key == "" {
				msg = "the database did not confirm whether the order was recorded (it may have been), so a retry may " +
					"place it twice; send an Idempotency-Key with each order and retry with the same one"
			}
			httpx.WriteError(w, r, log, &httpx.Error{Status: http.StatusServiceUnavailable, Message: msg, RetryAfter: 2})
			return
		case err != nil:
			log.Error("order not recorded: the database did not commit", "orderId", p.orderID, "err", err)
			httpx.WriteError(w, r, log, &httpx.Error{
				Status:     http.StatusServiceUnavailable,
				Message:    "the order could not be recorded right now; retry later",
				RetryAfter: 2,
			})
			return
		}
		if replayed {
			w.Header().Set("Idempotent-Replayed", "true")
			log.Info("order request replayed", "orderId", orderID, "userId", order.UserID)
		} else {
			log.Info("order placed", "orderId", orderID, "userId", order.UserID, "items", len(order.Items))
		}
		httpx.Encode(w, http.StatusCreated, placeOrderResponse{OrderID: orderID})
	})
}
