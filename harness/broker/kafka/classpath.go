package kafka

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/kafkakit/kit/harness/internal/maven"
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

// resolveClasspath returns the Java classpath of the jars pomPath depends on,
// cached in cacheDir under a hash of the pom (maven.Cached): editing the pom
// resolves again, and so does a cached classpath whose jars are gone (a
// wiped ~/.m2).
func resolveClasspath(ctx context.Context, pomPath, cacheDir string) (string, error) {
	cached, err := maven.Cached(ctx, pomPath, cacheDir, "classpath-%s.txt",
		func(out, _ string) []string {
			return []string{"dependency:build-classpath", "-Dmdep.outputFile=" + out}
		},
		func(path string) bool {
			cp, err := os.ReadFile(path)
			return err == nil && jarsExist(string(cp))
		})
	switch {
	case errors.Is(err, maven.ErrNoMaven):
		return "", fmt.Errorf("%w: %v; it resolves the Kafka jars once", ErrMissingTool, err)
	case err != nil:
		return "", fmt.Errorf("broker kafka: resolve jars with Maven (the first run downloads about 30 MB): %w", err)
	}
	cp, err := os.ReadFile(cached)
	if err != nil {
		return "", fmt.Errorf("broker kafka: read resolved classpath: %w", err)
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
