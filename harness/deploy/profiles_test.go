package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/distribution/reference"
	"go.yaml.in/yaml/v3"

	"github.com/kafkakit/kit/harness"
)

// secondInstances are the scaled profile's second orders-api,
// stock-service and orders-processor, and stateful maps each service that keeps state to its
// second instance and to the variable its DB_DSN comes from.
var (
	secondInstances = []string{"orders-api-2", "stock-service-2", "orders-processor-2"}
	stateful        = []struct{ first, second, dsnVar string }{
		{harness.OrdersAPI, "orders-api-2", "ORDERS_DB_DSN"},
		{harness.StockService, "stock-service-2", "STOCK_DB_DSN"},
		{harness.OrdersProcessor, "orders-processor-2", "PROCESSOR_DB_DSN"},
	}
)

// profileServices are the services that only a profile starts.
var profileServices = map[string][]string{
	"postgres":           {"scaled"},
	"scaled-check":       {"scaled"},
	"orders-api-2":       {"scaled"},
	"stock-service-2":    {"scaled"},
	"orders-processor-2": {"scaled"},
	"prometheus":         {"observability"},
	"kafka-certs":        {"secure"},
	"grafana":            {"observability"},
}

// `docker compose up` without a profile runs the guide's stack and nothing
// else: no PostgreSQL, no second instances, no Prometheus or Grafana.
func TestComposeDefaultStackRunsNoProfileService(t *testing.T) {
	p := loadProject(t)
	all := loadAllProfiles(t)
	for _, name := range slices.Sorted(maps.Keys(profileServices)) {
		if _, ok := p.Services[name]; ok {
			t.Errorf("%s runs without a profile; want it only under %v", name, profileServices[name])
		}
		if got := service(t, all, name).Profiles; !slices.Equal(got, profileServices[name]) {
			t.Errorf("%s profiles %v; want %v", name, got, profileServices[name])
		}
	}
}

// createdDatabases returns the databases deploy/postgres/initdb creates.
func createdDatabases(t *testing.T) []string {
	t.Helper()
	dir := filepath.Join(repoRoot, "deploy", "postgres", "initdb")
	files, err := filepath.Glob(filepath.Join(dir, "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no *.sql in %s (%v)", dir, err)
	}
	create := regexp.MustCompile(`(?im)^\s*CREATE\s+DATABASE\s+([a-z_][a-z0-9_]*)\s*;`)
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range create.FindAllStringSubmatch(string(b), -1) {
			out = append(out, m[1])
		}
	}
	return out
}

// The scaled profile, as the README runs it: both instances of each service
// that keeps state share one PostgreSQL database, the password they use is
// the one PostgreSQL was given, and the second instances are published on
// the harness's SCALE=2 ports.
func TestComposeScaledProfileSharesPostgreSQL(t *testing.T) {
	p := loadScaled(t)
	pg := service(t, p, "postgres")
	user, password := env(pg, "POSTGRES_USER"), env(pg, "POSTGRES_PASSWORD")
	if user == "" || password == "" {
		t.Fatalf("postgres: POSTGRES_USER %q, POSTGRES_PASSWORD %q; want both set", user, password)
	}
	databases := createdDatabases(t)

	initdb, err := filepath.Abs(filepath.Join(repoRoot, "deploy", "postgres", "initdb"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(pg.Volumes, func(v types.ServiceVolumeConfig) bool {
		return v.Type == types.VolumeTypeBind && v.Source == initdb && v.Target == "/docker-entrypoint-initdb.d" && v.ReadOnly
	}) {
		t.Errorf("postgres volumes %+v; want %s mounted read-only at /docker-entrypoint-initdb.d", pg.Volumes, initdb)
	}

	usedDB := map[string]string{}
	for _, tc := range stateful {
		t.Run(tc.first, func(t *testing.T) {
			first, second := service(t, p, tc.first), service(t, p, tc.second)
			dsn := env(first, "DB_DSN")
			if got := env(second, "DB_DSN"); got != dsn {
				t.Errorf("%s DB_DSN %q, %s DB_DSN %q; want one database for both", tc.first, dsn, tc.second, got)
			}
			u, err := url.Parse(dsn)
			if err != nil {
				t.Fatalf("DB_DSN %q: %v", dsn, err)
			}
			gotPassword, _ := u.User.Password()
			db := strings.TrimPrefix(u.Path, "/")
			for _, c := range []struct{ what, got, want string }{
				{"scheme", u.Scheme, "postgres"},
				{"host", u.Host, "postgres:5432"},
				{"user", u.User.Username(), user},
				{"password", gotPassword, password},
			} {
				if c.got != c.want {
					t.Errorf("DB_DSN %q: %s %q; want %q", dsn, c.what, c.got, c.want)
				}
			}
			if !slices.Contains(databases, db) {
				t.Errorf("DB_DSN %q: database %q is not created by deploy/postgres/initdb (creates %v)", dsn, db, databases)
			}
			if other, ok := usedDB[db]; ok {
				t.Errorf("database %q is used by %s too; want one per service", db, other)
			}
			usedDB[db] = tc.first

			if _, ok := first.DependsOn["postgres"]; !ok {
				t.Errorf("%s does not wait for postgres", tc.first)
			}
			if got, want := second.Image, first.Image; got != want {
				t.Errorf("%s image %q; want %q, the first instance's", tc.second, got, want)
			}
			if got, want := env(second, "HTTP_ADDR"), env(first, "HTTP_ADDR"); got != want {
				t.Errorf("%s HTTP_ADDR %q; want %q, the first instance's", tc.second, got, want)
			}
			for _, v := range second.Volumes {
				if v.Source != kafkaSecretsVolume || !v.ReadOnly {
					t.Errorf("%s volume %s:%s; want none but the secure profile's %s, read-only (its state is in PostgreSQL)", tc.second, v.Source, v.Target, kafkaSecretsVolume)
				}
			}
			port := harness.DefaultPorts[tc.first]
			var published []string
			for _, pc := range second.Ports {
				published = append(published, fmt.Sprintf("%s:%d", pc.Published, pc.Target))
			}
			if want := []string{fmt.Sprintf("%d:%d", port+100, port)}; !slices.Equal(published, want) {
				t.Errorf("%s ports %v; want %v (the second instance's port, as `make up SCALE=2` has it)", tc.second, published, want)
			}
		})
	}
}

// scaled-check refuses the scaled profile unless the DSNs are PostgreSQL
// ones; it must look at exactly what the services are given.
func TestComposeScaledCheckSeesTheServicesDSNs(t *testing.T) {
	for _, load := range []struct {
		name string
		p    *types.Project
	}{
		{"without the env file", loadAllProfiles(t)},
		{"with deploy/compose/scaled.env", loadScaled(t)},
	} {
		t.Run(load.name, func(t *testing.T) {
			check := service(t, load.p, "scaled-check")
			script := strings.Join(check.Command, "\n")
			for _, tc := range stateful {
				if got, want := env(check, tc.dsnVar), env(service(t, load.p, tc.first), "DB_DSN"); got != want {
					t.Errorf("scaled-check %s = %q; want %q, %s's DB_DSN", tc.dsnVar, got, want, tc.first)
				}
				if !strings.Contains(script, "$"+tc.dsnVar) {
					t.Errorf("scaled-check's script does not look at $%s:\n%s", tc.dsnVar, script)
				}
			}
			if !strings.Contains(script, "postgres://") || !strings.Contains(script, "exit 1") {
				t.Errorf("scaled-check's script does not refuse a DSN other than postgres://:\n%s", script)
			}
		})
	}
	// Without the env file the services run on SQLite, which scaled-check
	// must refuse.
	p := loadAllProfiles(t)
	for _, tc := range stateful {
		if dsn := env(service(t, p, tc.first), "DB_DSN"); strings.HasPrefix(dsn, "postgres://") {
			t.Errorf("%s DB_DSN %q by default; want SQLite unless the scaled env file says otherwise", tc.first, dsn)
		}
	}
}

// adminServices have admin endpoints (stock-service POST /seed,
// notifications-api's unfiltered GET /flow), so compose gives them
// ADMIN_TOKEN.
var adminServices = []string{harness.StockService, harness.NotificationsAPI, "stock-service-2"}

func TestComposeAdminTokenComesFromTheEnvironment(t *testing.T) {
	byDefault := loadAllProfiles(t)
	fromEnv := loadProject(t, cli.WithProfiles([]string{"*"}), cli.WithEnv([]string{"ADMIN_TOKEN=set-by-the-operator"}))
	var defaults []string
	for _, name := range adminServices {
		def := env(service(t, byDefault, name), "ADMIN_TOKEN")
		if def == "" {
			t.Errorf("%s: ADMIN_TOKEN empty when unset; want a documented default for local use", name)
		}
		defaults = append(defaults, def)
		if got := env(service(t, fromEnv, name), "ADMIN_TOKEN"); got != "set-by-the-operator" {
			t.Errorf("%s: ADMIN_TOKEN %q with ADMIN_TOKEN=set-by-the-operator in the environment; want that value", name, got)
		}
	}
	if len(slices.Compact(slices.Clone(defaults))) > 1 {
		t.Errorf("ADMIN_TOKEN defaults %v; want one default for every service", defaults)
	}
}

// mountedFile returns the host path of the file a container sees at path,
// through the service's read-only bind mounts.
func mountedFile(t *testing.T, s types.ServiceConfig, path string) string {
	t.Helper()
	for _, v := range s.Volumes {
		rel, err := filepath.Rel(v.Target, path)
		if err != nil || strings.HasPrefix(rel, "..") {
			continue
		}
		if v.Type != types.VolumeTypeBind || !v.ReadOnly {
			t.Errorf("%s: %s comes from %s mount %s:%s (read-only %v); want a read-only bind mount of the repository's file", s.Name, path, v.Type, v.Source, v.Target, v.ReadOnly)
		}
		host := filepath.Join(v.Source, rel)
		if _, err := os.Stat(host); err != nil {
			t.Errorf("%s: %s is %s on the host: %v", s.Name, path, host, err)
		}
		return host
	}
	t.Errorf("%s: nothing is mounted at %s (volumes %+v)", s.Name, path, s.Volumes)
	return ""
}

// prometheusConfig is what the checks need from prometheus.yml.
type prometheusConfig struct {
	RuleFiles     []string `yaml:"rule_files"`
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		MetricsPath   string `yaml:"metrics_path"`
		StaticConfigs []struct {
			Targets []string `yaml:"targets"`
		} `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
}

func TestComposeObservabilityProfile(t *testing.T) {
	p := loadProject(t, cli.WithProfiles([]string{"observability"}))
	prom, grafana := service(t, p, "prometheus"), service(t, p, "grafana")
	checkPublished(t, prom, 9090)
	checkPublished(t, grafana, 3000)

	var configPath string
	for _, arg := range prom.Command {
		if v, ok := strings.CutPrefix(arg, "--config.file="); ok {
			configPath = v
		}
	}
	if configPath == "" {
		t.Fatalf("prometheus command %q; want --config.file=…", prom.Command)
	}
	hostConfig := mountedFile(t, prom, configPath)
	if hostConfig == "" {
		return
	}
	raw, err := os.ReadFile(hostConfig)
	if err != nil {
		t.Fatal(err)
	}
	var cfg prometheusConfig
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatalf("%s: %v", hostConfig, err)
	}
	for _, rf := range cfg.RuleFiles {
		mountedFile(t, prom, filepath.Join(filepath.Dir(configPath), rf))
	}

	// Every instance of every kit service, the scaled profile's included,
	// is scraped at its compose name and container port by the job named
	// after the service (so `job` says which service a series is from).
	all := loadAllProfiles(t)
	for _, name := range slices.Sorted(maps.Keys(all.Services)) {
		s := all.Services[name]
		base := strings.TrimSuffix(name, "-2")
		port, ok := harness.DefaultPorts[base]
		if !ok || s.Build == nil {
			continue
		}
		target := fmt.Sprintf("%s:%d", name, port)
		found := false
		for _, sc := range cfg.ScrapeConfigs {
			for _, st := range sc.StaticConfigs {
				if slices.Contains(st.Targets, target) {
					found = true
					if sc.JobName != base {
						t.Errorf("target %s is in job %q; want job %q", target, sc.JobName, base)
					}
					if sc.MetricsPath != "" && sc.MetricsPath != "/metrics" {
						t.Errorf("job %s metrics_path %q; want /metrics", sc.JobName, sc.MetricsPath)
					}
				}
			}
		}
		if !found {
			t.Errorf("prometheus.yml does not scrape %s (%s)", target, name)
		}
	}

	// Grafana reads its provisioning and the dashboard from the repository,
	// and its datasource is the compose Prometheus.
	var provisioning struct {
		Datasources []struct {
			URL string `yaml:"url"`
		} `yaml:"datasources"`
		Providers []struct {
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	for _, file := range []string{"datasources/prometheus.yml", "dashboards/kafkakit.yml"} {
		host := mountedFile(t, grafana, filepath.Join("/etc/grafana/provisioning", file))
		if host == "" {
			continue
		}
		raw, err := os.ReadFile(host)
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(raw, &provisioning); err != nil {
			t.Fatalf("%s: %v", host, err)
		}
	}
	for _, ds := range provisioning.Datasources {
		if want := "http://prometheus:9090"; ds.URL != want {
			t.Errorf("grafana datasource url %q; want %q, the compose Prometheus", ds.URL, want)
		}
	}
	for _, pr := range provisioning.Providers {
		mountedFile(t, grafana, pr.Options.Path)
	}
	if home := env(grafana, "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"); home == "" {
		t.Error("grafana: GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH unset; want the kit's dashboard as the home page")
	} else {
		mountedFile(t, grafana, home)
	}
}

// k8sDocuments decodes every YAML document of a file under deploy/k8s.
func k8sDocuments(t *testing.T, name string) []map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "k8s", name))
	if err != nil {
		t.Fatal(err)
	}
	var docs []map[string]any
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	for {
		var doc map[string]any
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("deploy/k8s/%s: %v", name, err)
		}
		docs = append(docs, doc)
	}
	return docs
}

// k8sContainerImages lists the container images of every workload of one
// kind (Deployment, StatefulSet) in a file under deploy/k8s.
func k8sContainerImages(t *testing.T, name, kind string) []string {
	t.Helper()
	var images []string
	for _, doc := range k8sDocuments(t, name) {
		if doc["kind"] != kind {
			continue
		}
		spec, _ := doc["spec"].(map[string]any)
		tmpl, _ := spec["template"].(map[string]any)
		pod, _ := tmpl["spec"].(map[string]any)
		containers, _ := pod["containers"].([]any)
		for _, c := range containers {
			m, _ := c.(map[string]any)
			if im, ok := m["image"].(string); ok {
				images = append(images, im)
			}
		}
	}
	return images
}

// `docker compose build` tags each service's image with the name and tag
// the Kubernetes manifests run (deploy/k8s/kustomization.yaml's images).
func TestComposeBuildsTheImagesTheManifestsRun(t *testing.T) {
	p := loadProject(t)
	tags := map[string]string{}
	for _, doc := range k8sDocuments(t, "kustomization.yaml") {
		images, _ := doc["images"].([]any)
		for _, im := range images {
			m, _ := im.(map[string]any)
			name, _ := m["name"].(string)
			tag, _ := m["newTag"].(string)
			tags[name] = tag
		}
	}
	for _, tc := range httpServices {
		want := "kafkakit/" + tc.name
		tag, ok := tags[want]
		if !ok {
			t.Errorf("kustomization.yaml has no image %s (has %v)", want, slices.Sorted(maps.Keys(tags)))
			continue
		}
		if got := service(t, p, tc.name).Image; got != want+":"+tag {
			t.Errorf("%s image %q; want %q, the manifests' image", tc.name, got, want+":"+tag)
		}
	}
}

// compose and the Kubernetes manifests run one PostgreSQL image, pinned by
// the digest its publisher recorded.
func TestComposePostgresIsTheManifestsPostgres(t *testing.T) {
	compose := service(t, loadAllProfiles(t), "postgres").Image
	ref, err := reference.ParseNormalizedNamed(compose)
	if err != nil {
		t.Fatalf("postgres image %q: %v", compose, err)
	}
	if _, ok := ref.(reference.Digested); !ok {
		t.Errorf("postgres image %q has no digest; want the one docker-library published", compose)
	}
	k8s := k8sContainerImages(t, "postgres.yaml", "StatefulSet")
	if want := []string{compose}; !slices.Equal(k8s, want) {
		t.Errorf("deploy/k8s/postgres.yaml runs %v; want %v, compose's postgres", k8s, want)
	}
}

// The second instances run on the harness's SCALE=2 ports, which must not
// collide with any port compose publishes for something else.
func TestComposePublishedPortsAreUnique(t *testing.T) {
	p := loadAllProfiles(t)
	owner := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		for _, pc := range p.Services[name].Ports {
			key := pc.Published
			if other, ok := owner[key]; ok {
				t.Errorf("host port %s is published by %s and %s", key, other, name)
			}
			owner[key] = name
			if _, err := strconv.Atoi(key); err != nil {
				t.Errorf("%s publishes %q; want a fixed host port", name, key)
			}
		}
	}
}
