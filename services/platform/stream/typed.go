package stream

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/segmentio/kafka-go"

	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/schemaid"
)

// Route sends the records of one topic to a typed handler; a service's
// routes.go lists its subscriptions as routes, next to its HTTP routes.
type Route struct {
	Topic string
	// Contract names the schema in services/events that every record must
	// match: the topic's own name, unless the route was moved with From.
	Contract string
	// bind compiles the contract and returns the adapted handler; with a
	// registry (ConsumerConfig.Schemas) it reads framed records.
	bind func(ids *schemaid.Registry) (Handler, error)
	// rebind builds the same route reading another topic (From).
	rebind func(topic string) Route
}

// On routes topic (a topic of services/events, such as
// events.TopicStockReservations) to h: each record is decoded into T and
// checked against that topic's contract; a record that breaks the contract
// is permanent and goes to the dead-letter topic, with the problem named,
// without reaching h. Topic names are constants, not settings, so a route
// names one thing.
//
// For the kit's own contracts the record is parsed once, by the decoder
// services/events keeps in step with the JSON Schema; for any other
// contract it is validated against the schema, then decoded. With a
// registry (ConsumerConfig.Schemas) records are framed: see readFramed.
func On[T any](topic string, h func(context.Context, T) error) Route {
	return on(topic, topic, h)
}

// From reads the route's records from topic instead, still checked against
// the route's contract: tests give each run a topic of its own
// (stream.On(events.TopicOrdersCreated, h).From(uniqueTopic)).
func (r Route) From(topic string) Route {
	if r.rebind == nil {
		r.Topic = topic
		return r
	}
	return r.rebind(topic)
}

func on[T any](topic, contract string, h func(context.Context, T) error) Route {
	return Route{Topic: topic, Contract: contract, rebind: func(topic string) Route { return on(topic, contract, h) }, bind: func(ids *schemaid.Registry) (Handler, error) {
		if h == nil {
			return nil, fmt.Errorf("nil handler")
		}
		if d, known := decoders[contract]; known {
			decode, ok := d.(func([]byte) (T, error))
			if !ok {
				var zero T
				return nil, fmt.Errorf("route of %s: contract %s does not decode into %T", topic, contract, zero)
			}
			if ids != nil {
				return readFramed(ids, contract, decode, tolerantDecoders[contract].(func([]byte) (T, error)), h), nil
			}
			return decodeOnce(decode, h), nil
		}
		schema, err := Schema(contract)
		if err != nil {
			return nil, err
		}
		if ids != nil {
			return readFramed(ids, contract, strictJSON[T](Conforms(schema)), tolerantJSON[T], h), nil
		}
		return decodeJSON(Conforms(schema), h), nil
	}}
}

// decoders are the Go decoders of the kit's contracts, by contract.
var decoders = map[string]any{
	events.TopicOrdersCreated:     events.DecodeOrderCreated,
	events.TopicStockReservations: events.DecodeStockReservation,
	events.TopicOrdersStatus:      events.DecodeOrderStatus,
	events.TopicInventoryUpdated:  events.DecodeInventoryUpdated,
}

// decodeOnce adapts a typed handler to a decoder that checks as it parses.
func decodeOnce[T any](decode func([]byte) (T, error), h func(ctx context.Context, v T) error) Handler {
	return func(ctx context.Context, m kafka.Message) error {
		v, err := decode(m.Value)
		if err != nil {
			return Permanent(fmt.Errorf("invalid %s value: %w", m.Topic, err))
		}
		return h(ctx, v)
	}
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
