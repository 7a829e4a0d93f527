package main

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strings"

	"github.com/kafkakit/kit/services/platform/httpx"
)

// NewServer returns the stock API: the whole surface is listed here.
func NewServer(log *slog.Logger, store *Store, checks map[string]httpx.Check) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /stock", handleStock(log, store))
	mux.Handle("POST /seed", handleSeed(log, store))
	mux.Handle("GET /orders/{orderId}", handleOutcome(log, store))
	mux.Handle("GET /healthz", httpx.Health())
	mux.Handle("GET /readyz", httpx.Ready(checks))
	return httpx.CORS(mux)
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
		if strings.TrimSpace(sku) == "" || len(sku) > 64 || strings.TrimSpace(sku) != sku {
			problems = append(problems, httpx.FieldError{Field: sku, Message: "SKU must be 1 to 64 characters without surrounding spaces"})
			continue
		}
		q, ok := httpx.Number(raw)
		if !ok || q != math.Trunc(q) || q < 0 || q > math.MaxInt32 {
			problems = append(problems, httpx.FieldError{Field: sku, Message: "quantity must be a whole number >= 0"})
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

// handleOutcome answers what became of an order: applied, or rejected with
// the reason (unknown SKU, insufficient stock).
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
