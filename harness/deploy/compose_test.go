package deploy

import (
	"bufio"
	"context"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/distribution/reference"

	"github.com/kafkakit/kit/harness"
	"github.com/kafkakit/kit/services/events"
)

// repoRoot is where the tests read the repository's docker-compose.yml and
// build contexts. testdata/ holds symbolic links to them rather than this
// package reaching for ../..: `go test` rechecks a cached pass only against
// the files a test opened inside its own module, so an edit to a file it
// read through ../.. would not invalidate the cached pass.
// TestComposeFilesAreTheRepositorys keeps the links honest.
const repoRoot = "testdata"

// httpServices are the kit's services and the ports DESIGN.md gives them,
// as the harness has them, in port order.
var httpServices = func() []struct {
	name string
	port int
} {
	var out []struct {
		name string
		port int
	}
	for _, name := range harness.Services {
		out = append(out, struct {
			name string
			port int
		}{name, harness.DefaultPorts[name]})
	}
	slices.SortFunc(out, func(a, b struct {
		name string
		port int
	}) int {
		return a.port - b.port
	})
	return out
}()

const webPort = 5173

// The broker's two listeners: containers on the compose network use the
// internal one, programs on the host the external one (the services' own
// default KAFKA_BROKERS).
const (
	internalBootstrap = "kafka:9092"
	externalBootstrap = "localhost:9093"
)

// topicPartitions is kafka-init's --partitions for every topic.
var topicPartitions = strconv.Itoa(events.Partitions)

// loadProject loads docker-compose.yml as `docker compose up` would, with an
// empty environment so that every ${VAR:-default} takes its default, and no
// profile active.
func loadProject(t *testing.T, extra ...cli.ProjectOptionsFn) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions(
		[]string{filepath.Join(repoRoot, "docker-compose.yml")},
		append([]cli.ProjectOptionsFn{cli.WithWorkingDirectory(repoRoot), cli.WithEnv(nil)}, extra...)...,
	)
	if err != nil {
		t.Fatalf("compose options: %v", err)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("load docker-compose.yml: %v", err)
	}
	return project
}

// loadAllProfiles loads docker-compose.yml with every profile active.
func loadAllProfiles(t *testing.T) *types.Project {
	t.Helper()
	return loadProject(t, cli.WithProfiles([]string{"*"}))
}

// scaledEnvFile is the env file the README's scaled command passes.
var scaledEnvFile = filepath.Join(repoRoot, "deploy", "compose", "scaled.env")

// loadScaled loads docker-compose.yml as
// `docker compose --env-file deploy/compose/scaled.env up` would: the env
// file's variables, and the profiles its COMPOSE_PROFILES names.
func loadScaled(t *testing.T) *types.Project {
	t.Helper()
	return loadProject(t, cli.WithEnvFiles(scaledEnvFile), cli.WithDotEnv, cli.WithDefaultProfiles())
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, ok := p.Services[name]
	if !ok {
		t.Fatalf("docker-compose.yml has no service %q (has %v)", name, slices.Sorted(maps.Keys(p.Services)))
	}
	return s
}

// env returns the value of a service's environment variable, "" if unset.
func env(s types.ServiceConfig, key string) string {
	if v, ok := s.Environment[key]; ok && v != nil {
		return *v
	}
	return ""
}

// pinned reports why an image reference is not pinned to a tag other than
// latest or to a digest, "" if it is.
func pinned(image string) string {
	if strings.Contains(image, "$") {
		return "uses a variable, so its version cannot be checked"
	}
	ref, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return fmt.Sprintf("does not parse: %v", err)
	}
	if _, ok := ref.(reference.Digested); ok {
		return ""
	}
	tagged, ok := ref.(reference.Tagged)
	if !ok {
		return "has neither a tag nor a digest"
	}
	if tagged.Tag() == "latest" {
		return "is tagged latest"
	}
	return ""
}

// dockerfile is what the checks need from a Dockerfile.
type dockerfile struct {
	bases   []string // FROM images, stages referring to earlier stages left out
	exposed []string // EXPOSE arguments
}

func readDockerfile(t *testing.T, path string) dockerfile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open Dockerfile: %v", err)
	}
	defer f.Close()
	var df dockerfile
	stages := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		switch strings.ToUpper(fields[0]) {
		case "FROM":
			args := slices.DeleteFunc(fields[1:], func(s string) bool { return strings.HasPrefix(s, "--") })
			if len(args) == 0 {
				continue
			}
			if !stages[strings.ToLower(args[0])] {
				df.bases = append(df.bases, args[0])
			}
			if len(args) == 3 && strings.EqualFold(args[1], "AS") {
				stages[strings.ToLower(args[2])] = true
			}
		case "EXPOSE":
			df.exposed = append(df.exposed, fields[1:]...)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return df
}

// dockerfilePath is where a built service's Dockerfile is on disk.
func dockerfilePath(b *types.BuildConfig) string {
	if filepath.IsAbs(b.Dockerfile) {
		return b.Dockerfile
	}
	return filepath.Join(b.Context, b.Dockerfile)
}

func TestComposeImagesArePinned(t *testing.T) {
	p := loadAllProfiles(t)
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		s := p.Services[name]
		t.Run(name, func(t *testing.T) {
			if s.Build == nil {
				if s.Image == "" {
					t.Fatal("neither image nor build")
				}
				if why := pinned(s.Image); why != "" {
					t.Errorf("image %q %s; want a tag other than latest, or a digest", s.Image, why)
				}
				return
			}
			if st, err := os.Stat(s.Build.Context); err != nil || !st.IsDir() {
				t.Fatalf("build context %s: not a directory (%v)", s.Build.Context, err)
			}
			path := dockerfilePath(s.Build)
			if _, err := os.Stat(path); err != nil {
				t.Fatalf("dockerfile: %v", err)
			}
			df := readDockerfile(t, path)
			if len(df.bases) == 0 {
				t.Fatalf("%s: no FROM line", path)
			}
			for _, base := range df.bases {
				if why := pinned(base); why != "" {
					t.Errorf("%s: FROM %q %s; want a tag other than latest, or a digest", path, base, why)
				}
			}
		})
	}
}

// The testcontainers broker runs the images compose pins. Its constants are
// read from source so that this package needs no Docker client library.
func TestTestcontainersBrokerRunsTheComposeImages(t *testing.T) {
	p := loadProject(t)
	consts := stringConstants(t, filepath.Join("..", "broker", "testcontainers", "images.go"))
	tests := []struct {
		constant, service string
	}{
		{"DefaultZooKeeperImage", "zookeeper"},
		{"DefaultKafkaImage", "kafka"},
	}
	for _, tc := range tests {
		if got, want := consts[tc.constant], service(t, p, tc.service).Image; got != want {
			t.Errorf("testcontainers.%s = %q; want %q, the image of compose's %s", tc.constant, got, want, tc.service)
		}
	}
}

// stringConstants returns the string constants a Go file declares.
func stringConstants(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	out := map[string]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		spec, ok := n.(*ast.ValueSpec)
		if !ok {
			return true
		}
		for i, name := range spec.Names {
			if i < len(spec.Values) {
				if lit, ok := spec.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					if v, err := strconv.Unquote(lit.Value); err == nil {
						out[name.Name] = v
					}
				}
			}
		}
		return true
	})
	return out
}

// The Confluent images must agree: cp-kafka and cp-zookeeper ship as one
// platform release, and kafka-init runs the broker's own tools.
func TestComposeConfluentImagesShareOneRelease(t *testing.T) {
	p := loadProject(t)
	tags := map[string]string{}
	for _, name := range []string{"zookeeper", "kafka", "kafka-init"} {
		image := service(t, p, name).Image
		ref, err := reference.ParseNormalizedNamed(image)
		if err != nil {
			t.Fatalf("%s: image %q: %v", name, image, err)
		}
		if !strings.HasPrefix(reference.FamiliarName(ref), "confluentinc/cp-") {
			t.Errorf("%s: image %q; want a confluentinc/cp-* image (Kafka 3.9 with ZooKeeper)", name, image)
		}
		if tagged, ok := ref.(reference.Tagged); ok {
			tags[name] = tagged.Tag()
		}
	}
	if got, want := tags["zookeeper"], tags["kafka"]; got != want {
		t.Errorf("zookeeper tag %q, kafka tag %q; want one Confluent Platform release", got, want)
	}
	if got, want := tags["kafka-init"], tags["kafka"]; got != want {
		t.Errorf("kafka-init tag %q, kafka tag %q; want the broker's own image", got, want)
	}
	if got := tags["kafka"]; !strings.HasPrefix(got, "7.9.") {
		t.Errorf("kafka tag %q; want 7.9.x (Kafka 3.9, the last line with ZooKeeper)", got)
	}
}

func TestComposeServicePortsAndEnvironment(t *testing.T) {
	p := loadProject(t)
	for _, tc := range httpServices {
		t.Run(tc.name, func(t *testing.T) {
			s := service(t, p, tc.name)
			checkPublished(t, s, tc.port)
			if got, want := env(s, "HTTP_ADDR"), fmt.Sprintf(":%d", tc.port); got != want {
				t.Errorf("HTTP_ADDR = %q; want %q, the port compose publishes", got, want)
			}
			if got, want := env(s, "KAFKA_BROKERS"), internalBootstrap; got != want {
				t.Errorf("KAFKA_BROKERS = %q; want %q, the broker's internal listener", got, want)
			}
			if got, want := healthcheckCommand(s), fmt.Sprintf("http://127.0.0.1:%d/readyz", tc.port); !strings.Contains(got, want) {
				t.Errorf("healthcheck %q; want it to probe %s", got, want)
			}
			if s.Build == nil {
				t.Fatal("no build section; want the service built from its Dockerfile")
			}
			df := readDockerfile(t, dockerfilePath(s.Build))
			if want := strconv.Itoa(tc.port); !slices.Contains(df.exposed, want) && !slices.Contains(df.exposed, want+"/tcp") {
				t.Errorf("Dockerfile EXPOSE %v; want %s", df.exposed, want)
			}
		})
	}
	t.Run("web", func(t *testing.T) {
		s := service(t, p, "web")
		checkPublished(t, s, webPort)
		if got, want := healthcheckCommand(s), fmt.Sprintf("http://127.0.0.1:%d/", webPort); !strings.Contains(got, want) {
			t.Errorf("healthcheck %q; want it to probe %s", got, want)
		}
		// The page runs in the browser: it must call the APIs on the host's
		// published ports, not on compose network names.
		for _, tc := range httpServices {
			if tc.name == "orders-processor" {
				continue // the page does not call it
			}
			want := fmt.Sprintf("http://localhost:%d", tc.port)
			found := false
			for _, v := range s.Build.Args {
				if v != nil && *v == want {
					found = true
				}
			}
			if !found {
				t.Errorf("build args %v; want one naming %s (%s)", argValues(s.Build.Args), want, tc.name)
			}
		}
	})
}

func argValues(m types.MappingWithEquals) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if v != nil {
			out[k] = *v
		}
	}
	return out
}

// checkPublished checks that a service publishes container port on the same
// host port, and nothing else.
func checkPublished(t *testing.T, s types.ServiceConfig, port int) {
	t.Helper()
	var got []string
	for _, pc := range s.Ports {
		got = append(got, fmt.Sprintf("%s:%d", pc.Published, pc.Target))
	}
	want := []string{fmt.Sprintf("%d:%d", port, port)}
	if !slices.Equal(got, want) {
		t.Errorf("ports %v; want %v", got, want)
	}
}

func healthcheckCommand(s types.ServiceConfig) string {
	if s.HealthCheck == nil {
		return ""
	}
	return strings.Join(s.HealthCheck.Test, " ")
}

// listeners parses a Kafka listener list ("NAME://host:port,...") into
// name -> host:port.
func listeners(t *testing.T, list string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, l := range strings.Split(list, ",") {
		name, addr, ok := strings.Cut(strings.TrimSpace(l), "://")
		if !ok {
			t.Fatalf("listener %q in %q: want NAME://host:port", l, list)
		}
		out[name] = addr
	}
	return out
}

func TestComposeKafkaListenersAndSettings(t *testing.T) {
	p := loadProject(t)
	kafka := service(t, p, "kafka")
	bind := listeners(t, env(kafka, "KAFKA_LISTENERS"))
	advertised := listeners(t, env(kafka, "KAFKA_ADVERTISED_LISTENERS"))
	protocols := map[string]string{}
	for _, pair := range strings.Split(env(kafka, "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"), ",") {
		name, proto, _ := strings.Cut(pair, ":")
		protocols[name] = proto
	}

	tests := []struct {
		what, got, want string
	}{
		{"advertised INTERNAL listener", advertised["INTERNAL"], internalBootstrap},
		{"advertised EXTERNAL listener", advertised["EXTERNAL"], externalBootstrap},
		{"INTERNAL listener bind address", bind["INTERNAL"], "0.0.0.0:9092"},
		{"EXTERNAL listener bind address", bind["EXTERNAL"], "0.0.0.0:9093"},
		{"INTERNAL protocol", protocols["INTERNAL"], "PLAINTEXT"},
		{"EXTERNAL protocol", protocols["EXTERNAL"], "PLAINTEXT"},
		{"KAFKA_INTER_BROKER_LISTENER_NAME", env(kafka, "KAFKA_INTER_BROKER_LISTENER_NAME"), "INTERNAL"},
		{"KAFKA_AUTO_CREATE_TOPICS_ENABLE", env(kafka, "KAFKA_AUTO_CREATE_TOPICS_ENABLE"), "false"},
		{"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", env(kafka, "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"), "1"},
		{"KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", env(kafka, "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"), "1"},
		{"KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", env(kafka, "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"), "1"},
		{"KAFKA_DEFAULT_REPLICATION_FACTOR", env(kafka, "KAFKA_DEFAULT_REPLICATION_FACTOR"), "1"},
		{"KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", env(kafka, "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS"), "0"},
		{"KAFKA_ZOOKEEPER_CONNECT", env(kafka, "KAFKA_ZOOKEEPER_CONNECT"), "zookeeper:2181"},
		{"kafka-ui bootstrap servers", env(service(t, p, "kafka-ui"), "KAFKA_CLUSTERS_0_BOOTSTRAPSERVERS"), internalBootstrap},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s = %q; want %q", tc.what, tc.got, tc.want)
		}
	}

	// The external listener is only useful if the host reaches it on the
	// port it advertises.
	var published []string
	for _, pc := range kafka.Ports {
		published = append(published, fmt.Sprintf("%s:%d", pc.Published, pc.Target))
	}
	if want := []string{"9093:9093"}; !slices.Equal(published, want) {
		t.Errorf("kafka ports %v; want %v (the advertised EXTERNAL listener, and nothing else)", published, want)
	}
}

func TestComposeHealthchecks(t *testing.T) {
	p := loadAllProfiles(t)
	names := []string{"zookeeper", "kafka", "schema-registry", "web", "postgres", "prometheus", "grafana"}
	for _, s := range httpServices {
		names = append(names, s.name)
	}
	names = append(names, secondInstances...)
	for _, name := range names {
		s := service(t, p, name)
		hc := s.HealthCheck
		switch {
		case hc == nil:
			t.Errorf("%s: no healthcheck; want one (others wait on service_healthy)", name)
		case hc.Disable:
			t.Errorf("%s: healthcheck disabled; want it on", name)
		case len(hc.Test) < 2 || (hc.Test[0] != "CMD" && hc.Test[0] != "CMD-SHELL"):
			t.Errorf("%s: healthcheck test %q; want [CMD ...] or [CMD-SHELL ...]", name, hc.Test)
		}
	}
}

func TestComposeStartOrder(t *testing.T) {
	p := loadAllProfiles(t)
	tests := []struct {
		service, dependsOn, condition string
	}{
		{"grafana", "prometheus", types.ServiceConditionHealthy},
		{"kafka", "zookeeper", types.ServiceConditionHealthy},
		{"kafka-init", "kafka", types.ServiceConditionHealthy},
		{"kafka-ui", "kafka", types.ServiceConditionHealthy},
		{"orders-api", "kafka-init", types.ServiceConditionCompletedSuccessfully},
		{"orders-processor", "kafka-init", types.ServiceConditionCompletedSuccessfully},
		{"notifications-api", "kafka-init", types.ServiceConditionCompletedSuccessfully},
		{"stock-service", "kafka-init", types.ServiceConditionCompletedSuccessfully},
		{"web", "orders-api", types.ServiceConditionHealthy},
		{"web", "notifications-api", types.ServiceConditionHealthy},
		{"web", "stock-service", types.ServiceConditionHealthy},
	}
	// The services that keep state wait for PostgreSQL and the check that
	// they were given it, when the scaled profile runs them.
	for _, name := range append([]string{"orders-api", "stock-service", "orders-processor"}, secondInstances...) {
		tests = append(tests,
			struct{ service, dependsOn, condition string }{name, "kafka-init", types.ServiceConditionCompletedSuccessfully},
			struct{ service, dependsOn, condition string }{name, "postgres", types.ServiceConditionHealthy},
			struct{ service, dependsOn, condition string }{name, "scaled-check", types.ServiceConditionCompletedSuccessfully},
		)
	}
	for _, tc := range tests {
		dep, ok := service(t, p, tc.service).DependsOn[tc.dependsOn]
		if !ok {
			t.Errorf("%s does not depend on %s; want condition %s", tc.service, tc.dependsOn, tc.condition)
			continue
		}
		if dep.Condition != tc.condition {
			t.Errorf("%s depends on %s with condition %q; want %q", tc.service, tc.dependsOn, dep.Condition, tc.condition)
		}
	}
}

func TestComposeRestartPolicies(t *testing.T) {
	p := loadAllProfiles(t)
	tests := []struct {
		service string
		want    []string
	}{
		{"zookeeper", []string{types.RestartPolicyUnlessStopped}},
		{"kafka", []string{types.RestartPolicyUnlessStopped}},
		{"kafka-ui", []string{types.RestartPolicyUnlessStopped}},
		// A one-shot that restarted would never complete successfully.
		{"kafka-init", []string{"", types.RestartPolicyNo}},
		{"orders-api", []string{types.RestartPolicyUnlessStopped}},
		{"orders-processor", []string{types.RestartPolicyUnlessStopped}},
		{"notifications-api", []string{types.RestartPolicyUnlessStopped}},
		{"stock-service", []string{types.RestartPolicyUnlessStopped}},
		{"web", []string{types.RestartPolicyUnlessStopped}},
		{"postgres", []string{types.RestartPolicyUnlessStopped}},
		{"scaled-check", []string{"", types.RestartPolicyNo}},
		{"orders-api-2", []string{types.RestartPolicyUnlessStopped}},
		{"stock-service-2", []string{types.RestartPolicyUnlessStopped}},
		{"prometheus", []string{types.RestartPolicyUnlessStopped}},
		{"grafana", []string{types.RestartPolicyUnlessStopped}},
	}
	for _, tc := range tests {
		if got := service(t, p, tc.service).Restart; !slices.Contains(tc.want, got) {
			t.Errorf("%s restart %q; want one of %q", tc.service, got, tc.want)
		}
	}
}

// topicCreation is one `kafka-topics --create` line of kafka-init.
type topicCreation struct {
	line  string
	flags map[string]string // flag -> value; "" for a flag without one
}

// topicCreations parses kafka-init's script into its kafka-topics --create
// lines.
func topicCreations(t *testing.T, s types.ServiceConfig) []topicCreation {
	t.Helper()
	script := strings.Join(append(slices.Clone([]string(s.Entrypoint)), s.Command...), "\n")
	var out []topicCreation
	for _, line := range strings.Split(script, "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || fields[0] != "kafka-topics" || !slices.Contains(fields, "--create") {
			continue
		}
		tc := topicCreation{line: strings.TrimSpace(line), flags: map[string]string{}}
		for i := 1; i < len(fields); i++ {
			if !strings.HasPrefix(fields[i], "--") {
				continue
			}
			if i+1 < len(fields) && !strings.HasPrefix(fields[i+1], "--") {
				tc.flags[fields[i]] = fields[i+1]
				i++
			} else {
				tc.flags[fields[i]] = ""
			}
		}
		out = append(out, tc)
	}
	return out
}

func TestKafkaInitCreatesEveryTopic(t *testing.T) {
	p := loadProject(t)
	creations := topicCreations(t, service(t, p, "kafka-init"))
	created := map[string]topicCreation{}
	for _, c := range creations {
		created[c.flags["--topic"]] = c
	}

	var want []string
	for _, topic := range events.Topics {
		want = append(want, topic, events.DLQ(topic))
	}
	for _, topic := range want {
		c, ok := created[topic]
		if !ok {
			t.Errorf("kafka-init does not create %s; creates %v", topic, slices.Sorted(maps.Keys(created)))
			continue
		}
		for _, f := range []struct{ flag, want string }{
			{"--partitions", topicPartitions},
			{"--replication-factor", "1"},
			{"--bootstrap-server", internalBootstrap},
			{"--if-not-exists", ""},
		} {
			got, ok := c.flags[f.flag]
			if !ok || got != f.want {
				t.Errorf("%s: %s = %q (present %v); want %q in %q", topic, f.flag, got, ok, f.want, c.line)
			}
		}
	}
	if len(creations) != len(want) {
		t.Errorf("kafka-init has %d kafka-topics --create lines; want %d, one per topic", len(creations), len(want))
	}

	// Topic names are constants in services/events, not settings: a
	// *_TOPIC variable would look like a knob that nothing honours.
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		s := p.Services[name]
		for _, key := range slices.Sorted(maps.Keys(s.Environment)) {
			if strings.HasSuffix(key, "_TOPIC") {
				t.Errorf("%s: sets %s, which no service reads (topic names are constants in services/events)", name, key)
			}
		}
	}
}

// Without the scaled profile the services that keep state use SQLite, on a
// named volume so that it outlives the container.
func TestComposeDatabasesAreOnVolumes(t *testing.T) {
	p := loadProject(t)
	for _, name := range []string{"orders-api", "stock-service", "orders-processor"} {
		t.Run(name, func(t *testing.T) {
			s := service(t, p, name)
			dsn := env(s, "DB_DSN")
			if !filepath.IsAbs(dsn) {
				t.Fatalf("DB_DSN = %q; want an absolute path on a volume", dsn)
			}
			dir := filepath.Dir(dsn)
			for _, v := range s.Volumes {
				if v.Target != dir {
					continue
				}
				if v.Type != types.VolumeTypeVolume {
					t.Errorf("%s is mounted as %s; want a named volume", dir, v.Type)
				}
				if _, ok := p.Volumes[v.Source]; !ok {
					t.Errorf("volume %q is not declared under top-level volumes (%v)", v.Source, slices.Sorted(maps.Keys(p.Volumes)))
				}
				return
			}
			t.Errorf("DB_DSN = %q, but no volume is mounted at %s", dsn, dir)
		})
	}
}

// The links in testdata must lead to the repository's own files, not to
// copies that could drift.
func TestComposeFilesAreTheRepositorys(t *testing.T) {
	for _, name := range []string{"docker-compose.yml", "services", "web", "deploy"} {
		viaLink, err := os.Stat(filepath.Join(repoRoot, name))
		if err != nil {
			t.Errorf("%s: %v; want a symbolic link to ../../../%s", name, err, name)
			continue
		}
		real, err := os.Stat(filepath.Join("..", "..", name))
		if err != nil {
			t.Fatalf("repository's %s: %v", name, err)
		}
		if !os.SameFile(viaLink, real) {
			t.Errorf("%s/%s is not the repository's %s; want a symbolic link to ../../../%s", repoRoot, name, name, name)
		}
	}
}

// Each service image builds its module on its own (GOWORK=off, replace
// directives to ../events and ../platform), with cgo off, as its Dockerfile
// does. go list resolves every import the build would, so a module whose
// go.sum lacks an entry the workspace hid fails here rather than in
// `docker compose build`.
func TestServiceModulesResolveOnTheirOwn(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skipf("SKIP no go command on PATH: %v", err)
	}
	trackGoSources(t, filepath.Join(repoRoot, "services"))
	for _, tc := range httpServices {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command("go", "list", "-deps", ".")
			cmd.Dir = filepath.Join(repoRoot, "services", tc.name)
			cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly", "CGO_ENABLED=0")
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Run(); err != nil {
				t.Errorf("GOWORK=off CGO_ENABLED=0 go list -deps . in services/%s: %v\n%s", tc.name, err, stderr.String())
			}
		})
	}
}

// trackGoSources stats every go.mod, go.sum and .go file under dir, so that
// `go test` reruns this package's tests when one of them changes: it does
// not see what a child process reads.
func trackGoSources(t *testing.T, dir string) {
	t.Helper()
	// "/." makes WalkDir descend into dir when dir is a symbolic link.
	err := filepath.WalkDir(dir+string(filepath.Separator)+".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !(strings.HasSuffix(path, ".go") || d.Name() == "go.mod" || d.Name() == "go.sum") {
			return nil
		}
		_, err = os.Stat(path)
		return err
	})
	if err != nil {
		t.Fatalf("walk %s: %v", dir, err)
	}
}
