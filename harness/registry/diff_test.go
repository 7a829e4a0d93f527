package registry

import "testing"

func TestDiffNamesTheField(t *testing.T) {
	base := `{"type":"object","required":["a","items"],"additionalProperties":false,"properties":{
		"a":{"enum":["X","Y"]},"b":{"type":"string"},
		"items":{"type":"array","items":{"type":"object","required":["qty"],"properties":{"qty":{"type":"integer","maximum":10}}}}}}`
	tests := []struct{ name, newer, want string }{
		{"optional added", `{"type":"object","required":["a","items"],"additionalProperties":false,"properties":{"a":{"enum":["X","Y"]},"b":{"type":"string"},"c":{"type":"integer"},"items":{"type":"array","items":{"type":"object","required":["qty"],"properties":{"qty":{"type":"integer","maximum":10}}}}}}`, "c: optional property added"},
		{"required removed", `{"type":"object","required":["items"],"additionalProperties":false,"properties":{"b":{"type":"string"},"items":{"type":"array","items":{"type":"object","required":["qty"],"properties":{"qty":{"type":"integer","maximum":10}}}}}}`, "a: property removed (it was required)"},
		{"enum narrowed", `{"type":"object","required":["a","items"],"additionalProperties":false,"properties":{"a":{"enum":["X"]},"b":{"type":"string"},"items":{"type":"array","items":{"type":"object","required":["qty"],"properties":{"qty":{"type":"integer","maximum":10}}}}}}`, "a: enum value Y removed"},
		{"nested bound", `{"type":"object","required":["a","items"],"additionalProperties":false,"properties":{"a":{"enum":["X","Y"]},"b":{"type":"string"},"items":{"type":"array","items":{"type":"object","required":["qty"],"properties":{"qty":{"type":"integer","maximum":5}}}}}}`, "items[].qty: maximum 10 -> 5"},
		{"closed opened", `{"type":"object","required":["a","items"],"properties":{"a":{"enum":["X","Y"]},"b":{"type":"string"},"items":{"type":"array","items":{"type":"object","required":["qty"],"properties":{"qty":{"type":"integer","maximum":10}}}}}}`, "(record): additionalProperties false -> (none)"},
		{"made required", `{"type":"object","required":["a","b","items"],"additionalProperties":false,"properties":{"a":{"enum":["X","Y"]},"b":{"type":"string"},"items":{"type":"array","items":{"type":"object","required":["qty"],"properties":{"qty":{"type":"integer","maximum":10}}}}}}`, "b: optional -> required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Diff([]byte(base), []byte(tt.newer))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0] != tt.want {
				t.Errorf("Diff = %q, want [%q]", got, tt.want)
			}
		})
	}
	if got, err := Diff([]byte(base), []byte(base)); err != nil || len(got) != 0 {
		t.Errorf("Diff of a schema with itself = %q, %v; want nothing", got, err)
	}
	if _, err := Diff([]byte(base), []byte(`{`)); err == nil {
		t.Error("Diff of a broken schema: no error")
	}
}
