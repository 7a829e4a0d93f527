package ssecap

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/schemaid"
	"github.com/kafkakit/kit/services/platform/stream"
)

// KafkaPlacer places an order by producing its OrderCreated record straight
// to the orders topic, as orders-api would after validation: framed with
// the topic's schema id from the registry at registryURL, since every
// reader checks each record against its writer's schema and drops an
// unframed one (the order would then never get a status). orders-api
// assigns order ids itself, so this is how streams can subscribe to an id
// before the order exists. The returned close releases the producer.
func KafkaPlacer(brokers []string, topic, registryURL string) (place func(context.Context, string) error, closeFn func() error, err error) {
	reg, err := schemaid.New(registryURL)
	if err != nil {
		return nil, nil, fmt.Errorf("ssecap: schema registry %q: %w", registryURL, err)
	}
	framer := schemaid.NewFramer(reg, topic)
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
		framed, err := framer.Frame(ctx, topic, v)
		if err != nil {
			return fmt.Errorf("ssecap: %w", err)
		}
		if err := w.WriteMessages(ctx, kafka.Message{Key: []byte(orderID), Value: framed}); err != nil {
			return fmt.Errorf("produce %s: %w", topic, err)
		}
		return nil
	}
	return place, w.Close, nil
}
