package stream

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/schemaid"
)

// fakeRegistry serves franz-go's in-process registry for one test, with
// orders.status's history registered in order (ids and versions as the
// harness registers them).
func fakeRegistry(t testing.TB) (*schemaid.Registry, *sr.Client, map[int]int) {
	t.Helper()
	srv := httptest.NewServer(srfake.NewRegistry().Handler())
	t.Cleanup(srv.Close)
	ids, err := schemaid.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := sr.NewClient(sr.URLs(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	history, err := events.SchemaHistory(events.TopicOrdersStatus)
	if err != nil {
		t.Fatal(err)
	}
	idOf := map[int]int{} // version -> id
	for _, v := range history {
		schema, err := events.RegistrySchema(v.Schema)
		if err != nil {
			t.Fatal(err)
		}
		got, err := cl.CreateSchema(t.Context(), events.Subject(events.TopicOrdersStatus), sr.Schema{Schema: string(schema), Type: sr.TypeJSON})
		if err != nil {
			t.Fatal(err)
		}
		idOf[v.Version] = got.ID
	}
	return ids, cl, idOf
}

const (
	statusV1 = `{"orderId":"5f0c7e0a-8d1e-4b8e-9a52-3c1f2f6f7a10","status":"FAILED","reason":"out of stock: BOOK-1","updatedAt":"2026-11-25T09:30:00Z"}`
	statusV3 = `{"orderId":"5f0c7e0a-8d1e-4b8e-9a52-3c1f2f6f7a10","status":"FAILED","reason":"out of stock: BOOK-1","failureKind":"OUT_OF_STOCK","seq":4,"updatedAt":"2026-11-25T09:30:00Z"}`
)

func TestFramedRouteChecksEachRecordAgainstItsWritersVersion(t *testing.T) {
	ids, cl, idOf := fakeRegistry(t)
	// A newer writer's v4 adds an optional member this build does not know.
	current, _ := events.Schemas.ReadFile(events.SchemaFile(events.TopicOrdersStatus))
	var doc map[string]any
	if err := json.Unmarshal(current, &doc); err != nil {
		t.Fatal(err)
	}
	doc["properties"].(map[string]any)["channel"] = map[string]any{"type": "string"}
	v4, _ := json.Marshal(doc)
	v4, err := events.RegistrySchema(v4)
	if err != nil {
		t.Fatal(err)
	}
	got, err := cl.CreateSchema(t.Context(), events.Subject(events.TopicOrdersStatus), sr.Schema{Schema: string(v4), Type: sr.TypeJSON})
	if err != nil {
		t.Fatal(err)
	}
	idOf[4] = got.ID
	otherSubject, err := ids.Register(t.Context(), events.TopicOrdersCreated)
	if err != nil {
		t.Fatal(err)
	}

	var seen []events.OrderStatus
	h, err := On(events.TopicOrdersStatus, func(_ context.Context, s events.OrderStatus) error {
		seen = append(seen, s)
		return nil
	}).bind(ids)
	if err != nil {
		t.Fatal(err)
	}
	withChannel := strings.Replace(statusV3, `"seq":4`, `"seq":4,"channel":"web"`, 1)
	for _, tc := range []struct {
		name      string
		value     []byte
		wantKind  events.FailureKind
		permanent string // "" accepted
	}{
		{"a v1 record", schemaid.Frame(idOf[1], []byte(statusV1)), "", ""},
		{"a record of this build's v3", schemaid.Frame(idOf[3], []byte(statusV3)), events.FailureOutOfStock, ""},
		{"a newer writer's v4 record, its new member skipped", schemaid.Frame(idOf[4], []byte(withChannel)), events.FailureOutOfStock, ""},
		{"a v3 record with a member v3 does not name", schemaid.Frame(idOf[3], []byte(withChannel)), "", "channel"},
		{"a v1 record with v3's members", schemaid.Frame(idOf[1], []byte(statusV3)), "", "writer's schema id"},
		{"unframed JSON", []byte(statusV3), "", "not framed"},
		{"an id the registry does not know", schemaid.Frame(9999, []byte(statusV3)), "", "not in the registry"},
		{"another contract's id", schemaid.Frame(otherSubject.ID, []byte(statusV3)), "", "not a version of orders.status-value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seen = nil
			err := h(t.Context(), kafka.Message{Topic: events.TopicOrdersStatus, Value: tc.value})
			if tc.permanent == "" {
				if err != nil || len(seen) != 1 {
					t.Fatalf("got %v (%d handled), want the record handled", err, len(seen))
				}
				if seen[0].OrderID != "5f0c7e0a-8d1e-4b8e-9a52-3c1f2f6f7a10" || seen[0].FailureKind != tc.wantKind {
					t.Errorf("got %+v, want the order FAILED with kind %q", seen[0], tc.wantKind)
				}
				return
			}
			if !IsPermanent(err) || !strings.Contains(err.Error(), tc.permanent) || len(seen) != 0 {
				t.Errorf("got %v (%d handled), want a permanent error naming %q and nothing handled", err, len(seen), tc.permanent)
			}
		})
	}
}

func TestFramedRouteRetriesWhileTheRegistryIsDown(t *testing.T) {
	srv := httptest.NewServer(srfake.NewRegistry().Handler())
	ids, err := schemaid.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
	h, err := On(events.TopicOrdersStatus, func(context.Context, events.OrderStatus) error { return nil }).bind(ids)
	if err != nil {
		t.Fatal(err)
	}
	err = h(t.Context(), kafka.Message{Topic: events.TopicOrdersStatus, Value: schemaid.Frame(1, []byte(statusV3))})
	if err == nil || IsPermanent(err) {
		t.Errorf("got %v, want a transient error (retried, not dead-lettered)", err)
	}
}
