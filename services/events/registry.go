package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
)

// draft202012 and draft07 are the "$schema" values of the two drafts.
const (
	draft202012 = "https://json-schema.org/draft/2020-12/schema"
	draft07     = "http://json-schema.org/draft-07/schema#"
)

// RegistrySchema returns schema as the kit registers it in a schema
// registry: the same document, byte for byte, except that its "$schema"
// declares draft-07 instead of 2020-12. Apicurio Registry's JSON Schema
// compatibility checker knows drafts 4 to 7 only: given 2020-12 it answers
// "could not determine version" to every question, so no change could be
// checked. The kit's schemas use no keyword that 2019-09 or 2020-12 added
// or changed — RegistrySchema refuses one that does, naming it — so both
// drafts read them alike and the registry checks what the services check.
func RegistrySchema(schema []byte) ([]byte, error) {
	var doc map[string]any
	if err := json.Unmarshal(schema, &doc); err != nil {
		return nil, fmt.Errorf("registry schema: %w", err)
	}
	if doc["$schema"] != draft202012 {
		return nil, fmt.Errorf("registry schema: $schema is %v, want %q", doc["$schema"], draft202012)
	}
	if err := draft07Only(doc, "#"); err != nil {
		return nil, fmt.Errorf("registry schema: %w", err)
	}
	from, to := []byte(`"`+draft202012+`"`), []byte(`"`+draft07+`"`)
	if n := bytes.Count(schema, from); n != 1 {
		return nil, fmt.Errorf("registry schema: %s appears %d times, want once (as $schema)", from, n)
	}
	return bytes.Replace(schema, from, to, 1), nil
}

// newerKeywords are the keywords drafts 2019-09 and 2020-12 added, or whose
// meaning changed since draft-07 ($ref with sibling keywords).
var newerKeywords = []string{"$defs", "$anchor", "$dynamicRef", "$dynamicAnchor", "$recursiveRef", "$recursiveAnchor",
	"$vocabulary", "$ref", "prefixItems", "unevaluatedItems", "unevaluatedProperties", "dependentRequired",
	"dependentSchemas", "minContains", "maxContains", "contentSchema"}

// draft07Only walks a schema (keywords, and the subschemas under them) and
// refuses any of newerKeywords, naming where it stands.
func draft07Only(schema any, at string) error {
	obj, ok := schema.(map[string]any)
	if !ok {
		return nil // true, false
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := obj[k]
		if slices.Contains(newerKeywords, k) {
			return fmt.Errorf("%s uses %s, which draft-07 reads differently or not at all", at, k)
		}
		switch k {
		case "properties", "patternProperties", "definitions":
			named, _ := v.(map[string]any)
			for name, sub := range named {
				if err := draft07Only(sub, at+"/"+k+"/"+name); err != nil {
					return err
				}
			}
		case "items", "additionalItems", "additionalProperties", "propertyNames", "contains", "not", "if", "then", "else":
			if err := draft07Only(v, at+"/"+k); err != nil {
				return err
			}
		case "allOf", "anyOf", "oneOf":
			list, _ := v.([]any)
			for i, sub := range list {
				if err := draft07Only(sub, fmt.Sprintf("%s/%s/%d", at, k, i)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
