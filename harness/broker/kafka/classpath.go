package kafka

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/kafkakit/kit/harness/internal/child"
)

// defaultPomPath is the pom.xml next to this source file. The harness runs
// from the repository (go test, go run), so the file is there; a binary built
// elsewhere passes Options.PomPath.
func defaultPomPath() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("broker kafka: cannot locate pom.xml from the source path; set Options.PomPath")
	}
	return filepath.Join(filepath.Dir(file), "pom.xml"), nil
}

// defaultCacheDir keeps resolved classpaths outside the source tree, in the
// user's cache, so that only the first run on a machine invokes Maven.
func defaultCacheDir() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("broker kafka: no user cache dir (set Options.CacheDir): %w", err)
	}
	return filepath.Join(dir, "kafkakit", "broker-kafka"), nil
}

// resolveClasspath returns the Java classpath of the jars pomPath depends on.
// Maven is slow to start (seconds) and may download for a minute the first
// time, so the answer is cached in cacheDir under a hash of the pom: editing
// the pom resolves again, and so does a cached classpath whose jars are gone
// (a wiped ~/.m2).
func resolveClasspath(ctx context.Context, pomPath, cacheDir string) (string, error) {
	pom, err := os.ReadFile(pomPath)
	if err != nil {
		return "", fmt.Errorf("broker kafka: read pom: %w", err)
	}
	sum := sha256.Sum256(pom)
	cached := filepath.Join(cacheDir, "classpath-"+hex.EncodeToString(sum[:8])+".txt")
	if cp, err := os.ReadFile(cached); err == nil && jarsExist(string(cp)) {
		return strings.TrimSpace(string(cp)), nil
	}

	mvn, err := exec.LookPath("mvn")
	if err != nil {
		return "", fmt.Errorf("%w: mvn not found on PATH (install Maven: apt-get install maven); it resolves the Kafka jars once", ErrMissingTool)
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", fmt.Errorf("broker kafka: create cache dir: %w", err)
	}
	// Maven writes to a temporary name and the result is renamed into place,
	// so concurrent test binaries never read a half-written classpath.
	tmp, err := os.CreateTemp(cacheDir, "classpath-*.tmp")
	if err != nil {
		return "", fmt.Errorf("broker kafka: %w", err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name())

	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, mvn, "-B", "-q", "-Dstyle.color=never",
		"-f", pomPath, "dependency:build-classpath", "-Dmdep.outputFile="+tmp.Name())
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("broker kafka: resolve jars with Maven: %w (the first run downloads about 30 MB)", ctx.Err())
		}
		return "", fmt.Errorf("broker kafka: resolve jars with Maven: %w\n%s", err, child.LastLines(out.String(), 30))
	}
	cp, err := os.ReadFile(tmp.Name())
	if err != nil {
		return "", fmt.Errorf("broker kafka: read resolved classpath: %w", err)
	}
	if !jarsExist(string(cp)) {
		return "", fmt.Errorf("broker kafka: Maven produced an unusable classpath in %s", tmp.Name())
	}
	if err := os.Rename(tmp.Name(), cached); err != nil {
		return "", fmt.Errorf("broker kafka: cache classpath: %w", err)
	}
	return strings.TrimSpace(string(cp)), nil
}

// jarsExist reports whether cp names at least one jar and every one of them
// is on disk.
func jarsExist(cp string) bool {
	cp = strings.TrimSpace(cp)
	if cp == "" {
		return false
	}
	for _, jar := range filepath.SplitList(cp) {
		if _, err := os.Stat(jar); err != nil {
			return false
		}
	}
	return true
}
