package maven

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeMaven puts an mvn on PATH that writes "made" to the path after
// -Dout= and counts its runs in a file; it returns that counter's path.
func fakeMaven(t *testing.T) string {
	t.Helper()
	bin := t.TempDir()
	runs := filepath.Join(t.TempDir(), "runs")
	script := `#!/bin/sh
echo run >> ` + runs + `
for a in "$@"; do
  case "$a" in -Dout=*) printf made > "${a#-Dout=}" ;; esac
done
`
	if err := os.WriteFile(filepath.Join(bin, "mvn"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin)
	return runs
}

func countRuns(t *testing.T, runs string) int {
	b, err := os.ReadFile(runs)
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "run")
}

func TestCachedRunsMavenOncePerPom(t *testing.T) {
	runs := fakeMaven(t)
	dir := t.TempDir()
	pom := filepath.Join(dir, "pom.xml")
	if err := os.WriteFile(pom, []byte("<project/>"), 0o644); err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(dir, "cache")
	args := func(out, _ string) []string { return []string{"-Dout=" + out} }
	valid := func(path string) bool { b, err := os.ReadFile(path); return err == nil && string(b) == "made" }
	ctx := context.Background()

	first, err := Cached(ctx, pom, cache, "thing-%s.txt", args, valid)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(filepath.Base(first), "thing-") || countRuns(t, runs) != 1 {
		t.Fatalf("first call: %s after %d Maven runs, want thing-<hash>.txt after 1", first, countRuns(t, runs))
	}
	if again, err := Cached(ctx, pom, cache, "thing-%s.txt", args, valid); err != nil || again != first || countRuns(t, runs) != 1 {
		t.Fatalf("second call: %s, %v after %d runs; want the cached %s and no run", again, err, countRuns(t, runs), first)
	}
	// A cached result no longer usable is produced again.
	if err := os.WriteFile(first, []byte("stale"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Cached(ctx, pom, cache, "thing-%s.txt", args, valid); err != nil || countRuns(t, runs) != 2 {
		t.Fatalf("after the result went stale: %v after %d runs, want a second run", err, countRuns(t, runs))
	}
	// Another pom is another result.
	if err := os.WriteFile(pom, []byte("<project><!-- v2 --></project>"), 0o644); err != nil {
		t.Fatal(err)
	}
	if other, err := Cached(ctx, pom, cache, "thing-%s.txt", args, valid); err != nil || other == first {
		t.Fatalf("after editing the pom: %s, %v; want a result of its own", other, err)
	}
	// Nothing but the results is left in the cache.
	entries, _ := os.ReadDir(cache)
	if len(entries) != 2 {
		t.Errorf("cache holds %d entries, want the 2 results", len(entries))
	}
	// Maven writing nothing usable is an error, and caches nothing.
	bad := func(out, _ string) []string { return []string{"-Dnothing"} }
	if _, err := Cached(ctx, pom, filepath.Join(dir, "cache2"), "x-%s", bad, valid); err == nil || !strings.Contains(err.Error(), "unusable") {
		t.Fatalf("Maven producing nothing: %v, want an error saying so", err)
	}
}

func TestCachedWithoutMaven(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	dir := t.TempDir()
	pom := filepath.Join(dir, "pom.xml")
	if err := os.WriteFile(pom, []byte("<project/>"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Cached(context.Background(), pom, dir, "x-%s", func(string, string) []string { return nil }, func(string) bool { return false })
	if !errors.Is(err, ErrNoMaven) {
		t.Fatalf("Cached without mvn: %v, want ErrNoMaven", err)
	}
}
