package features

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/cucumber/godog"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/kafkakit/kit/harness"
	"github.com/kafkakit/kit/harness/registry"
	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/schemaid"
)

func contractSteps(sc *godog.ScenarioContext) {
	sc.When(`^someone writes an order status without its schema id to orders\.status$`, func(ctx context.Context) error {
		return the(ctx).injectStatus(ctx, func(v []byte) []byte { return v })
	})
	sc.When(`^someone writes an order status naming a schema the registry never issued to orders\.status$`, func(ctx context.Context) error {
		return the(ctx).injectStatus(ctx, func(v []byte) []byte { return schemaid.Frame(1<<31-1, v) })
	})
	sc.Then(`^it is set aside on orders\.status\.dlq by ([a-z-]+), saying (it carries no schema id|its schema is unknown)$`, setAsideSaying)
	sc.Then(`^a reader built on the first version of order statuses reads each of the order's statuses$`, firstVersionReader)
	sc.When(`^a team proposes order statuses (without their update time|without the status PAID|with an optional note)$`, proposeStatusChange)
	sc.Then(`^the schema registry refuses the change, naming (\w+)$`, registryRefused)
	sc.Then(`^the schema registry accepts the change$`, registryAccepted)
}

// injectStatus writes a valid order status, of an order nobody placed, as
// wire makes it of the JSON — without the services' producer.
func (w *world) injectStatus(ctx context.Context, wire func([]byte) []byte) error {
	value := []byte(fmt.Sprintf(`{"orderId":"%s","status":"CREATED","updatedAt":"2026-12-07T00:00:00Z"}`, uuidFor(w.token)))
	ctx, cancel := within(ctx)
	defer cancel()
	var err error
	if w.deadLetters[events.TopicOrdersStatus], err = w.kafka.Tail(ctx, events.DLQ(events.TopicOrdersStatus)); err != nil {
		return err
	}
	w.injected, err = w.kafka.ProduceRaw(ctx, events.TopicOrdersStatus, "no-contract-"+w.token, wire(value))
	return err
}

// uuidFor is a UUID unique to this scenario (the token's hex digits).
func uuidFor(token string) string {
	hex := strings.Map(func(r rune) rune {
		if strings.ContainsRune("0123456789abcdef", r) {
			return r
		}
		return -1
	}, token)
	hex = (hex + strings.Repeat("0", 32))[:32]
	return hex[:8] + "-" + hex[8:12] + "-" + hex[12:16] + "-" + hex[16:20] + "-" + hex[20:]
}

func setAsideSaying(ctx context.Context, group, saying string) error {
	if err := setAside(ctx, events.TopicOrdersStatus, group); err != nil {
		return err
	}
	w := the(ctx)
	recs := recordsFor(w.deadLetters[events.TopicOrdersStatus].Records(), w.injected.Key)
	want := map[string]string{"it carries no schema id": "not framed", "its schema is unknown": "not in the registry"}[saying]
	for _, r := range recs {
		if r.Headers[events.HeaderDLQConsumerGroup] == group {
			if got := r.Headers[events.HeaderDLQError]; !strings.Contains(got, want) {
				return fmt.Errorf("%s set the record aside saying %q, want it to say %q", group, got, want)
			}
			return nil
		}
	}
	return fmt.Errorf("%s set nothing aside", group)
}

// firstVersionReader reads the order's status records as a consumer built
// on orders.status v1 does: it resolves each record's schema id, checks the
// record against its writer's version, then against v1 as a tolerant reader
// (skipping members v1 does not know: seq, failureKind), and decodes the
// v1 fields. It also shows why tolerance is needed: v1 as written refuses
// today's records.
func firstVersionReader(ctx context.Context) error {
	w := the(ctx)
	ids, err := schemaid.New(w.stack.RegistryURL())
	if err != nil {
		return err
	}
	history, err := events.SchemaHistory(events.TopicOrdersStatus)
	if err != nil {
		return err
	}
	v1Strict, err := compileSchema(history[0].Schema)
	if err != nil {
		return err
	}
	open, err := registry.TolerantView(history[0].Schema)
	if err != nil {
		return err
	}
	v1Tolerant, err := compileSchema(open)
	if err != nil {
		return err
	}
	ctx, cancel := within(ctx)
	defer cancel()
	recs, err := w.statuses.WaitFor(ctx, func(recs []harness.Record) bool {
		for _, r := range recordsFor(recs, w.orderID) {
			var s struct{ Status events.Status }
			if json.Unmarshal(r.Value, &s) == nil && s.Status.Final() {
				return true
			}
		}
		return false
	})
	if err != nil {
		return err
	}
	type v1Status struct {
		OrderID   string `json:"orderId"`
		Status    string `json:"status"`
		Reason    string `json:"reason"`
		UpdatedAt string `json:"updatedAt"`
	}
	var read []string
	refusedAsWritten := false
	for _, r := range recordsFor(recs, w.orderID) {
		if r.SchemaID == 0 {
			return fmt.Errorf("status record at offset %d carries no schema id", r.Offset)
		}
		writer, err := ids.Resolve(ctx, r.SchemaID)
		if err != nil {
			return err
		}
		if writer.Version <= 1 {
			return fmt.Errorf("status record at offset %d was written with %s v%d: want a later version, to read it as v1", r.Offset, writer.Subject, writer.Version)
		}
		if err := writer.Validate(r.Value); err != nil {
			return fmt.Errorf("status record at offset %d breaks its writer's schema v%d: %w", r.Offset, writer.Version, err)
		}
		if err := validate(v1Tolerant, r.Value); err != nil {
			return fmt.Errorf("a v1 reader skipping unknown members refuses %s (written with v%d): %w", r.Value, writer.Version, err)
		}
		refusedAsWritten = refusedAsWritten || validate(v1Strict, r.Value) != nil
		var s v1Status
		if err := json.Unmarshal(r.Value, &s); err != nil || s.OrderID != w.orderID {
			return fmt.Errorf("a v1 reader decoded %s as %+v (%v)", r.Value, s, err)
		}
		read = append(read, s.Status)
	}
	if len(read) == 0 || !events.Status(read[len(read)-1]).Final() {
		return fmt.Errorf("the v1 reader read %v, want the statuses up to a final one", read)
	}
	if !refusedAsWritten {
		return errors.New("v1 as written accepted every record: they carry nothing v1 lacks, so this proves no tolerance")
	}
	return nil
}

func compileSchema(raw []byte) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("v1.json", doc); err != nil {
		return nil, err
	}
	return c.Compile("v1.json")
}

func validate(s *jsonschema.Schema, raw []byte) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	return s.Validate(v)
}

type proposalKey struct{}

// proposeStatusChange registers today's orders.status schema and a changed
// one as two versions of a scratch subject on the stack's registry, through
// the compatibility gate (registry.Check): what `kit schemas check` does
// when a pull request changes a contract.
func proposeStatusChange(ctx context.Context, change string) (context.Context, error) {
	w := the(ctx)
	current, err := events.Schemas.ReadFile(events.SchemaFile(events.TopicOrdersStatus))
	if err != nil {
		return ctx, err
	}
	var doc map[string]any
	if err := json.Unmarshal(current, &doc); err != nil {
		return ctx, err
	}
	props := doc["properties"].(map[string]any)
	switch change {
	case "without their update time":
		delete(props, "updatedAt")
		doc["required"] = []any{"orderId", "status"}
	case "without the status PAID":
		props["status"].(map[string]any)["enum"] = []any{"CREATED", "PROCESSING", "FAILED"}
	case "with an optional note":
		props["note"] = map[string]any{"type": "string", "maxLength": 200}
	}
	changed, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return ctx, err
	}
	cl, err := registry.NewClient(w.stack.RegistryURL())
	if err != nil {
		return ctx, err
	}
	subject := "proposal-" + w.token + "-value"
	ctx2, cancel := within(ctx)
	defer cancel()
	defer registry.DeleteSubject(context.WithoutCancel(ctx), cl, subject)
	var log strings.Builder
	verdict := registry.Check(ctx2, cl, []registry.History{{Subject: subject, Versions: []events.SchemaVersion{
		{Version: 1, Schema: current}, {Version: 2, Schema: changed},
	}}}, &log)
	var refusal *registry.Refusal
	if verdict != nil && !errors.As(verdict, &refusal) {
		return ctx, fmt.Errorf("the gate did not get a verdict: %w", verdict)
	}
	return context.WithValue(ctx, proposalKey{}, verdictOf{err: verdict}), nil
}

type verdictOf struct{ err error }

func registryRefused(ctx context.Context, field string) error {
	v, _ := ctx.Value(proposalKey{}).(verdictOf)
	if v.err == nil {
		return errors.New("the registry accepted the change")
	}
	if !strings.Contains(v.err.Error(), field) {
		return fmt.Errorf("the registry refused the change without naming %s: %v", field, v.err)
	}
	return nil
}

func registryAccepted(ctx context.Context) error {
	if v, _ := ctx.Value(proposalKey{}).(verdictOf); v.err != nil {
		return fmt.Errorf("the registry refused an optional field: %w", v.err)
	}
	return nil
}
