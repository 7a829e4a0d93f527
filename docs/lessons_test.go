package docs

import (
	"context"
	"errors"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkakit/kit/docs/doctest"
	"github.com/kafkakit/kit/harness"
	"github.com/kafkakit/kit/harness/broker"
	"github.com/kafkakit/kit/harness/broker/kafka"
	"github.com/kafkakit/kit/harness/broker/security"
	"github.com/kafkakit/kit/services/events"
)

// TestMain removes the services the stacks share, built once per process,
// after the last test.
func TestMain(m *testing.M) {
	code := m.Run()
	_ = harness.RemoveBuild()
	os.Exit(code)
}

// TestLessonsRunAsWritten runs every command of docs/learn and docs/blog
// against a stack of its own, as a learner would against `make up`: the
// index's setup first, then each lesson in order and the blog post, each in
// a fresh shell. The broker is BROKER's (embedded by default); blocks for
// another broker are left out, with a note. A failure prints the lesson's
// transcript; DOCS_TRANSCRIPT=1 prints every transcript.
func TestLessonsRunAsWritten(t *testing.T) {
	root := repoRoot(t)
	index, lessons := parseLessons(t, root)
	runLessons(t, root, envOr("BROKER", "embedded"), "", index, lessons)
}

// TestLessonsOnThreeBrokers runs the lessons that have blocks for the
// kafka-cluster broker (replication: a broker killed under load) on a
// stack of three real Kafka brokers, as `make up BROKER=kafka-cluster`.
func TestLessonsOnThreeBrokers(t *testing.T) {
	if envOr("BROKER", "embedded") == "kafka-cluster" {
		t.Skip("BROKER=kafka-cluster: TestLessonsRunAsWritten runs every lesson on three brokers in this run")
	}
	root := repoRoot(t)
	index, lessons := parseLessons(t, root)
	onCluster := lessonsWith(t, lessons, "blocks for the kafka-cluster broker; lesson 8 should",
		func(s doctest.Step) bool { return s.Broker == "kafka-cluster" }, nil)
	runLessons(t, root, "kafka-cluster", "", index, onCluster)
}

// TestLessonsLockedDown runs the lessons that have blocks for a locked-down
// stack (lesson 9: who may write where) as `make up BROKER=kafka
// SECURITY=sasl_ssl` runs it: real Kafka, whose ACLs the outsider meets
// (the embedded broker signs users in but enforces no ACL).
func TestLessonsLockedDown(t *testing.T) {
	root := repoRoot(t)
	index, lessons := parseLessons(t, root)
	locked := lessonsWith(t, lessons, "blocks for a locked-down stack; lesson 9 should", lockedDown, nil)
	runLessons(t, root, "kafka", security.SASLSSL, index, locked)
}

// TestLessonsOnRealKafka runs the lessons that have blocks for the kafka
// broker (lesson 4 slows one service's link to the broker, which only real
// Kafka's listener per service can proxy; lesson 11 asks a schema registry
// that checks compatibility, Apicurio, which runs beside the JVM brokers
// only) on a stack of one real Kafka broker, as `make up BROKER=kafka
// FAULTS=1`.
func TestLessonsOnRealKafka(t *testing.T) {
	if envOr("BROKER", "embedded") == "kafka" {
		t.Skip("BROKER=kafka: TestLessonsRunAsWritten runs every lesson on real Kafka in this run")
	}
	root := repoRoot(t)
	index, lessons := parseLessons(t, root)
	// A locked-down lesson's blocks (lesson 9) run in TestLessonsLockedDown.
	onKafka := lessonsWith(t, lessons, "blocks for the kafka broker; lessons 4 and 11 should",
		func(s doctest.Step) bool { return s.Broker == "kafka" }, lockedDown)
	runLessons(t, root, "kafka", "", index, onKafka)
}

// lockedDown tells a block of a lesson for a locked-down stack.
func lockedDown(s doctest.Step) bool { return s.Security != "" }

// lessonsWith returns the lessons with a block that has, and none that
// hasNot (nil: no such block), failing t when there is none: the lesson
// the test exists for is named in what.
func lessonsWith(t *testing.T, lessons []*doctest.Lesson, what string, has, hasNot func(doctest.Step) bool) []*doctest.Lesson {
	t.Helper()
	var out []*doctest.Lesson
	for _, l := range lessons {
		if slices.ContainsFunc(l.Steps, has) && (hasNot == nil || !slices.ContainsFunc(l.Steps, hasNot)) {
			out = append(out, l)
		}
	}
	if len(out) == 0 {
		t.Fatal("no lesson has " + what)
	}
	return out
}

// runLessons starts a stack on brokerKind and runs the index, then each
// lesson as a subtest.
func runLessons(t *testing.T, root, brokerKind, securityMode string, index *doctest.Lesson, lessons []*doctest.Lesson) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	startCtx, startCancel := context.WithTimeout(ctx, 5*time.Minute)
	faults := wantFaults(lessons, brokerKind)
	stack, err := harness.Start(startCtx, harness.Options{
		Broker:   brokerKind,
		Security: securityMode,
		// A lesson that starts `make up … FAULTS=1` on this broker gets a
		// proxy on every link, as kit up -faults gives.
		Faults: faults,
		// What `kit up` gives the services; no ADMIN_TOKEN, so the admin
		// doors answer this machine, as on a learner's.
		ServiceEnv: map[string]string{"PAYMENT_DELAY": "1s", "ADMIN_TOKEN": ""},
	})
	startCancel()
	if errors.Is(err, kafka.ErrMissingTool) {
		if os.Getenv("KAFKAKIT_SKIP_REAL_KAFKA") == "1" {
			t.Skipf("!!! LESSONS NOT RUN ON %s (KAFKAKIT_SKIP_REAL_KAFKA=1): %v", brokerKind, err)
		}
		t.Fatalf("!!! LESSONS CANNOT RUN ON %s: %v (set KAFKAKIT_SKIP_REAL_KAFKA=1 to skip)", brokerKind, err)
	}
	if err != nil {
		t.Fatalf("start the %s stack: %v", brokerKind, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := stack.Close(ctx); err != nil {
			t.Errorf("stop the stack: %v", err)
		}
	})

	env := lessonEnv(root, stack)
	if securityMode != "" {
		env = append(env, lockedDownEnv(t, ctx, stack)...)
	}
	if faults {
		env = append(env, faultsEnv(t, ctx, stack))
	}
	cfg := doctest.Config{
		Dir:         root,
		Env:         env,
		Ports:       stackPorts(t, stack),
		Broker:      brokerKind,
		Security:    securityMode,
		Faults:      faults,
		Logs:        stack.Logs,
		StepTimeout: 2 * time.Minute,
	}
	run := func(t *testing.T, l *doctest.Lesson) {
		var transcript strings.Builder
		cfg.Transcript = &transcript
		if err := doctest.Run(ctx, cfg, l); err != nil {
			t.Errorf("%v\n\ntranscript of %s:\n%s", err, l.Name, transcript.String())
			for _, name := range harness.Services {
				t.Logf("----- %s log (last lines) -----\n%s", name, lastLines(stack.Logs(name), 40))
			}
		}
		if os.Getenv("DOCS_TRANSCRIPT") != "" {
			t.Logf("transcript of %s:\n%s", l.Name, transcript.String())
		} else if notes := notesOf(transcript.String()); notes != "" {
			t.Log(notes)
		}
	}
	// The index builds the kit CLI that every lesson calls: it runs first,
	// whatever -run selects.
	run(t, index)
	if t.Failed() {
		t.FailNow()
	}
	for _, l := range lessons {
		t.Run(strings.TrimSuffix(filepath.Base(l.Name), ".md"), func(t *testing.T) { run(t, l) })
	}
}

// parseLesson reads one Markdown file of docs/ as a lesson.
func parseLesson(t *testing.T, root, file string) *doctest.Lesson {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	rel, _ := filepath.Rel(root, file)
	l, err := doctest.Parse(rel, string(b))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// parseLessons reads docs/learn/README.md, then the numbered lessons in
// order and the blog posts, whose walkthroughs run the same way.
func parseLessons(t *testing.T, root string) (index *doctest.Lesson, lessons []*doctest.Lesson) {
	t.Helper()
	dir := filepath.Join(root, "docs", "learn")
	files, err := filepath.Glob(filepath.Join(dir, "[0-9][0-9]-*.md"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	if len(files) < 8 {
		t.Fatalf("docs/learn has %d lessons, want at least 8", len(files))
	}
	posts, err := filepath.Glob(filepath.Join(root, "docs", "blog", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(posts)
	index = parseLesson(t, root, filepath.Join(dir, "README.md"))
	for _, f := range append(files, posts...) {
		lessons = append(lessons, parseLesson(t, root, f))
	}
	return index, lessons
}

// registryPort is the schema registry's port under `make up` (kit up's).
const registryPort = 8085

// stackPorts points the ports of `make up` at the stack: the services'
// 8081-8084, the broker's 9093 (9094 and 9095 for a three-broker
// cluster) and the schema registry's 8085; the ports of further instances (8181-8184, 8281-8284, ...) get
// free ones when a lesson starts one.
func stackPorts(t *testing.T, stack *harness.Stack) *doctest.Ports {
	t.Helper()
	p := &doctest.Ports{Known: map[int]string{}, Spare: map[int]bool{}}
	for name, port := range harness.DefaultPorts {
		u, err := url.Parse(stack.URL(name))
		if err != nil {
			t.Fatal(err)
		}
		p.Known[port] = u.Host
		for n := 1; n <= 3; n++ {
			p.Spare[port+100*n] = true
		}
	}
	for i, addr := range stack.BrokerAddrs() {
		p.Known[9093+i] = addr
	}
	// The schema registry, on 8085 under `make up` (lesson 11 asks it).
	if reg := stack.RegistryURL(); reg != "" {
		u, err := url.Parse(reg)
		if err != nil {
			t.Fatal(err)
		}
		p.Known[registryPort] = u.Host
	}
	for port := 9093; port <= 9095; port++ {
		if _, ok := p.Known[port]; !ok {
			p.Spare[port] = true
		}
	}
	return p
}

// lessonEnv is a learner's terminal: their environment, with the kit's
// variables pointing at the stack (KAFKA_BROKERS is what every kit command
// and service reads) and bin/, where the index builds kit, on the PATH.
func lessonEnv(root string, stack *harness.Stack) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "KAFKA_BROKERS", "SCHEMA_REGISTRY_URL", "ADMIN_TOKEN", "HTTP_ADDR", "DB_DSN", "PATH", "KIT_FAULTS_API":
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"KAFKA_BROKERS="+strings.Join(stack.BrokerAddrs(), ","),
		// kit produce frames records with their schema ids, kit tail names them.
		"SCHEMA_REGISTRY_URL="+stack.RegistryURL(),
		"PATH="+filepath.Join(root, "bin")+string(os.PathListSeparator)+os.Getenv("PATH"),
	)
}

// lockedDownEnv does for a locked-down stack what `kit up -security
// sasl_ssl` does beside starting it (harness/cmd/kit/settings.go): the
// kit's client settings in the learner's cache directory — here one of the
// test's own, through XDG_CACHE_HOME, with Go's build cache left where it
// was — so that kit signs in by itself, and the outsider, a user with no
// ACL. It returns the variables that point the lessons' shells there.
func lockedDownEnv(t *testing.T, ctx context.Context, stack *harness.Stack) []string {
	t.Helper()
	m := stack.Security()
	cache := t.TempDir()
	dir := filepath.Join(cache, "kafkakit", "stack")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(m.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	ca, password := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "kit.password")
	settings := strings.Join([]string{
		"KAFKA_BROKERS=" + strings.Join(stack.BrokerAddrs(), ","),
		"KAFKA_SECURITY_PROTOCOL=SASL_SSL",
		"KAFKA_SASL_MECHANISM=SCRAM-SHA-512",
		"KAFKA_SASL_USERNAME=" + events.PrincipalKit,
		"KAFKA_SASL_PASSWORD_FILE=" + password,
		"KAFKA_CA_FILE=" + ca,
	}, "\n") + "\n"
	for file, data := range map[string]string{ca: string(caPEM), password: m.Password(events.PrincipalKit) + "\n",
		filepath.Join(dir, "client.env"): settings} {
		if err := os.WriteFile(file, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cl, err := kgo.NewClient(append(broker.ClientOpts(stack.Broker()), kgo.SeedBrokers(stack.BrokerAddrs()...))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := security.UpsertUsers(ctx, kadm.NewClient(cl),
		kadm.UpsertSCRAM{User: "outsider", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "outsider-password"}); err != nil {
		t.Fatalf("create the outsider: %v", err)
	}
	gocache := os.Getenv("GOCACHE")
	if gocache == "" {
		userCache, err := os.UserCacheDir()
		if err != nil {
			t.Fatal(err)
		}
		gocache = filepath.Join(userCache, "go-build")
	}
	return []string{"XDG_CACHE_HOME=" + cache, "GOCACHE=" + gocache}
}

// wantFaults reports whether a lesson starts `make up … FAULTS=1` in a
// block that runs on brokerKind.
func wantFaults(lessons []*doctest.Lesson, brokerKind string) bool {
	for _, l := range lessons {
		for _, s := range l.Steps {
			if doctest.WantsFaults(s) && (s.Broker == "" || s.Broker == brokerKind) {
				return true
			}
		}
	}
	return false
}

// faultsEnv does what kit up -faults does beside starting the stack: it
// answers toxiproxy's API over the stack's links, here on a free port of
// the test's, and returns the variable that points kit faults at it.
func faultsEnv(t *testing.T, ctx context.Context, stack *harness.Stack) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveCtx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- stack.ServeLinks(serveCtx, ln) }()
	t.Cleanup(func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("the fault API: %v", err)
		}
	})
	return "KIT_FAULTS_API=http://" + ln.Addr().String()
}

// notesOf returns the transcript's NOTE lines: blocks left out of this run.
func notesOf(transcript string) string {
	var notes []string
	for _, line := range strings.Split(transcript, "\n") {
		if strings.HasPrefix(line, "NOTE: ") {
			notes = append(notes, line)
		}
	}
	return strings.Join(notes, "\n")
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
