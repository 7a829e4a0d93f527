package deploy

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// composeFile is the repository's docker-compose.yml, through a link in
// testdata for the same reason as servicesDir. harness/deploy checks the
// rest of it with compose's own loader; this test holds its environment to
// the services' source, which lives here.
var composeFile = filepath.Join("testdata", "docker-compose.yml")

// Every variable compose gives a service is one the service reads: a
// misspelt name would otherwise be ignored and the default silently used.
func TestComposeEnvironmentIsReadByTheServices(t *testing.T) {
	raw, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	// YAML merge keys (<<) resolve here as in compose; interpolation does
	// not matter, only the names.
	var f struct {
		Services map[string]struct {
			Build *struct {
				Dockerfile string `json:"dockerfile"`
			} `json:"build"`
			Environment map[string]any `json:"environment"`
		} `json:"services"`
	}
	if err := yaml.Unmarshal(raw, &f); err != nil {
		t.Fatalf("%s: %v", composeFile, err)
	}
	services := kitServices(t)
	checked := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(f.Services)) {
		s := f.Services[name]
		if s.Build == nil {
			continue
		}
		dir := filepath.Base(filepath.Dir(s.Build.Dockerfile))
		if !strings.HasPrefix(s.Build.Dockerfile, "services/") || !slices.Contains(services, dir) {
			continue
		}
		checked[dir] = true
		reader := newEnvReader(t, dir)
		for key := range s.Environment {
			if !reader.reads(key) {
				t.Errorf("compose service %s sets %s, which %s never reads", name, key, dir)
			}
		}
	}
	for _, name := range services {
		if !checked[name] {
			t.Errorf("compose builds no service from services/%s/Dockerfile", name)
		}
	}
}
