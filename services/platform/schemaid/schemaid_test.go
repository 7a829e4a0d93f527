package schemaid_test

import (
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/schemaid"
)

func TestFrameAndSplit(t *testing.T) {
	framed := schemaid.Frame(258, []byte(`{}`))
	if want := []byte{0, 0, 0, 1, 2, '{', '}'}; string(framed) != string(want) {
		t.Fatalf("got % x, want % x", framed, want)
	}
	id, payload, err := schemaid.Split(framed)
	if err != nil || id != 258 || string(payload) != `{}` {
		t.Errorf("got %d %q %v, want 258 {} nil", id, payload, err)
	}
	for _, bad := range [][]byte{nil, []byte(`{"a":1}`), {0, 0, 1}} {
		if _, _, err := schemaid.Split(bad); err == nil {
			t.Errorf("Split(%q): got no error, want not framed", bad)
		}
	}
}

func TestHistoryThenCurrentKeepsTheRepositorysVersions(t *testing.T) {
	srv := httptest.NewServer(srfake.NewRegistry().Handler())
	t.Cleanup(srv.Close)
	reg, err := schemaid.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	history, _ := events.SchemaHistory(events.TopicOrdersStatus)
	seeded, err := reg.RegisterHistory(t.Context(), events.TopicOrdersStatus)
	if err != nil {
		t.Fatal(err)
	}
	if seeded.Version != len(history) {
		t.Errorf("got version %d, want %d (the history's newest)", seeded.Version, len(history))
	}
	// A producer starting later looks its schema up: same id.
	framer := schemaid.NewFramer(reg, events.TopicOrdersStatus)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			framed, err := framer.Frame(t.Context(), events.TopicOrdersStatus, []byte(`{}`))
			if id, _, _ := schemaid.Split(framed); err != nil || id != seeded.ID {
				t.Errorf("got id %d (%v), want %d", id, err, seeded.ID)
			}
		}()
	}
	wg.Wait()
	// A reader resolving a fresh client sees subject, version and that it is current.
	other, _ := schemaid.New(srv.URL)
	s, err := other.Resolve(t.Context(), seeded.ID)
	if err != nil || s.Subject != "orders.status-value" || s.Version != len(history) || !s.Current {
		t.Errorf("got %+v %v, want orders.status-value v%d, current", s, err, len(history))
	}
	if _, err := framer.Frame(t.Context(), events.TopicOrdersCreated, []byte(`{}`)); err == nil {
		t.Error("framed a topic the producer does not write")
	}
}

func TestFramerIsNotReadyWhileTheRegistryIsDown(t *testing.T) {
	srv := httptest.NewServer(srfake.NewRegistry().Handler())
	reg, err := schemaid.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
	framer := schemaid.NewFramer(reg, events.TopicOrdersCreated)
	err = framer.Ready(t.Context())
	if err == nil || !strings.Contains(err.Error(), "orders.created-value") || !strings.Contains(err.Error(), srv.URL) {
		t.Errorf("Ready: got %v, want an error naming the subject and the registry", err)
	}
	if framed, err := framer.Frame(t.Context(), events.TopicOrdersCreated, []byte(`{}`)); err == nil {
		t.Errorf("framed %q with no registry, want nothing produced", framed)
	}
}
