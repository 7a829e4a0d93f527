package harness

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestBuildSharesOneSetOfBinaries checks that two processes' builds of the
// same sources are one set of binaries, linked rather than linked again by
// Go, and that removing one process's directory leaves the other's whole.
func TestBuildSharesOneSetOfBinaries(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	first, firstBins, err := build(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(first) })
	second, secondBins, err := build(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(second) })
	if first == second {
		t.Fatalf("both builds are in %s, want a directory per process", first)
	}
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cached, err := cachedBuild(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(first); err != nil {
		t.Fatal(err)
	}
	for _, name := range Services {
		if want := filepath.Join(second, name); secondBins[name] != want {
			t.Errorf("%s at %s, want %s", name, secondBins[name], want)
		}
		got, err := os.Stat(secondBins[name])
		if err != nil {
			t.Fatalf("%s, after the first build's directory was removed: %v", name, err)
		}
		if got.Mode()&0o111 == 0 {
			t.Errorf("%s: mode %v, want an executable", name, got.Mode())
		}
		shared, err := os.Stat(filepath.Join(cached, name))
		if err != nil {
			t.Fatal(err)
		}
		if !os.SameFile(got, shared) {
			t.Errorf("%s: %s is not the build cache's %s, want one set of binaries linked into each process's directory", name, secondBins[name], filepath.Join(cached, name))
		}
	}
	if firstBins[Services[0]] == secondBins[Services[0]] {
		t.Errorf("both builds gave %s", firstBins[Services[0]])
	}
}

// TestBuildTriesAgainAfterItsCallerGaveUp: a build whose caller's ctx
// ended failed every later Build of the process too (a test's two-minute
// deadline ran out during a slow link, and each later test of the binary
// failed at once with "context deadline exceeded").
func TestBuildTriesAgainAfterItsCallerGaveUp(t *testing.T) {
	buildMu.Lock()
	savedDir, savedBins := buildDir, buildBins
	buildDir, buildBins = "", nil
	buildMu.Unlock()
	t.Cleanup(func() {
		buildMu.Lock()
		defer buildMu.Unlock()
		if buildDir != "" && buildDir != savedDir {
			_ = os.RemoveAll(buildDir)
		}
		buildDir, buildBins = savedDir, savedBins
	})
	gaveUp, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Build(gaveUp); err == nil {
		t.Fatal("Build with its ctx done succeeded, want its error")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bins, err := Build(ctx)
	if err != nil {
		t.Fatalf("Build after a caller gave up: %v, want it built", err)
	}
	for _, name := range Services {
		if _, err := os.Stat(bins[name]); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestPruneBuildsKeepsTheMostRecentlyUsed checks the cache keeps the sets
// used last and drops builds abandoned long ago, but not one under way.
func TestPruneBuildsKeepsTheMostRecentlyUsed(t *testing.T) {
	cache := t.TempDir()
	now := time.Now()
	for name, age := range map[string]time.Duration{
		"aaaa":            3 * time.Hour,
		"bbbb":            time.Minute,
		"cccc":            2 * time.Hour,
		"dddd":            time.Second,
		"building-old":    2 * time.Hour,
		"building-recent": time.Minute,
	} {
		dir := filepath.Join(cache, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(dir, now.Add(-age), now.Add(-age)); err != nil {
			t.Fatal(err)
		}
	}
	pruneBuilds(cache, 2)
	entries, err := os.ReadDir(cache)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if want := []string{"bbbb", "building-recent", "dddd"}; !slices.Equal(got, want) {
		t.Errorf("left %v, want %v", got, want)
	}
}

// TestBuildReportsBrokenSourcesWithoutCompilingAgain: when the sources do
// not compile, the build cache's `go list -export` already said so, and
// Build compiled all four services a second time (`go build`) only to fail
// the same way — twice the wait before a test showed the compile error.
func TestBuildReportsBrokenSourcesWithoutCompilingAgain(t *testing.T) {
	shims := t.TempDir()
	calls := filepath.Join(shims, "calls")
	// A go command that fails as a compile error does, logging each call.
	script := "#!/bin/sh\necho \"$1\" >> " + calls + "\necho 'services/orders-api/main.go:1:1: syntax error' >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(shims, "go"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", shims)
	t.Setenv(BuildCacheVariable, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, _, err := build(ctx)
	if err == nil || !strings.Contains(err.Error(), "syntax error") {
		t.Fatalf("build = %v, want the compile error", err)
	}
	got, err := os.ReadFile(calls)
	if err != nil {
		t.Fatal(err)
	}
	if cmds := strings.Fields(string(got)); len(cmds) != 1 {
		t.Errorf("go ran %d times (%v), want once: broken sources fail the same way every time", len(cmds), cmds)
	}
}
