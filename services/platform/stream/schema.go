package stream

import (
	"bytes"
	"fmt"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/kafkakit/kit/services/events"
)

// Schema compiles the JSON Schema of one of the kit's topics from
// events.Schemas, so consumers reject exactly what the contract rejects.
func Schema(topic string) (*jsonschema.Schema, error) {
	raw, err := events.Schemas.ReadFile(events.SchemaFile(topic))
	if err != nil {
		return nil, fmt.Errorf("schema for %s: %w", topic, err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("schema for %s: %w", topic, err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(topic, doc); err != nil {
		return nil, fmt.Errorf("schema for %s: %w", topic, err)
	}
	return c.Compile(topic)
}

// Conforms returns a check for JSON that fails when raw does not match s.
func Conforms(s *jsonschema.Schema) func(raw []byte) error {
	return func(raw []byte) error {
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			return err
		}
		return s.Validate(v)
	}
}
