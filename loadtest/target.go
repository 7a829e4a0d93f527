package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// target is the stack under test, started by the runner or already running.
type target struct {
	kind             string // "harness" or "running"
	broker           string // "embedded", "kafka" or "external"
	ordersURL        string
	notificationsURL string
	stockURL         string
	brokers          []string
	notificationsPID int
	close            func(context.Context) error
}

func openTarget(ctx context.Context, cfg config, stderr io.Writer) (*target, error) {
	if cfg.target == "harness" {
		return startStack(ctx, cfg, stderr)
	}
	t := &target{
		kind:             "running",
		broker:           "external",
		ordersURL:        cfg.ordersURL,
		notificationsURL: cfg.notificationsURL,
		stockURL:         cfg.stockURL,
		brokers:          cfg.brokers,
		notificationsPID: cfg.notificationsPID,
		close:            func(context.Context) error { return nil },
	}
	urls := map[string]string{"orders-api": t.ordersURL, "notifications-api": t.notificationsURL}
	for name, base := range urls {
		if err := checkReady(ctx, base); err != nil {
			return nil, fmt.Errorf("%s at %s is not ready: %w (start the stack, e.g. `make up`, or omit the URLs to let the runner start one)", name, base, err)
		}
	}
	return t, nil
}

// checkReady asks a service's /readyz, falling back to /healthz.
func checkReady(ctx context.Context, base string) error {
	var last error
	for _, path := range []string{"readyz", "healthz"} {
		u, err := url.JoinPath(base, path)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		resp, err := http.DefaultClient.Do(req)
		cancel()
		if err != nil {
			last = err
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nil
		}
		last = fmt.Errorf("GET /%s: %s", path, resp.Status)
	}
	return last
}

// seedStock gives each SKU a stock no run exhausts, so stock-service never
// rejects an order of the runner's (the order's way to PAID does not depend
// on stock, but the stock-service's work should be the normal one).
func seedStock(ctx context.Context, stockURL string, skus []string) error {
	body := map[string]int{}
	for _, s := range skus {
		body[s] = 1_000_000_000
	}
	b, _ := json.Marshal(body)
	u, err := url.JoinPath(stockURL, "seed")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("POST /seed: %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}
