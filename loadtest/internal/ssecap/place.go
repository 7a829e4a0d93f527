package ssecap

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/stream"
)

// KafkaPlacer places an order by producing its OrderCreated record straight
// to the orders topic, as orders-api would after validation. orders-api
// assigns order ids itself, so this is how streams can subscribe to an id
// before the order exists. The returned close releases the producer.
func KafkaPlacer(brokers []string, topic string) (place func(context.Context, string) error, closeFn func() error) {
	w := &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Topic:        topic,
		Balancer:     stream.Balancer{}, // the services' partitioner
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: time.Millisecond,
	}
	place = func(ctx context.Context, orderID string) error {
		v, err := json.Marshal(events.OrderCreated{
			OrderID:   orderID,
			UserID:    "loadtest-sse",
			Items:     []events.Item{{SKU: "loadtest-sse", Qty: 1}},
			Total:     9.99,
			Currency:  "EUR",
			CreatedAt: time.Now().UTC(),
		})
		if err != nil {
			return err
		}
		if err := w.WriteMessages(ctx, kafka.Message{Key: []byte(orderID), Value: v}); err != nil {
			return fmt.Errorf("produce %s: %w", topic, err)
		}
		return nil
	}
	return place, w.Close
}
