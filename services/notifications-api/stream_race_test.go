//go:build race

package main

import "testing"

func TestStreamMemoryNeedsABuildWithoutRace(t *testing.T) {
	t.Skip("NOT RUN under -race: the stream memory tests (stream_memory_test.go) measure stacks and heap, which the race detector inflates; run them without -race")
}
