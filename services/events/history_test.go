package events_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/kafkakit/kit/services/events"
)

// TestSchemaHistoryEndsWithTheCurrentSchema keeps one source of truth: the
// schema the decoders are held to is the newest published version. An edit
// of a schema without publishing it as the next version fails here.
func TestSchemaHistoryEndsWithTheCurrentSchema(t *testing.T) {
	for _, topic := range events.Topics {
		t.Run(topic, func(t *testing.T) {
			versions, err := events.SchemaHistory(topic)
			if err != nil {
				t.Fatal(err)
			}
			current, err := events.Schemas.ReadFile(events.SchemaFile(topic))
			if err != nil {
				t.Fatal(err)
			}
			newest := versions[len(versions)-1]
			if !bytes.Equal(newest.Schema, current) {
				t.Errorf("%s differs from the newest published version, schemas/history/%s/v%d.json: publish the change as the next version "+
					"(cp services/events/%[1]s services/events/schemas/history/%[2]s/v%[4]d.json), never edit a published one",
					events.SchemaFile(topic), events.Subject(topic), newest.Version, newest.Version+1)
			}
		})
	}
}

// TestEverySchemaVersionCompiles: a published version that is not a JSON
// Schema would be refused by the registry, and by any reader holding it.
func TestEverySchemaVersionCompiles(t *testing.T) {
	for _, topic := range events.Topics {
		versions, err := events.SchemaHistory(topic)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range versions {
			name := fmt.Sprintf("%s/v%d.json", events.Subject(topic), v.Version)
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(v.Schema))
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			c := jsonschema.NewCompiler()
			if err := c.AddResource(name, doc); err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			if _, err := c.Compile(name); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	}
}
