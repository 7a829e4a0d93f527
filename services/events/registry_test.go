package events_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/kafkakit/kit/services/events"
)

func TestRegistrySchemaDeclaresDraft07AndChangesNothingElse(t *testing.T) {
	for _, topic := range events.Topics {
		versions, err := events.SchemaHistory(topic)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range versions {
			got, err := events.RegistrySchema(v.Schema)
			if err != nil {
				t.Fatalf("%s v%d: %v", topic, v.Version, err)
			}
			back := bytes.Replace(got, []byte(`"http://json-schema.org/draft-07/schema#"`), []byte(`"https://json-schema.org/draft/2020-12/schema"`), 1)
			if !bytes.Equal(back, v.Schema) || bytes.Equal(got, v.Schema) {
				t.Errorf("%s v%d: RegistrySchema changed more, or less, than $schema:\n%s", topic, v.Version, got)
			}
		}
	}
}

func TestRegistrySchemaRefusesWhatDraft07ReadsDifferently(t *testing.T) {
	tests := []struct{ name, schema, wantErr string }{
		{"a 2020-12 keyword deep inside", `{"$schema":"https://json-schema.org/draft/2020-12/schema","properties":{"items":{"items":{"unevaluatedProperties":false}}}}`, "#/properties/items/items uses unevaluatedProperties"},
		{"$defs", `{"$schema":"https://json-schema.org/draft/2020-12/schema","$defs":{}}`, "# uses $defs"},
		{"another draft", `{"$schema":"http://json-schema.org/draft-07/schema#"}`, "want"},
		{"no $schema", `{"type":"object"}`, "want"},
		{"not JSON", `{`, "registry schema"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := events.RegistrySchema([]byte(tt.schema))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("RegistrySchema(%s) error = %v, want one containing %q", tt.schema, err, tt.wantErr)
			}
		})
	}
	// A property that merely has a keyword's name is not that keyword.
	ok := `{"$schema":"https://json-schema.org/draft/2020-12/schema","properties":{"$defs":{"type":"string"},"prefixItems":{"type":"string"}}}`
	if _, err := events.RegistrySchema([]byte(ok)); err != nil {
		t.Fatalf("RegistrySchema refused properties named like keywords: %v", err)
	}
}
