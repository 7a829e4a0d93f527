package registry_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/kafkakit/kit/harness/registry"
	"github.com/kafkakit/kit/services/events"
)

// shared is the one Apicurio Registry of this test binary: it takes about a
// minute to start on this machine, so its tests share it, each on subjects
// of its own.
var shared struct {
	once sync.Once
	reg  *registry.Apicurio
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.reg != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		_ = shared.reg.Close(ctx)
		cancel()
	}
	os.Exit(code)
}

// apicurio returns a client of the shared registry, starting it on first
// use, or skips with one loud line where Java or Maven is missing.
func apicurio(t *testing.T) *sr.Client {
	t.Helper()
	shared.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		start := time.Now()
		shared.reg, shared.err = registry.StartApicurio(ctx, registry.ApicurioOptions{Log: logTo()})
		switch {
		case shared.err == nil:
			fmt.Printf("Apicurio Registry answered on %s after %s\n", shared.reg.URL(), time.Since(start).Round(100*time.Millisecond))
		case errors.Is(shared.err, registry.ErrMissingTool):
			fmt.Printf("SKIP registry: NO SCHEMA REGISTRY HERE, the compatibility gate is not checked: %v\n", shared.err)
		}
	})
	if errors.Is(shared.err, registry.ErrMissingTool) {
		t.Skip(shared.err)
	}
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	cl, err := registry.NewClient(shared.reg.URL())
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// logTo shows the JVM's output with REGISTRY_LOG=1.
func logTo() io.Writer {
	if os.Getenv("REGISTRY_LOG") != "" {
		return os.Stderr
	}
	return nil
}

// uniqueSubject is a subject no other test uses.
func uniqueSubject(name string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "gate-" + name + "-" + hex.EncodeToString(b[:]) + "-value"
}

// edit returns orders.status v1 changed by f.
func edit(t *testing.T, f func(schema map[string]any)) []byte {
	t.Helper()
	versions, err := events.SchemaHistory(events.TopicOrdersStatus)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(versions[0].Schema, &doc); err != nil {
		t.Fatal(err)
	}
	f(doc)
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func props(doc map[string]any) map[string]any { return doc["properties"].(map[string]any) }

func TestGateRefusesBreakingChangesAndAcceptsOptionalFields(t *testing.T) {
	cl := apicurio(t)
	tests := []struct {
		name       string
		change     func(map[string]any)
		wantLevels []sr.CompatibilityLevel // the rules that refuse it; none: accepted
		wantField  string                  // what the refusal names
	}{
		{
			name: "an optional integer added (seq)",
			change: func(d map[string]any) {
				props(d)["seq"] = map[string]any{"type": "integer", "minimum": 0}
			},
		},
		{
			name: "an optional enum added (failureKind)",
			change: func(d map[string]any) {
				props(d)["failureKind"] = map[string]any{"enum": []any{"OUT_OF_STOCK", "PAYMENT_DECLINED"}}
			},
		},
		{
			name: "a required field removed",
			change: func(d map[string]any) {
				delete(props(d), "updatedAt")
				d["required"] = []any{"orderId", "status"}
			},
			wantLevels: []sr.CompatibilityLevel{registry.WriterLevel, registry.ReaderLevel},
			wantField:  "updatedAt: property removed (it was required)",
		},
		{
			name: "an enum narrowed",
			change: func(d map[string]any) {
				props(d)["status"] = map[string]any{"enum": []any{"CREATED", "PROCESSING", "PAID"}}
			},
			wantLevels: []sr.CompatibilityLevel{registry.WriterLevel},
			wantField:  "status: enum value FAILED removed",
		},
		{
			name: "an enum widened",
			change: func(d map[string]any) {
				props(d)["status"] = map[string]any{"enum": []any{"CREATED", "PROCESSING", "PAID", "FAILED", "SHIPPED"}}
			},
			wantLevels: []sr.CompatibilityLevel{registry.ReaderLevel},
			wantField:  "status: enum value SHIPPED added",
		},
		{
			name: "an optional field made required",
			change: func(d map[string]any) {
				d["required"] = []any{"orderId", "status", "updatedAt", "reason"}
			},
			wantLevels: []sr.CompatibilityLevel{registry.WriterLevel},
			wantField:  "reason: optional -> required",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			v1 := edit(t, func(map[string]any) {})
			h := registry.History{Subject: uniqueSubject("orders.status"), Versions: []events.SchemaVersion{
				{Version: 1, Schema: v1}, {Version: 2, Schema: edit(t, tt.change)}}}
			err := registry.Check(ctx, cl, []registry.History{h}, io.Discard)
			var got []sr.CompatibilityLevel
			for _, e := range unjoin(err) {
				var r *registry.Refusal
				if !errors.As(e, &r) {
					t.Fatalf("Check: %v, want only refusals", e)
				}
				got = append(got, r.Level)
				if r.Subject != h.Subject || r.Version != 2 {
					t.Errorf("refusal of %s v%d, want %s v2", r.Subject, r.Version, h.Subject)
				}
				if !strings.Contains(r.Error(), tt.wantField) {
					t.Errorf("refusal %q does not name the change %q", r.Error(), tt.wantField)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.wantLevels) {
				t.Fatalf("refused under %v, want %v (error: %v)", got, tt.wantLevels, err)
			}
		})
	}
}

// TestTheKitsContractsPassTheGate is `make test`'s gate: every published
// version of every kit subject, in order, then a current schema not yet
// published.
func TestTheKitsContractsPassTheGate(t *testing.T) {
	cl := apicurio(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	histories, err := registry.KitHistories()
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := registry.Check(ctx, cl, histories, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	t.Log(out.String())
	for _, h := range histories {
		versions, err := cl.SubjectVersions(ctx, h.Subject)
		if err != nil {
			t.Fatal(err)
		}
		if len(versions) != len(h.Versions) {
			t.Errorf("%s has versions %v in the registry, want %d", h.Subject, versions, len(h.Versions))
		}
	}
	subjects, err := cl.Subjects(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range subjects {
		if strings.HasSuffix(s, registry.ReaderSubjectSuffix) || strings.HasPrefix(s, "kit-schemas-probe-") {
			t.Errorf("scratch subject %s left in the registry", s)
		}
	}
}

func TestInProcessRegistryServesSchemasButChecksNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reg, err := registry.StartInProcess(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close(context.Background()) })
	cl, err := registry.NewClient(reg.URL())
	if err != nil {
		t.Fatal(err)
	}
	subject := uniqueSubject("inprocess")
	created, err := cl.CreateSchema(ctx, subject, sr.Schema{Schema: `{"type":"object"}`, Type: sr.TypeJSON})
	if err != nil {
		t.Fatal(err)
	}
	got, err := cl.SchemaByID(ctx, created.ID)
	if err != nil || got.Schema != `{"type":"object"}` {
		t.Fatalf("SchemaByID(%d) = %q, %v; want the registered schema", created.ID, got.Schema, err)
	}
	// The gate must not pass on a registry that checks nothing.
	err = registry.Check(ctx, cl, nil, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "does not check compatibility") {
		t.Fatalf("Check on the in-process registry: %v, want the probe to say it does not check compatibility", err)
	}
}

func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, unjoin(e)...)
		}
		return out
	}
	return []error{err}
}
