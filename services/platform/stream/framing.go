package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/segmentio/kafka-go"

	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/schemaid"
)

// tolerantDecoders are the Go decoders of the kit's contracts that skip
// members they do not know, by contract: for records whose writer followed
// another version of the contract than this build's.
var tolerantDecoders = map[string]any{
	events.TopicOrdersCreated:     events.DecodeOrderCreatedTolerant,
	events.TopicStockReservations: events.DecodeStockReservationTolerant,
	events.TopicOrdersStatus:      events.DecodeOrderStatusTolerant,
	events.TopicInventoryUpdated:  events.DecodeInventoryUpdatedTolerant,
}

// readFramed adapts a typed handler to framed records of contract: the
// schema id in front of the JSON is resolved from the registry (once per
// id), and the record is checked against the version its writer followed.
// A record written with this build's own schema is decoded strictly (the
// Go decoder is that schema's check, in one parse); one written with
// another version is checked against that version's compiled schema, then
// decoded tolerantly — strict writers, tolerant readers, which is what the
// compatibility gate's FORWARD_TRANSITIVE check on the tolerant view holds.
//
// Unframed records, unknown ids and ids of another contract's subject are
// permanent (dead-lettered, the reason naming which); a registry that does
// not answer is transient, so the record is retried while /readyz says so.
func readFramed[T any](ids *schemaid.Registry, contract string, strict, tolerant func([]byte) (T, error), h func(context.Context, T) error) Handler {
	decode := decodeFramed(ids, contract, strict, tolerant)
	return func(ctx context.Context, m kafka.Message) error {
		v, err := decode(ctx, m)
		if err != nil {
			return err
		}
		return h(ctx, v)
	}
}

// ReadFramed returns what a typed route of contract does to a record before
// its handler runs — the framing read, the writer's schema resolved, the
// record checked against it and decoded into T — for readers that are not
// consumers (notifications-api's tail of statuses). Its error is Permanent
// for a record that will never read, transient when the registry did not
// answer.
func ReadFramed[T any](ids *schemaid.Registry, contract string) (func(context.Context, kafka.Message) (T, error), error) {
	strict, known := decoders[contract].(func([]byte) (T, error))
	tolerant, _ := tolerantDecoders[contract].(func([]byte) (T, error))
	if !known || tolerant == nil {
		var zero T
		return nil, fmt.Errorf("read framed %s: no decoder of it into %T", contract, zero)
	}
	return decodeFramed(ids, contract, strict, tolerant), nil
}

func decodeFramed[T any](ids *schemaid.Registry, contract string, strict, tolerant func([]byte) (T, error)) func(context.Context, kafka.Message) (T, error) {
	subject := events.Subject(contract)
	return func(ctx context.Context, m kafka.Message) (T, error) {
		var zero T
		id, payload, err := schemaid.Split(m.Value)
		if err != nil {
			return zero, Permanent(fmt.Errorf("%s value: %w", m.Topic, err))
		}
		s, err := ids.Resolve(ctx, id)
		switch {
		case errors.Is(err, schemaid.ErrUnknownID):
			return zero, Permanent(fmt.Errorf("%s value: %w", m.Topic, err))
		case err != nil:
			return zero, fmt.Errorf("%s value: %w", m.Topic, err)
		case s.Subject != "" && s.Subject != subject:
			return zero, Permanent(fmt.Errorf("%s value: schema id %d is %s v%d, not a version of %s", m.Topic, id, s.Subject, s.Version, subject))
		}
		decode := strict
		if !s.Current {
			if err := s.Validate(payload); err != nil {
				return zero, Permanent(fmt.Errorf("invalid %s value for its writer's schema id %d (%s v%d): %w", m.Topic, id, s.Subject, s.Version, err))
			}
			decode = tolerant
		}
		v, err := decode(payload)
		if err != nil {
			return zero, Permanent(fmt.Errorf("invalid %s value (schema id %d, %s v%d): %w", m.Topic, id, s.Subject, s.Version, err))
		}
		return v, nil
	}
}

// strictJSON checks raw against this build's schema, then decodes it.
func strictJSON[T any](validate func(raw []byte) error) func([]byte) (T, error) {
	return func(raw []byte) (T, error) {
		var v T
		if err := validate(raw); err != nil {
			return v, err
		}
		return v, json.Unmarshal(raw, &v)
	}
}

// tolerantJSON decodes raw already checked against its writer's schema;
// encoding/json skips members T does not name.
func tolerantJSON[T any](raw []byte) (T, error) {
	var v T
	return v, json.Unmarshal(raw, &v)
}
