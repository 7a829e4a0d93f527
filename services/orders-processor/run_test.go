package main

import (
	"path/filepath"
	"testing"

	"github.com/kafkakit/kit/services/platform/svc/runtest"
)

// TestRunServesUntilItsContextEnds starts the real entry point, as main
// does, on an embedded broker and a fresh SQLite file: it turns ready
// (topics, consumer group joined, database, outbox, schemas), and ends
// cleanly when its context does.
func TestRunServesUntilItsContextEnds(t *testing.T) {
	env := runtest.Kit(t)
	env["DB_DSN"] = filepath.Join(t.TempDir(), "orders-processor.db")
	s := runtest.Start(t, run, "orders-processor", env)
	s.WaitReady(t)
	if err := s.Stop(t); err != nil {
		t.Errorf("run returned %v after its context ended, want nil", err)
	}
}
