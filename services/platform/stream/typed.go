package stream

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/segmentio/kafka-go"
)

// Route sends the records of one topic to a typed handler; a service's
// routes.go lists its subscriptions as routes, next to its HTTP routes.
type Route struct {
	Topic string
	// Contract names the schema in services/events that every record must
	// match (a default topic name such as events.TopicOrdersCreated), so a
	// renamed topic keeps its contract.
	Contract string
	// bind compiles the contract and returns the adapted handler.
	bind func() (Handler, error)
}

// On routes topic to h: each record is checked against the JSON Schema of
// contract and decoded into T; a record that fails either is permanent and
// goes to the dead-letter topic without reaching h.
func On[T any](topic, contract string, h func(context.Context, T) error) Route {
	return Route{Topic: topic, Contract: contract, bind: func() (Handler, error) {
		if h == nil {
			return nil, fmt.Errorf("nil handler")
		}
		schema, err := Schema(contract)
		if err != nil {
			return nil, err
		}
		return decodeJSON(Conforms(schema), h), nil
	}}
}

// decodeJSON adapts a typed handler: the record's value is checked by
// validate and decoded into T. A record that fails either is permanent.
func decodeJSON[T any](validate func(raw []byte) error, h func(ctx context.Context, v T) error) Handler {
	return func(ctx context.Context, m kafka.Message) error {
		if err := validate(m.Value); err != nil {
			return Permanent(fmt.Errorf("invalid %s value: %w", m.Topic, err))
		}
		var v T
		if err := json.Unmarshal(m.Value, &v); err != nil {
			return Permanent(fmt.Errorf("decode %s value: %w", m.Topic, err))
		}
		return h(ctx, v)
	}
}
