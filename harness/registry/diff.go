package registry

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Diff lists what changed between two versions of a JSON Schema, one line
// per change, each naming the field it is about ("status: enum value PAID
// removed", "seq: optional property added"), nested fields as
// "items[].qty". It is what the gate adds to a registry's refusal, which
// names a rule and a schema path but rarely the field.
func Diff(older, newer []byte) ([]string, error) {
	var a, b map[string]any
	if err := json.Unmarshal(older, &a); err != nil {
		return nil, fmt.Errorf("diff: older schema: %w", err)
	}
	if err := json.Unmarshal(newer, &b); err != nil {
		return nil, fmt.Errorf("diff: newer schema: %w", err)
	}
	var out []string
	diffSchema(&out, "", a, b)
	return out, nil
}

// diffSchema compares two object schemas at field path at ("" for the
// record itself).
func diffSchema(out *[]string, at string, a, b map[string]any) {
	label := at
	if label == "" {
		label = "(record)"
	}
	say := func(format string, args ...any) { *out = append(*out, label+": "+fmt.Sprintf(format, args...)) }

	// Properties: added, removed, and each kept one compared in turn.
	pa, pb := objectOf(a["properties"]), objectOf(b["properties"])
	ra, rb := stringsOf(a["required"]), stringsOf(b["required"])
	for _, name := range sortedKeys(pa, pb) {
		field := name
		if at != "" {
			field = at + "." + name
		}
		sa, inA := pa[name]
		sb, inB := pb[name]
		switch {
		case !inA:
			*out = append(*out, field+": "+requiredWord(rb, name)+" property added")
		case !inB:
			*out = append(*out, field+": property removed (it was "+requiredWord(ra, name)+")")
		default:
			if slices.Contains(ra, name) != slices.Contains(rb, name) {
				*out = append(*out, field+": "+requiredWord(ra, name)+" -> "+requiredWord(rb, name))
			}
			diffSchema(out, field, objectOf(sa), objectOf(sb))
		}
	}
	// Enums: the values each side has that the other lacks.
	if ea, eb := a["enum"], b["enum"]; ea != nil || eb != nil {
		for _, v := range minus(ea, eb) {
			say("enum value %s removed", v)
		}
		for _, v := range minus(eb, ea) {
			say("enum value %s added", v)
		}
	}
	// Array items are fields too ("items[].qty").
	if ia, ib := objectOf(a["items"]), objectOf(b["items"]); ia != nil || ib != nil {
		diffSchema(out, at+"[]", ia, ib)
	}
	// Every other keyword, compared as JSON.
	for _, k := range sortedKeys(a, b) {
		switch k {
		case "properties", "required", "enum", "items", "$schema", "$id", "title", "description":
			continue
		}
		ja, jb := compact(a[k]), compact(b[k])
		if ja != jb {
			say("%s %s -> %s", k, orNone(ja), orNone(jb))
		}
	}
}

func requiredWord(required []string, name string) string {
	if slices.Contains(required, name) {
		return "required"
	}
	return "optional"
}

func objectOf(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func stringsOf(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// minus is the values of list a (as JSON) not in list b.
func minus(a, b any) []string {
	la, _ := a.([]any)
	lb, _ := b.([]any)
	have := map[string]bool{}
	for _, v := range lb {
		have[compact(v)] = true
	}
	var out []string
	for _, v := range la {
		if j := compact(v); !have[j] {
			out = append(out, strings.Trim(j, `"`))
		}
	}
	return out
}

// sortedKeys is the union of two maps' keys, sorted, each once.
func sortedKeys(a, b map[string]any) []string {
	keys := slices.AppendSeq(slices.Collect(maps.Keys(a)), maps.Keys(b))
	slices.Sort(keys)
	return slices.Compact(keys)
}

// compact is v as JSON, "" for absent. encoding/json sorts map keys, so
// equal values compare equal.
func compact(v any) string {
	if v == nil {
		return ""
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
