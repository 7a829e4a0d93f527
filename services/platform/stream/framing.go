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
	subject := events.Subject(contract)
	return func(ctx context.Context, m kafka.Message) error {
		id, payload, err := schemaid.Split(m.Value)
		if err != nil {
			return Permanent(fmt.Errorf("%s value: %w", m.Topic, err))
		}
		s, err := ids.Resolve(ctx, id)
		switch {
		case errors.Is(err, schemaid.ErrUnknownID):
			return Permanent(fmt.Errorf("%s value: %w", m.Topic, err))
		case err != nil:
			return fmt.Errorf("%s value: %w", m.Topic, err)
		case s.Subject != "" && s.Subject != subject:
			return Permanent(fmt.Errorf("%s value: schema id %d is %s v%d, not a version of %s", m.Topic, id, s.Subject, s.Version, subject))
		}
		decode := strict
		if !s.Current {
			if err := s.Validate(payload); err != nil {
				return Permanent(fmt.Errorf("invalid %s value for its writer's schema id %d (%s v%d): %w", m.Topic, id, s.Subject, s.Version, err))
			}
			decode = tolerant
		}
		v, err := decode(payload)
		if err != nil {
			return Permanent(fmt.Errorf("invalid %s value (schema id %d, %s v%d): %w", m.Topic, id, s.Subject, s.Version, err))
		}
		return h(ctx, v)
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
