// Package maven runs Maven once per pom to fetch what the harness's JVMs
// run — the Kafka brokers' classpath, Apicurio Registry's distribution —
// and caches the result outside the source tree, so that only the first run
// on a machine invokes Maven (slow to start, and it may download for a
// minute).
package maven

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

	"github.com/kafkakit/kit/harness/child"
)

// ErrNoMaven is returned by Cached when the result is not cached yet and
// mvn is not on PATH.
var ErrNoMaven = errors.New("mvn not found on PATH (install Maven: apt-get install maven)")

// Cached returns cacheDir/<name with %s the pom's hash>, producing it first
// when it is missing or valid says it is no longer usable (a wiped ~/.m2,
// a half-deleted directory): editing the pom produces it again. Maven runs
// as `mvn -B -q -f pomPath <args(out, scratch)...>`, writing to out (a file
// or a directory, which it creates) and anything else to the scratch
// directory; the result is renamed into place, so that concurrent test
// binaries never read a half-written one.
func Cached(ctx context.Context, pomPath, cacheDir, name string, args func(out, scratch string) []string, valid func(path string) bool) (string, error) {
	pom, err := os.ReadFile(pomPath)
	if err != nil {
		return "", fmt.Errorf("read pom: %w", err)
	}
	sum := sha256.Sum256(pom)
	cached := filepath.Join(cacheDir, fmt.Sprintf(name, hex.EncodeToString(sum[:8])))
	if valid(cached) {
		return cached, nil
	}
	mvn, err := exec.LookPath("mvn")
	if err != nil {
		return "", ErrNoMaven
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", fmt.Errorf("create cache dir: %w", err)
	}
	scratch, err := os.MkdirTemp(cacheDir, "mvn-*")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(scratch)
	out := filepath.Join(scratch, "out")

	var log bytes.Buffer
	cmd := exec.CommandContext(ctx, mvn, append([]string{"-B", "-q", "-Dstyle.color=never", "-f", pomPath}, args(out, scratch)...)...)
	cmd.Stdout = &log
	cmd.Stderr = &log
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("maven: %w", ctx.Err())
		}
		return "", fmt.Errorf("maven: %w\n%s", err, child.LastLines(log.String(), 30))
	}
	if !valid(out) {
		return "", fmt.Errorf("maven produced an unusable %s", out)
	}
	if err := os.Rename(out, cached); err != nil {
		// Another process may have put its result in place first.
		if valid(cached) {
			return cached, nil
		}
		return "", fmt.Errorf("cache %s: %w", cached, err)
	}
	return cached, nil
}
