package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/httpx"
	"github.com/kafkakit/kit/services/platform/metrics"
	"github.com/kafkakit/kit/services/platform/sqldb"
	"github.com/kafkakit/kit/services/platform/stream"
	"github.com/kafkakit/kit/services/platform/svc"
	"github.com/kafkakit/kit/services/platform/tracing"
)

// NewServer returns the stock API: its HTTP surface and everything a
// request passes through on its way to a route are listed here, its
// subscriptions in subscriptions below.
func NewServer(log *slog.Logger, store *Store, checks map[string]httpx.Check,
	edge *svc.Edge, m *metrics.Metrics, tr *tracing.Tracing) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /stock", handleStock(log, store))
	mux.Handle("POST /seed", httpx.AdminOnly(handleSeed(log, store)))
	mux.Handle("GET /orders/{orderId}", handleOutcome(log, store))
	mux.Handle("GET /healthz", httpx.Health())
	mux.Handle("GET /readyz", httpx.Ready(checks))
	mux.Handle("GET /metrics", m.Handler())
	return httpx.Chain(httpx.API(mux), // CORS; the router's 404 and 405 as JSON
		edge.Draining, // /readyz 503 once a shutdown began
		edge.Guard,    // Host allow-list, admin policy (POST /seed)
		tr.HTTP,       // a server span per request, named by its route
		m.HTTP,        // requests and latency by route
	)
}

// subscriptions lists what stock-service consumes, as group
// events.GroupStockService: orders to reserve, and statuses, of which it
// acts on FAILED only, to give back what a failed order had reserved.
func subscriptions(store *Store, log *slog.Logger) []stream.Route {
	return []stream.Route{
		stream.On(events.TopicOrdersCreated, reserveStock(store, log)),
		stream.On(events.TopicOrdersStatus, releaseStock(store, log)),
	}
}

// reserveStock is the handler of orders.created.
func reserveStock(store *Store, log *slog.Logger) func(context.Context, events.OrderCreated) error {
	return func(ctx context.Context, o events.OrderCreated) error {
		now := time.Now()
		out, duplicate, err := store.Reserve(ctx, o, now)
		if rejectable(err) {
			// No retry can apply it, but the order can still end: answered
			// REJECTED with why, stock untouched. Only an order whose
			// rejection cannot be recorded either is dead-lettered.
			log.Warn("order cannot be applied; answering it rejected", "orderId", o.OrderID, "err", err)
			cause := err
			out, duplicate, err = store.Reject(ctx, o, rejection(cause), now)
			if err != nil {
				return classify(fmt.Errorf("reserve stock for order %s: %v; record its rejection: %w", o.OrderID, cause, err))
			}
		}
		if err != nil {
			return classify(fmt.Errorf("reserve stock for order %s: %w", o.OrderID, err))
		}
		switch {
		case duplicate:
			log.Info("order already answered; nothing changed", "orderId", o.OrderID, "result", out.Result)
			return nil
		case out.Result == events.Rejected:
			log.Warn("order rejected; stock unchanged", "orderId", o.OrderID, "reason", out.Reason)
		default:
			log.Info("stock reserved", "orderId", o.OrderID, "skus", len(out.Items))
		}
		return nil
	}
}

// releaseStock is the handler of orders.status: a FAILED order that had
// stock reserved gets it back, once.
func releaseStock(store *Store, log *slog.Logger) func(context.Context, events.OrderStatus) error {
	return func(ctx context.Context, s events.OrderStatus) error {
		if s.Status != events.StatusFailed {
			return nil
		}
		out, released, err := store.Release(ctx, s.OrderID, time.Now())
		switch {
		case errors.Is(err, errUnknownOrder):
			log.Warn("failed order was never seen here; nothing to give back", "orderId", s.OrderID)
			return nil
		case err != nil:
			return classify(fmt.Errorf("release stock of order %s: %w", s.OrderID, err))
		case !released:
			log.Info("failed order holds no stock; nothing to give back", "orderId", s.OrderID, "result", out.Result)
			return nil
		}
		log.Info("stock released", "orderId", s.OrderID, "skus", len(out.Items), "reason", s.Reason)
		return nil
	}
}

// classify marks what no retry can fix as permanent, so the record is
// dead-lettered instead of holding up its partition; anything else (a busy
// or unreachable database) is retried.
func classify(err error) error {
	if errors.Is(err, errInvalidOrder) || sqldb.Permanent(err) {
		return stream.Permanent(err)
	}
	return err
}

// rejectable reports whether err, from Reserve, is about the order itself
// (invalid, or a value or rule the database refuses), so that answering it
// REJECTED is right. A duplicate key is not: it is two instances racing on
// one order, which the retry settles.
func rejectable(err error) bool {
	return err != nil && (errors.Is(err, errInvalidOrder) || sqldb.Permanent(err) && !sqldb.UniqueViolation(err))
}

// rejection is the reason a rejectable order is answered with: what is
// wrong with it, or that the database refuses it — never the database's
// own words, which name tables and constraints.
func rejection(err error) string {
	if e, ok := errors.AsType[*invalidOrder](err); ok {
		return e.Error()
	}
	return errInvalidOrder.Error() + ": the stock database refuses to record it (a value it cannot store or a rule it breaks)"
}

// handleStock answers {"<sku>": quantity, ...}.
func handleStock(log *slog.Logger, store *Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stock, err := store.Stock(r.Context())
		if err != nil {
			httpx.WriteError(w, r, log, err)
			return
		}
		httpx.Encode(w, http.StatusOK, stock)
	})
}

// handleSeed sets quantities from {"<sku>": quantity, ...}: every SKU
// non-empty, every quantity a whole number >= 0, or nothing is changed.
func handleSeed(log *slog.Logger, store *Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req map[string]json.RawMessage
		if err := httpx.Decode(w, r, &req); err != nil {
			httpx.WriteError(w, r, log, err)
			return
		}
		quantities, err := validateSeed(req)
		if err != nil {
			httpx.WriteError(w, r, log, err)
			return
		}
		if err := store.Seed(r.Context(), quantities); err != nil {
			httpx.WriteError(w, r, log, err)
			return
		}
		log.Info("stock seeded", "skus", len(quantities))
		httpx.Encode(w, http.StatusOK, quantities)
	})
}

func validateSeed(req map[string]json.RawMessage) (map[string]int, error) {
	var problems []httpx.FieldError
	quantities := map[string]int{}
	for sku, raw := range req {
		// no control characters: PostgreSQL cannot store a NUL, and an order
		// for such a SKU is refused as invalid (storable)
		if strings.TrimSpace(sku) == "" || len(sku) > 64 || strings.TrimSpace(sku) != sku || strings.IndexFunc(sku, unicode.IsControl) >= 0 {
			problems = append(problems, httpx.FieldError{Field: sku, Message: "SKU must be 1 to 64 characters without surrounding spaces or control characters"})
			continue
		}
		q, ok := httpx.Number(raw)
		if !ok || q != math.Trunc(q) || q < 0 || q > math.MaxInt32 {
			problems = append(problems, httpx.FieldError{Field: sku, Message: fmt.Sprintf("quantity must be a whole number from 0 to %d", math.MaxInt32)})
			continue
		}
		quantities[sku] = int(q)
	}
	if len(req) == 0 {
		problems = append(problems, httpx.FieldError{Field: "", Message: "give at least one SKU"})
	}
	if len(problems) > 0 {
		return nil, &httpx.Error{Status: http.StatusUnprocessableEntity, Message: "invalid stock", Fields: problems}
	}
	return quantities, nil
}

// handleOutcome answers what became of an order: reserved, rejected with
// the reason, or released.
func handleOutcome(log *slog.Logger, store *Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("orderId")
		out, err := store.Outcome(r.Context(), id)
		if errors.Is(err, sql.ErrNoRows) {
			httpx.WriteError(w, r, log, httpx.Errorf(http.StatusNotFound, "order %s has not been processed by stock-service", id))
			return
		}
		if err != nil {
			httpx.WriteError(w, r, log, fmt.Errorf("outcome of %s: %w", id, err))
			return
		}
		httpx.Encode(w, http.StatusOK, out)
	})
}
