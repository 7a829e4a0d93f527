package events

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// The Decode functions parse a record value once and check it against its
// topic's contract: the same rules as the JSON Schema in schemas/, written
// out in Go so a consumer does not parse every record twice (once for the
// schema, once for the struct). contract_test.go holds the two to each
// other: for a corpus of valid and broken records, and under `go test
// -fuzz`, the schema and the Go rules must give the same verdict.

// DecodeOrderCreated decodes and checks an orders.created value.
func DecodeOrderCreated(raw []byte) (OrderCreated, error) { return decodeOrderCreated(raw, true) }

// DecodeOrderCreatedTolerant is DecodeOrderCreated for a tolerant reader: it skips
// members the contract does not name (a newer writer's optional fields),
// and checks the rest as strictly. Use it only on a record already checked
// against its writer's own schema (a framed record's schema id).
func DecodeOrderCreatedTolerant(raw []byte) (OrderCreated, error) {
	return decodeOrderCreated(raw, false)
}

func decodeOrderCreated(raw []byte, strict bool) (OrderCreated, error) {
	var in struct {
		OrderID   *string     `json:"orderId"`
		UserID    *string     `json:"userId"`
		Items     *[]itemJSON `json:"items"`
		Total     *float64    `json:"total"`
		Currency  *string     `json:"currency"`
		CreatedAt *string     `json:"createdAt"`
	}
	if err := decodeMembers(raw, &in, strict); err != nil {
		return OrderCreated{}, err
	}
	var c checker
	out := OrderCreated{
		OrderID:   c.uuid("orderId", in.OrderID),
		UserID:    c.nonEmpty("userId", in.UserID),
		Items:     c.items("items", in.Items),
		Total:     c.amount("total", in.Total),
		Currency:  c.currency("currency", in.Currency),
		CreatedAt: c.utcTime("createdAt", in.CreatedAt),
	}
	return out, c.err()
}

// DecodeStockReservation decodes and checks a stock.reservations value.
func DecodeStockReservation(raw []byte) (StockReservation, error) {
	return decodeStockReservation(raw, true)
}

// DecodeStockReservationTolerant is DecodeStockReservation for a tolerant reader: it skips
// members the contract does not name (a newer writer's optional fields),
// and checks the rest as strictly. Use it only on a record already checked
// against its writer's own schema (a framed record's schema id).
func DecodeStockReservationTolerant(raw []byte) (StockReservation, error) {
	return decodeStockReservation(raw, false)
}

func decodeStockReservation(raw []byte, strict bool) (StockReservation, error) {
	var in struct {
		OrderID   *string        `json:"orderId"`
		Result    *string        `json:"result"`
		Reason    jsontext.Value `json:"reason"`
		Items     *[]itemJSON    `json:"items"`
		Total     *float64       `json:"total"`
		Currency  *string        `json:"currency"`
		UpdatedAt *string        `json:"updatedAt"`
	}
	if err := decodeMembers(raw, &in, strict); err != nil {
		return StockReservation{}, err
	}
	var c checker
	out := StockReservation{
		OrderID:   c.uuid("orderId", in.OrderID),
		Result:    ReservationResult(c.oneOf("result", in.Result, string(Reserved), string(Rejected))),
		Items:     c.items("items", in.Items),
		Total:     c.amount("total", in.Total),
		Currency:  c.currency("currency", in.Currency),
		UpdatedAt: c.utcTime("updatedAt", in.UpdatedAt),
	}
	out.Reason = c.reasonWhen("reason", in.Reason, out.Result == Rejected, "result is REJECTED")
	return out, c.err()
}

// DecodeOrderStatus decodes and checks an orders.status value.
func DecodeOrderStatus(raw []byte) (OrderStatus, error) { return decodeOrderStatus(raw, true) }

// DecodeOrderStatusTolerant is DecodeOrderStatus for a tolerant reader: it skips
// members the contract does not name (a newer writer's optional fields),
// and checks the rest as strictly. Use it only on a record already checked
// against its writer's own schema (a framed record's schema id).
func DecodeOrderStatusTolerant(raw []byte) (OrderStatus, error) { return decodeOrderStatus(raw, false) }

func decodeOrderStatus(raw []byte, strict bool) (OrderStatus, error) {
	var in struct {
		OrderID     *string        `json:"orderId"`
		Status      *string        `json:"status"`
		Reason      jsontext.Value `json:"reason"`
		FailureKind jsontext.Value `json:"failureKind"`
		Seq         jsontext.Value `json:"seq"`
		UpdatedAt   *string        `json:"updatedAt"`
	}
	if err := decodeMembers(raw, &in, strict); err != nil {
		return OrderStatus{}, err
	}
	var c checker
	out := OrderStatus{
		OrderID:   c.uuid("orderId", in.OrderID),
		Status:    Status(c.oneOf("status", in.Status, string(StatusCreated), string(StatusProcessing), string(StatusPaid), string(StatusFailed))),
		UpdatedAt: c.utcTime("updatedAt", in.UpdatedAt),
	}
	out.Reason = c.reasonWhen("reason", in.Reason, out.Status == StatusFailed, "status is FAILED")
	out.FailureKind = FailureKind(c.optionalOneOf("failureKind", in.FailureKind, failureKindNames...))
	out.Seq = c.optionalWhole("seq", in.Seq, 1, maxSafe) // records written before it have none
	return out, c.err()
}

// DecodeInventoryUpdated decodes and checks an inventory.updated value.
func DecodeInventoryUpdated(raw []byte) (InventoryUpdated, error) {
	return decodeInventoryUpdated(raw, true)
}

// DecodeInventoryUpdatedTolerant is DecodeInventoryUpdated for a tolerant reader: it skips
// members the contract does not name (a newer writer's optional fields),
// and checks the rest as strictly. Use it only on a record already checked
// against its writer's own schema (a framed record's schema id).
func DecodeInventoryUpdatedTolerant(raw []byte) (InventoryUpdated, error) {
	return decodeInventoryUpdated(raw, false)
}

func decodeInventoryUpdated(raw []byte, strict bool) (InventoryUpdated, error) {
	var in struct {
		SKU         *string  `json:"sku"`
		Delta       *float64 `json:"delta"`
		NewQuantity *float64 `json:"newQuantity"`
		OrderID     *string  `json:"orderId"`
		UpdatedAt   *string  `json:"updatedAt"`
	}
	if err := decodeMembers(raw, &in, strict); err != nil {
		return InventoryUpdated{}, err
	}
	var c checker
	out := InventoryUpdated{
		SKU:         c.nonEmpty("sku", in.SKU),
		Delta:       c.whole("delta", in.Delta, -maxSafe, maxSafe),
		NewQuantity: c.whole("newQuantity", in.NewQuantity, 0, maxSafe),
		OrderID:     c.nonEmpty("orderId", in.OrderID),
		UpdatedAt:   c.utcTime("updatedAt", in.UpdatedAt),
	}
	if in.Delta != nil && out.Delta == 0 && c.ok("delta") {
		c.fail("delta", "must not be 0")
	}
	return out, c.err()
}

// failureKindNames are FailureKinds as the checker takes them.
var failureKindNames = func() []string {
	out := make([]string, len(FailureKinds))
	for i, k := range FailureKinds {
		out[i] = string(k)
	}
	return out
}()

// maxSafe is the largest whole number every JSON reader holds exactly
// (2^53-1, JavaScript's Number.MAX_SAFE_INTEGER): the schemas bound stock
// quantities by it.
const maxSafe = 1<<53 - 1

type itemJSON struct {
	SKU *string  `json:"sku"`
	Qty *float64 `json:"qty"`
}

// decodeMembers parses raw into v: one JSON object, names matched exactly,
// nothing after it, valid UTF-8, no name twice (RFC 8259 leaves the meaning
// of a repeated name to each parser, so a contract cannot rely on it) — and,
// strict, no member v does not name (the schemas say additionalProperties
// false: strict writers); not strict, such members are skipped (tolerant
// readers, which the compatibility gate's FORWARD_TRANSITIVE check is for).
func decodeMembers(raw []byte, v any, strict bool) error {
	err := json.Unmarshal(raw, v, json.RejectUnknownMembers(strict))
	if err != nil {
		return fmt.Errorf("not a valid record: %w", err)
	}
	return nil
}

// checker collects every problem of a record, each naming its field.
type checker struct {
	problems []string
	failed   map[string]bool
}

func (c *checker) fail(field, format string, args ...any) {
	if c.failed == nil {
		c.failed = map[string]bool{}
	}
	c.failed[field] = true
	c.problems = append(c.problems, field+": "+fmt.Sprintf(format, args...))
}

func (c *checker) ok(field string) bool { return !c.failed[field] }

func (c *checker) err() error {
	if len(c.problems) == 0 {
		return nil
	}
	return errors.New(strings.Join(c.problems, "; "))
}

func (c *checker) required(field string, present bool) bool {
	if !present {
		c.fail(field, "is required")
	}
	return present
}

func (c *checker) nonEmpty(field string, v *string) string {
	if !c.required(field, v != nil) {
		return ""
	}
	if *v == "" {
		c.fail(field, "must not be empty")
	}
	return *v
}

func (c *checker) uuid(field string, v *string) string {
	if !c.required(field, v != nil) {
		return ""
	}
	if !isUUID(*v) {
		c.fail(field, "must be a UUID, got %q", *v)
	}
	return *v
}

// isUUID checks the textual form the schema's "uuid" format asks for.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if ch != '-' {
				return false
			}
		case '0' <= ch && ch <= '9', 'a' <= ch && ch <= 'f', 'A' <= ch && ch <= 'F':
		default:
			return false
		}
	}
	return true
}

func (c *checker) oneOf(field string, v *string, allowed ...string) string {
	if !c.required(field, v != nil) {
		return ""
	}
	for _, a := range allowed {
		if *v == a {
			return *v
		}
	}
	c.fail(field, "must be one of %s, got %q", strings.Join(allowed, ", "), *v)
	return *v
}

// reasonWhen checks the schemas' rule for reason: a non-empty string,
// present exactly when the condition holds (a null is present, and not a
// string).
func (c *checker) reasonWhen(field string, raw jsontext.Value, needed bool, because string) string {
	present := len(raw) > 0
	var s string
	switch {
	case needed && !present:
		c.fail(field, "is required when %s", because)
	case !needed && present:
		c.fail(field, "is only allowed when %s", because)
	case present && (raw.Kind() != '"' || json.Unmarshal(raw, &s) != nil):
		c.fail(field, "must be a string, got %s", raw)
	case present && s == "":
		c.fail(field, "must not be empty")
	}
	return s
}

// optionalOneOf checks a member that may be absent (""): present, it is one
// of allowed, nothing else (a null is present, and not one of them; a value
// a later version adds is refused as unknown, as every member the contract
// does not name is).
func (c *checker) optionalOneOf(field string, raw jsontext.Value, allowed ...string) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if raw.Kind() != '"' || json.Unmarshal(raw, &s) != nil {
		c.fail(field, "must be one of %s, got %s", strings.Join(allowed, ", "), raw)
		return ""
	}
	return c.oneOf(field, &s, allowed...)
}

func (c *checker) currency(field string, v *string) string {
	if !c.required(field, v != nil) {
		return ""
	}
	s := *v
	if len(s) != 3 || strings.IndexFunc(s, func(r rune) bool { return r < 'A' || r > 'Z' }) >= 0 {
		c.fail(field, "must be three capital letters, got %q", s)
	}
	return s
}

// amount is a number of at least 0.
func (c *checker) amount(field string, v *float64) float64 {
	if !c.required(field, v != nil) {
		return 0
	}
	if *v < 0 {
		c.fail(field, "must be a number >= 0, got %g", *v)
	}
	return *v
}

// whole is an integer from lowest to highest. JSON Schema counts 2.0 as an
// integer, so this does too.
func (c *checker) whole(field string, v *float64, lowest, highest float64) int {
	if !c.required(field, v != nil) {
		return 0
	}
	f := *v
	if f != math.Trunc(f) || f < lowest || f > highest {
		c.fail(field, "must be a whole number from %.0f to %.0f, got %g", lowest, highest, f)
		return 0
	}
	return int(f)
}

// optionalWhole is whole for a member that may be absent (0 then); a null is
// present, and not a number.
func (c *checker) optionalWhole(field string, raw jsontext.Value, lowest, highest float64) int {
	if len(raw) == 0 {
		return 0
	}
	var f float64
	if raw.Kind() != '0' || json.Unmarshal(raw, &f) != nil {
		c.fail(field, "must be a whole number from %.0f to %.0f, got %s", lowest, highest, raw)
		return 0
	}
	return c.whole(field, &f, lowest, highest)
}

func (c *checker) items(field string, v *[]itemJSON) []Item {
	if !c.required(field, v != nil) {
		return nil
	}
	if len(*v) == 0 {
		c.fail(field, "must contain at least one item")
	}
	out := make([]Item, len(*v))
	for i, it := range *v {
		at := fmt.Sprintf("%s[%d]", field, i)
		out[i] = Item{SKU: c.nonEmpty(at+".sku", it.SKU), Qty: c.whole(at+".qty", it.Qty, 1, MaxQty)}
	}
	return out
}

// utcTime is an RFC 3339 date-time in UTC, written with a Z. RFC 3339
// allows a lower-case t between date and time; Go's parser does not.
func (c *checker) utcTime(field string, v *string) time.Time {
	if !c.required(field, v != nil) {
		return time.Time{}
	}
	text := *v
	if len(text) > 10 && text[10] == 't' {
		text = text[:10] + "T" + text[11:]
	}
	t, err := time.Parse(time.RFC3339Nano, text)
	if err != nil || !strings.HasSuffix(*v, "Z") {
		c.fail(field, "must be an RFC 3339 UTC time ending in Z, got %q", *v)
	}
	return t
}
