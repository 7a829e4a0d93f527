package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/kafkakit/kit/harness"
)

// startStack starts a broker and the four services through the harness, with
// the payment delay asked for (0 by default, as benchmarks want) and only
// warnings logged: at thousands of orders a second, one info line per order
// per service is work the measurement should not include.
func startStack(ctx context.Context, cfg config, stderr io.Writer) (*target, error) {
	fmt.Fprintf(stderr, "loadtest: starting the stack on the %s broker (building the services on first use)...\n", cfg.broker)
	began := time.Now()
	stack, err := harness.Start(ctx, harness.Options{
		Broker:     cfg.broker,
		ServiceEnv: map[string]string{"PAYMENT_DELAY": cfg.paymentDelay.String(), "LOG_LEVEL": "warn"},
	})
	if err != nil {
		return nil, fmt.Errorf("start the stack (%s broker): %w", cfg.broker, err)
	}
	fmt.Fprintf(stderr, "loadtest: stack ready in %.1fs, broker %v\n", time.Since(began).Seconds(), stack.BrokerAddrs())
	return &target{
		kind:             "harness",
		broker:           cfg.broker,
		ordersURL:        stack.URL(harness.OrdersAPI),
		notificationsURL: stack.URL(harness.NotificationsAPI),
		stockURL:         stack.URL(harness.StockService),
		brokers:          stack.BrokerAddrs(),
		notificationsPID: stack.PID(harness.NotificationsAPI),
		close:            stack.Close,
	}, nil
}
