package events

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

// Subject returns the schema registry subject of topic's record values,
// "<topic>-value" (the Confluent serializers' TopicNameStrategy, which every
// Kafka client with a registry serde knows).
func Subject(topic string) string { return topic + "-value" }

// SchemaVersion is one published version of a topic's value schema.
type SchemaVersion struct {
	// Version counts from 1 in the order the versions were published; it
	// is the registry's version of the subject when the history is
	// registered in order into an empty registry.
	Version int
	// Schema is the JSON Schema as published, byte for byte.
	Schema []byte
}

// history keeps every published version of every subject,
// schemas/history/<subject>/v<n>.json. The newest is the topic's current
// schema in Schemas (a test holds the two together), so a contract change
// is an edit of the schema plus a copy of it as the next version.
//
//go:embed schemas/history
var history embed.FS

// SchemaHistory returns every published version of topic's value schema,
// oldest first. The last one is the current schema, SchemaFile(topic).
func SchemaHistory(topic string) ([]SchemaVersion, error) {
	return readHistory(history, "schemas/history/"+Subject(topic))
}

// readHistory reads the versions in dir of fsys: files v1.json … vN.json,
// numbered without a gap and nothing else, so that a misnamed or missing
// version is an error rather than a version silently skipped.
func readHistory(fsys fs.FS, dir string) ([]SchemaVersion, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("schema history %s: %w", dir, err)
	}
	var versions []SchemaVersion
	for _, e := range entries {
		n, ok := versionNumber(e.Name())
		if !ok || e.IsDir() {
			return nil, fmt.Errorf("schema history %s: unexpected %q: a version is a file v<n>.json, n from 1", dir, e.Name())
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("schema history %s: %w", dir, err)
		}
		versions = append(versions, SchemaVersion{Version: n, Schema: b})
	}
	if len(versions) == 0 {
		return nil, fmt.Errorf("schema history %s: %w", dir, errNoVersions)
	}
	slices.SortFunc(versions, func(a, b SchemaVersion) int { return a.Version - b.Version })
	for i, v := range versions {
		if v.Version != i+1 {
			return nil, fmt.Errorf("schema history %s: v%d.json is missing (found v%d.json after it)", dir, i+1, v.Version)
		}
	}
	return versions, nil
}

var errNoVersions = errors.New("no versions (want v1.json at least)")

// versionNumber reads "v<n>.json" with n >= 1 written without leading zeros.
func versionNumber(name string) (int, bool) {
	digits, ok := strings.CutPrefix(name, "v")
	if !ok {
		return 0, false
	}
	if digits, ok = strings.CutSuffix(digits, ".json"); !ok {
		return 0, false
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n < 1 || strconv.Itoa(n) != digits {
		return 0, false
	}
	return n, true
}
