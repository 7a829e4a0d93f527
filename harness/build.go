package harness

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

var (
	buildMu   sync.Mutex
	buildDir  string
	buildBins map[string]string
)

// Build returns name -> binary path of the four services, built once per
// process into a directory of its own, so a later build never overwrites a
// binary this process is running. RemoveBuild deletes that directory.
//
// Linking the four binaries costs about 15 CPU-seconds even with Go's build
// cache warm, and `make test` starts a stack in about ten test binaries, so
// the linked binaries are kept too, in BuildCacheDir(), one directory per
// key that changes with any source file, go.mod or the Go version they are
// built from. Every process after the first hard-links them from there (see
// buildKey).
//
// A build that failed is tried again by the next call: it may have failed
// only because its caller's ctx ended, which says nothing of the next one's.
func Build(ctx context.Context) (map[string]string, error) {
	buildMu.Lock()
	defer buildMu.Unlock()
	if buildBins != nil {
		return buildBins, nil
	}
	dir, bins, err := build(ctx)
	if err != nil {
		return nil, err
	}
	buildDir, buildBins = dir, bins
	return bins, nil
}

// RemoveBuild deletes the binaries Build made; call it when the process is
// done with every stack. The shared copies stay for the next process.
func RemoveBuild() error {
	buildMu.Lock()
	defer buildMu.Unlock()
	if buildDir == "" {
		return nil
	}
	// A later Build links them again rather than return removed paths.
	dir := buildDir
	buildDir, buildBins = "", nil
	return os.RemoveAll(dir)
}

// BuildCacheVariable, when set, is the directory Build keeps the shared
// binaries in instead of os.UserCacheDir()/kafkakit/services: for a test that
// moves the user's cache directory (XDG_CACHE_HOME) but should still share
// them.
const BuildCacheVariable = "KAFKAKIT_BUILD_CACHE"

// BuildCacheDir is where Build keeps the shared binaries.
func BuildCacheDir() (string, error) {
	if dir := os.Getenv(BuildCacheVariable); dir != "" {
		return dir, nil
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "kafkakit", "services"), nil
}

// keptBuilds is how many sets of binaries the cache keeps, the most
// recently used: one per worktree or branch being tested on the machine.
const keptBuilds = 6

// servicePackages are the import paths Build compiles, in Services order.
func servicePackages() []string {
	pkgs := make([]string, len(Services))
	for i, name := range Services {
		pkgs[i] = "github.com/kafkakit/kit/services/" + name
	}
	return pkgs
}

func build(ctx context.Context) (string, map[string]string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp("", "kafkakit-bin-*")
	if err != nil {
		return "", nil, err
	}
	bins := map[string]string{}
	for _, name := range Services {
		bins[name] = filepath.Join(dir, name)
	}
	// The shared copy is only a shortcut: whatever goes wrong with it
	// (no cache dir, another process pruning it, a file system without
	// hard links), the binaries are built here as before.
	// Only sources that do not compile (or a ctx that ended) are final: the
	// key's `go list -export` compiled them already and building again would
	// fail the same way, after as long again.
	cached, err := cachedBuild(ctx, root)
	var unbuildable *sourcesError
	if errors.As(err, &unbuildable) {
		os.RemoveAll(dir)
		return "", nil, err
	}
	if err == nil && linkAll(cached, dir) == nil {
		return dir, bins, nil
	}
	if err := goBuild(ctx, root, dir); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return dir, bins, nil
}

// goBuild builds the four services into dir.
func goBuild(ctx context.Context, root, dir string) error {
	args := append([]string{"build", "-o", dir + string(filepath.Separator)}, servicePackages()...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build services: %w\n%s", err, out)
	}
	return nil
}

// buildKey names the services' binaries as the sources in root would build
// them. `go list -export` compiles each main package (from Go's build cache
// when warm: well under a CPU-second) and names its compiled file, which the
// cache keys by a hash of its own sources and of every dependency's compiled
// output, each carrying its own sources' hash in turn, plus the Go version and
// the build settings: a change to any file that goes into a binary changes
// the key. Linking adds nothing else: the binaries are built with no flags
// and nothing reads their VCS stamp.
func buildKey(ctx context.Context, root string) (string, error) {
	args := append([]string{"list", "-export", "-f", "{{.ImportPath}} {{.Export}}"}, servicePackages()...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return "", &sourcesError{fmt.Errorf("build services: %w\n%s", err, exit.Stderr)}
		}
		return "", fmt.Errorf("key the services' build: %w", err)
	}
	sum := sha256.Sum256(out)
	return hex.EncodeToString(sum[:12]), nil
}

// sourcesError is the go command refusing the services' sources: a compile
// error, or its ctx ending.
type sourcesError struct{ err error }

func (e *sourcesError) Error() string { return e.err.Error() }
func (e *sourcesError) Unwrap() error { return e.err }

// cachedBuild returns the shared directory holding the binaries for the
// sources in root, building them into it first when no process has. A set is
// built into a directory of its own and renamed into place whole, so no
// process ever sees half of one, and is never written again.
func cachedBuild(ctx context.Context, root string) (string, error) {
	key, err := buildKey(ctx, root)
	if err != nil {
		return "", err
	}
	cache, err := BuildCacheDir()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", err
	}
	dir := filepath.Join(cache, key)
	if _, err := os.Stat(dir); err == nil {
		// Its time is when it was last used, for pruneBuilds.
		now := time.Now()
		_ = os.Chtimes(dir, now, now)
		return dir, nil
	}
	tmp, err := os.MkdirTemp(cache, "building-*")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp) // empty once renamed
	if err := goBuild(ctx, root, tmp); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		// Another process finished the same build first: use its copy.
		if _, statErr := os.Stat(dir); statErr != nil {
			return "", err
		}
	}
	pruneBuilds(cache, keptBuilds)
	return dir, nil
}

// linkAll hard-links the four binaries of from into to (copying where the
// file system cannot link), so that pruning from never removes a binary a
// process still runs or restarts.
func linkAll(from, to string) error {
	for _, name := range Services {
		src, dst := filepath.Join(from, name), filepath.Join(to, name)
		if err := os.Link(src, dst); err != nil {
			if err := copyFile(src, dst); err != nil {
				return fmt.Errorf("take %s from the build cache: %w", name, err)
			}
		}
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// pruneBuilds removes all but the keep most recently used sets of binaries
// in cache, and builds abandoned for an hour (a process killed mid-build).
// Processes using a removed set keep their hard links.
func pruneBuilds(cache string, keep int) {
	entries, err := os.ReadDir(cache)
	if err != nil {
		return
	}
	type set struct {
		path string
		used time.Time
	}
	var sets []set
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !e.IsDir() {
			continue
		}
		path := filepath.Join(cache, e.Name())
		if matched, _ := filepath.Match("building-*", e.Name()); matched {
			if time.Since(info.ModTime()) > time.Hour {
				_ = os.RemoveAll(path)
			}
			continue
		}
		sets = append(sets, set{path, info.ModTime()})
	}
	slices.SortFunc(sets, func(a, b set) int { return b.used.Compare(a.used) })
	for _, s := range sets[min(keep, len(sets)):] {
		_ = os.RemoveAll(s.path)
	}
}
