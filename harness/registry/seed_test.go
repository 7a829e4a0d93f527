package registry_test

import (
	"context"
	"testing"
	"time"

	"github.com/kafkakit/kit/harness/registry"
	"github.com/kafkakit/kit/services/events"
)

func TestSeedGivesEachSubjectTheRepositorysVersions(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reg, err := registry.StartInProcess(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close(context.Background()) })
	for range 2 { // seeding twice changes nothing
		if err := registry.Seed(ctx, reg.URL()); err != nil {
			t.Fatal(err)
		}
	}
	cl, err := registry.NewClient(reg.URL())
	if err != nil {
		t.Fatal(err)
	}
	for _, topic := range events.Topics {
		history, err := events.SchemaHistory(topic)
		if err != nil {
			t.Fatal(err)
		}
		versions, err := cl.SubjectVersions(ctx, events.Subject(topic))
		if err != nil || len(versions) != len(history) {
			t.Errorf("%s: got versions %v (%v), want %d", events.Subject(topic), versions, err, len(history))
		}
	}
}
