package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"
	"golang.org/x/text/currency"

	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/httpx"
)

// Publisher records messages on Kafka and returns once the broker
// acknowledged them; *kafka.Writer is one.
type Publisher interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// placeOrderRequest is the body of POST /orders. Numbers stay raw so that a
// quantity of 1.5 or "2" is reported as the field's problem, not as a
// malformed body.
type placeOrderRequest struct {
	UserID   string          `json:"userId"`
	Items    []itemRequest   `json:"items"`
	Total    json.RawMessage `json:"total"`
	Currency string          `json:"currency"`
}

type itemRequest struct {
	SKU string          `json:"sku"`
	Qty json.RawMessage `json:"qty"`
}

type placeOrderResponse struct {
	OrderID string `json:"orderId"`
}

const (
	maxItems     = 100
	maxUserIDLen = 128
	maxSKULen    = 64
)

var currencyCode = regexp.MustCompile(`^[A-Z]{3}$`)

// validate turns a request into an OrderCreated without id and time, or
// returns a 422 naming every invalid field.
func (req placeOrderRequest) validate() (events.OrderCreated, error) {
	var problems []httpx.FieldError
	bad := func(field, format string, args ...any) {
		problems = append(problems, httpx.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	order := events.OrderCreated{UserID: strings.TrimSpace(req.UserID), Currency: req.Currency}

	switch {
	case order.UserID == "":
		bad("userId", "is required")
	case len(order.UserID) > maxUserIDLen:
		bad("userId", "must be at most %d characters", maxUserIDLen)
	}

	switch {
	case len(req.Items) == 0:
		bad("items", "must contain at least one item")
	case len(req.Items) > maxItems:
		bad("items", "must contain at most %d items", maxItems)
	}
	for i, it := range req.Items {
		sku := strings.TrimSpace(it.SKU)
		switch {
		case sku == "":
			bad(fmt.Sprintf("items[%d].sku", i), "is required")
		case len(sku) > maxSKULen:
			bad(fmt.Sprintf("items[%d].sku", i), "must be at most %d characters", maxSKULen)
		}
		qty, ok := httpx.Number(it.Qty)
		if !ok || qty != math.Trunc(qty) || qty < 1 || qty > math.MaxInt32 {
			bad(fmt.Sprintf("items[%d].qty", i), "must be a whole number >= 1")
		}
		order.Items = append(order.Items, events.Item{SKU: sku, Qty: int(qty)})
	}

	total, ok := httpx.Number(req.Total)
	if !ok || total < 0 || math.IsInf(total, 0) {
		bad("total", "must be a number >= 0")
	}
	order.Total = total

	if _, err := currency.ParseISO(req.Currency); err != nil || !currencyCode.MatchString(req.Currency) {
		bad("currency", "must be a 3-letter ISO 4217 code such as EUR, got %q", req.Currency)
	}

	if len(problems) > 0 {
		return events.OrderCreated{}, &httpx.Error{Status: http.StatusUnprocessableEntity, Message: "invalid order", Fields: problems}
	}
	return order, nil
}

// handlePlaceOrder validates an order, records it on orders.created keyed by
// its id, and answers 201 only once the broker acknowledged the write. When
// the broker cannot take it, the client gets 503 with Retry-After and the
// order does not exist as far as the client knows.
func handlePlaceOrder(log *slog.Logger, orders Publisher, now func() time.Time, timeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
		order.OrderID = uuid.NewString()
		order.CreatedAt = now().UTC()
		value, err := json.Marshal(order)
		if err != nil {
			httpx.WriteError(w, r, log, fmt.Errorf("encode order: %w", err))
			return
		}

		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		if err := orders.WriteMessages(ctx, kafka.Message{Key: []byte(order.OrderID), Value: value}); err != nil {
			log.Error("order not recorded: broker did not acknowledge", "orderId", order.OrderID, "err", err)
			httpx.WriteError(w, r, log, &httpx.Error{
				Status:     http.StatusServiceUnavailable,
				Message:    "the order could not be recorded right now; retry later",
				RetryAfter: 2,
			})
			return
		}
		log.Info("order placed", "orderId", order.OrderID, "userId", order.UserID, "items", len(order.Items))
		httpx.Encode(w, http.StatusCreated, placeOrderResponse{OrderID: order.OrderID})
	})
}
