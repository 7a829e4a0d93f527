package events_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/kafkakit/kit/services/events"
)

// decoders are the Go checks of each topic's contract.
var decoders = map[string]func([]byte) (any, error){
	events.TopicOrdersCreated:     func(b []byte) (any, error) { return events.DecodeOrderCreated(b) },
	events.TopicStockReservations: func(b []byte) (any, error) { return events.DecodeStockReservation(b) },
	events.TopicOrdersStatus:      func(b []byte) (any, error) { return events.DecodeOrderStatus(b) },
	events.TopicInventoryUpdated:  func(b []byte) (any, error) { return events.DecodeInventoryUpdated(b) },
}

const id = "5f0c7e0a-8d1e-4b8e-9a52-3c1f2f6f7a10"

// valid is one valid value per topic, the root of the corpus.
func valid(topic string) map[string]any {
	items := []any{map[string]any{"sku": "BOOK-1", "qty": 2}, map[string]any{"sku": "PEN-7", "qty": 1}}
	switch topic {
	case events.TopicOrdersCreated:
		return map[string]any{"orderId": id, "userId": "u", "items": items, "total": 31.5, "currency": "EUR", "createdAt": "2026-11-25T09:30:00Z"}
	case events.TopicStockReservations:
		return map[string]any{"orderId": id, "result": "RESERVED", "items": items, "total": 31.5, "currency": "EUR", "updatedAt": "2026-11-25T09:30:00.123456789Z"}
	case events.TopicOrdersStatus:
		return map[string]any{"orderId": id, "status": "PAID", "seq": 3, "updatedAt": "2026-11-25T09:30:00Z"}
	default:
		return map[string]any{"sku": "BOOK-1", "delta": -2, "newQuantity": 8, "orderId": "o", "updatedAt": "2026-11-25T09:30:00Z"}
	}
}

// oddValues are what a careless or hostile producer writes into a field.
var oddValues = []any{nil, "", "x", "eur", "EUR", "RESERVED", "REJECTED", "FAILED", "PAID", "CREATED",
	0, 1, -1, 2.0, 1.5, 1e6, 1000001, 1e300, math.MaxInt64, true, []any{}, map[string]any{},
	"5F0C7E0A-8D1E-4B8E-9A52-3C1F2F6F7A10", "5f0c7e0a8d1e4b8e9a523c1f2f6f7a10", "{5f0c7e0a-8d1e-4b8e-9a52-3c1f2f6f7a1}",
	"2026-11-25T09:30:00+01:00", "2026-11-25T09:30:00z", "2026-11-25t09:30:00Z", "2026-11-25 09:30:00Z",
	"2026-13-01T00:00:00Z", "2026-11-25T09:30:00.5Z", "2026-11-25", "out of stock: A has 0 left",
	"OUT_OF_STOCK", "PAYMENT_DECLINED", "out_of_stock", "CARD_EXPIRED"}

// corpus is valid values, and each mutated one field at a time in every
// way above, plus whole-record breakage.
func corpus(topic string) [][]byte {
	var out [][]byte
	add := func(v any) {
		b, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		out = append(out, b)
	}
	base := valid(topic)
	add(base)
	if topic == events.TopicOrdersStatus || topic == events.TopicStockReservations {
		failed := valid(topic)
		failed["status"], failed["result"] = "FAILED", "REJECTED"
		if topic == events.TopicOrdersStatus {
			delete(failed, "result")
		} else {
			delete(failed, "status")
		}
		failed["reason"] = "out of stock: A has 0 left"
		add(failed) // a failure without a kind: written before failureKind, or neither kind
		if topic == events.TopicOrdersStatus {
			failed = clone(failed)
			failed["failureKind"] = "OUT_OF_STOCK"
			add(failed)
		}
		base = failed // mutate the variant with a reason (and a kind) too
	}
	for _, root := range []map[string]any{valid(topic), base} {
		for key := range root {
			m := clone(root)
			delete(m, key)
			add(m)
			m = clone(root)
			m[strings.ToUpper(key[:1])+key[1:]] = m[key] // a name in the wrong case
			delete(m, key)
			add(m)
			for _, v := range oddValues {
				m := clone(root)
				m[key] = v
				add(m)
			}
		}
		m := clone(root)
		m["extra"] = 1
		add(m)
		m = clone(root)
		m["reason"] = nil
		add(m)
		for _, v := range []any{"OUT_OF_STOCK", "PAYMENT_DECLINED", nil} { // a kind on a status that is not FAILED, or a null one
			m = clone(root)
			m["failureKind"] = v
			add(m)
		}
		if items, ok := root["items"].([]any); ok {
			for field := range items[0].(map[string]any) {
				for _, v := range oddValues {
					m := clone(root)
					item := map[string]any{"sku": "A", "qty": 1}
					item[field] = v
					m["items"] = []any{items[0], item}
					add(m)
				}
				m := clone(root)
				m["items"] = []any{map[string]any{"sku": "A"}}
				add(m)
			}
			for _, v := range []any{nil, []any{nil}, []any{"x"}, []any{map[string]any{"sku": "A", "qty": 1, "note": "x"}}} {
				m := clone(root)
				m["items"] = v
				add(m)
			}
		}
	}
	raw, _ := json.Marshal(valid(topic))
	out = append(out, []byte(`not json`), []byte(`null`), []byte(`[]`), []byte(`"x"`), []byte(``),
		append(append([]byte{}, raw...), []byte(`{}`)...), append(append([]byte{}, raw...), '\n'),
		bytes.Replace(raw, []byte(`{`), []byte(`{"updatedAt":1,`), 1), // a repeated name: the last wins
		bytes.Replace(raw, []byte(`{`), []byte("{\"sku\":\"\xff\",\"orderId\":\"\xff\","), 1))
	return out
}

func clone(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// schemaVerdict is the contract as the JSON Schema states it, for a value
// that is well-formed JSON in the strict sense of RFC 8259 (valid UTF-8, no
// member name twice: what a repeated name means is up to each parser).
func schemaVerdict(t testing.TB, topic string, raw []byte) error {
	if _, err := jsontext.NewDecoder(bytes.NewReader(raw)).ReadValue(); err != nil {
		return err
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	return compiledSchema(t, topic).Validate(v)
}

// compiledSchemas holds each topic's schema compiled once: compiling it again
// for every record of the corpus was most of this package's test time.
var compiledSchemas sync.Map // topic -> *jsonschema.Schema

func compiledSchema(t testing.TB, topic string) *jsonschema.Schema {
	if s, ok := compiledSchemas.Load(topic); ok {
		return s.(*jsonschema.Schema)
	}
	s, _ := compiledSchemas.LoadOrStore(topic, compile(t, topic))
	return s.(*jsonschema.Schema)
}

// TestGoChecksAgreeWithTheSchemas is what keeps decode.go and schemas/ one
// contract: whatever one accepts, the other does; whatever one refuses, the
// other does.
func TestGoChecksAgreeWithTheSchemas(t *testing.T) {
	for _, topic := range events.Topics {
		t.Run(topic, func(t *testing.T) {
			accepted, refused := 0, 0
			for _, raw := range corpus(topic) {
				schemaErr := schemaVerdict(t, topic, raw)
				_, goErr := decoders[topic](raw)
				if (schemaErr == nil) != (goErr == nil) {
					t.Errorf("%s: schema says %v, Go says %v", raw, schemaErr, goErr)
				}
				if goErr == nil {
					accepted++
				} else {
					refused++
				}
			}
			if accepted < 5 || refused < 50 {
				t.Errorf("corpus of %s: %d accepted, %d refused; too little of either to compare", topic, accepted, refused)
			}
		})
	}
}

// FuzzGoChecksAgreeWithTheSchemas searches beyond the corpus:
// go test -fuzz FuzzGoChecksAgreeWithTheSchemas ./services/events
func FuzzGoChecksAgreeWithTheSchemas(f *testing.F) {
	for i, topic := range events.Topics {
		for _, raw := range corpus(topic) {
			f.Add(uint8(i), raw)
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, raw []byte) {
		topic := events.Topics[int(which)%len(events.Topics)]
		schemaErr := schemaVerdict(t, topic, raw)
		_, goErr := decoders[topic](raw)
		if (schemaErr == nil) != (goErr == nil) {
			t.Errorf("%s %q: schema says %v, Go says %v", topic, raw, schemaErr, goErr)
		}
	})
}

// TestDecodeReturnsWhatTheRecordSays: the golden records decode to the
// values they were made from.
func TestDecodeReturnsWhatTheRecordSays(t *testing.T) {
	for _, tt := range goldenCases() {
		raw, err := json.Marshal(tt.value)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decoders[tt.topic](raw)
		if err != nil {
			t.Errorf("%s: %v", tt.golden, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.value) {
			t.Errorf("%s: decoded %+v, want %+v", tt.golden, got, tt.value)
		}
	}
}

func TestDecodeErrorsNameTheField(t *testing.T) {
	tests := []struct {
		topic, raw string
		want       []string
	}{
		{events.TopicOrdersCreated, `{"orderId":"x","userId":"","items":[{"sku":"A","qty":1000001}],"total":-1,"currency":"eur","createdAt":"2026-11-25T10:30:00+01:00"}`,
			[]string{"orderId: must be a UUID", "userId: must not be empty", "items[0].qty: must be a whole number from 1 to 1000000", "total: must be a number >= 0", "currency:", "createdAt:"}},
		{events.TopicOrdersStatus, `{"orderId":"` + id + `","status":"FAILED","updatedAt":"2026-11-25T09:30:00Z"}`, []string{"reason: is required when status is FAILED"}},
		{events.TopicStockReservations, `{"orderId":"` + id + `","result":"RESERVED","reason":"x","items":[{"sku":"A","qty":1}],"total":1,"currency":"EUR","updatedAt":"2026-11-25T09:30:00Z"}`, []string{"reason: is only allowed when result is REJECTED"}},
		{events.TopicInventoryUpdated, `{"sku":"A","delta":0,"newQuantity":-1,"orderId":"o","updatedAt":"2026-11-25T09:30:00Z"}`, []string{"delta: must not be 0", "newQuantity: must be a whole number from 0 to 9007199254740991"}},
		{events.TopicOrdersCreated, `{"orderId":"` + id + `","unexpected":1}`, []string{"unknown"}},
		{events.TopicOrdersStatus, `{"orderId":"` + id + `","status":"PAID","seq":0,"updatedAt":"2026-11-25T09:30:00Z"}`, []string{"seq: must be a whole number from 1 to 9007199254740991, got 0"}},
		{events.TopicOrdersStatus, `{"orderId":"` + id + `","status":"PAID","seq":null,"updatedAt":"2026-11-25T09:30:00Z"}`, []string{"seq: must be a whole number", "got null"}},
		{events.TopicOrdersStatus, `{"orderId":"` + id + `","status":"FAILED","reason":"x","failureKind":"CARD_EXPIRED","updatedAt":"2026-11-25T09:30:00Z"}`, []string{`failureKind: must be one of OUT_OF_STOCK, PAYMENT_DECLINED, got "CARD_EXPIRED"`}},
		{events.TopicOrdersStatus, `{"orderId":"` + id + `","status":"FAILED","reason":"x","failureKind":null,"updatedAt":"2026-11-25T09:30:00Z"}`, []string{"failureKind: must be one of OUT_OF_STOCK, PAYMENT_DECLINED, got null"}},
	}
	for _, tt := range tests {
		_, err := decoders[tt.topic]([]byte(tt.raw))
		for _, w := range tt.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s %s: error %v, want it to say %q", tt.topic, tt.raw, err, w)
			}
		}
	}
}

// TestOrderStatusWithoutSeqStillHolds: seq is a compatible addition, so a
// status written before it (no seq) is still valid, to the schema and the
// decoder, and decodes with Seq 0.
func TestOrderStatusWithoutSeqStillHolds(t *testing.T) {
	raw := []byte(`{"orderId":"` + id + `","status":"PROCESSING","updatedAt":"2026-11-25T09:30:00Z"}`)
	if err := schemaVerdict(t, events.TopicOrdersStatus, raw); err != nil {
		t.Errorf("schema refused a status without seq: %v", err)
	}
	got, err := events.DecodeOrderStatus(raw)
	if err != nil {
		t.Fatalf("DecodeOrderStatus refused a status without seq: %v", err)
	}
	if got.Seq != 0 {
		t.Errorf("Seq = %d, want 0 for a status without one", got.Seq)
	}
}

func ExampleDecodeOrderStatus() {
	_, err := events.DecodeOrderStatus([]byte(`{"orderId":"42","status":"SHIPPED","updatedAt":"2026-11-25T09:30:00Z"}`))
	fmt.Println(err)
	// Output: orderId: must be a UUID, got "42"; status: must be one of CREATED, PROCESSING, PAID, FAILED, got "SHIPPED"
}

// TestOrderStatusWithoutFailureKindStillHolds: failureKind is a compatible
// addition, so a FAILED status written before it (a reason, no kind) is
// still valid, to the schema and the decoder, and decodes with no kind: a
// reader falls back to the reason's words for it.
func TestOrderStatusWithoutFailureKindStillHolds(t *testing.T) {
	raw := []byte(`{"orderId":"` + id + `","status":"FAILED","reason":"out of stock: A has 0 left","seq":2,"updatedAt":"2026-11-25T09:30:00Z"}`)
	if err := schemaVerdict(t, events.TopicOrdersStatus, raw); err != nil {
		t.Errorf("schema refused a failure without failureKind: %v", err)
	}
	got, err := events.DecodeOrderStatus(raw)
	if err != nil {
		t.Fatalf("DecodeOrderStatus refused a failure without failureKind: %v", err)
	}
	if got.FailureKind != "" {
		t.Errorf("FailureKind = %q, want none for a failure without one", got.FailureKind)
	}
}

// TestFailureKindsAreTheSchemasEnum: the Go constants and the schema list
// the same kinds, so neither gains one the other refuses.
func TestFailureKindsAreTheSchemasEnum(t *testing.T) {
	raw, err := events.Schemas.ReadFile(events.SchemaFile(events.TopicOrdersStatus))
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Properties struct {
			FailureKind struct {
				Enum []events.FailureKind `json:"enum"`
			} `json:"failureKind"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatal(err)
	}
	if got := schema.Properties.FailureKind.Enum; !reflect.DeepEqual(got, events.FailureKinds) {
		t.Errorf("schema's failureKind enum %v, want events.FailureKinds %v", got, events.FailureKinds)
	}
}
