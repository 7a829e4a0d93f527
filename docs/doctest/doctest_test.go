package doctest

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseReadsStepsInOrder(t *testing.T) {
	md := strings.Join([]string{
		"# A lesson",
		"<!-- doctest: stack -->",
		"```sh",
		"make up",
		"```",
		"Prose with `kit groups` inline is not a command.",
		"```text",
		"sample output",
		"```",
		"<!-- doctest: terminal 2; expect \"listening\" -->",
		"```sh",
		"HTTP_ADDR=localhost:8182 go run ./services/orders-processor",
		"```",
		"<!-- doctest: until \"2 member(s)\" -->",
		"```sh",
		"kit groups orders-processor-cg",
		"```",
		"<!-- doctest: ctrl-z terminal 2 -->",
		"<!-- doctest: log stock-service \"order already answered; nothing changed\" -->",
		"<!-- doctest: expect \"a\"; expect '\"b\"' -->",
		"```bash",
		"echo a",
		"echo b",
		"```",
		"<!-- doctest: fails \"refused\"; broker kafka -->",
		"```sh",
		"kit reset-offsets g t -to earliest",
		"```",
		"```mermaid",
		"flowchart LR",
		"```",
	}, "\n")
	l, err := Parse("lesson.md", md)
	if err != nil {
		t.Fatal(err)
	}
	want := []Step{
		{Line: 2, Script: "make up\n", Stack: true},
		{Line: 10, Script: "HTTP_ADDR=localhost:8182 go run ./services/orders-processor\n", Terminal: 2, Expect: []string{"listening"}},
		{Line: 14, Script: "kit groups orders-processor-cg\n", Until: "2 member(s)"},
		{Line: 18, Keys: "ctrl-z", Terminal: 2},
		{Line: 19, LogService: "stock-service", LogText: "order already answered; nothing changed"},
		{Line: 20, Script: "echo a\necho b\n", Expect: []string{"a", `"b"`}},
		{Line: 25, Script: "kit reset-offsets g t -to earliest\n", Fails: true, Expect: []string{"refused"}, Broker: "kafka"},
	}
	if !reflect.DeepEqual(l.Steps, want) {
		t.Errorf("steps:\n got %+v\nwant %+v", l.Steps, want)
	}
}

func TestParseRefusesWhatCannotRun(t *testing.T) {
	tests := []struct {
		name, md, want string
	}{
		{"unmarked shell block", "```sh\nkit topics\n```", "without a doctest comment"},
		{"comment away from its block", "<!-- doctest -->\n\n```sh\nkit topics\n```", "right before it"},
		{"comment before prose", "<!-- doctest -->\nsome prose", "right before it"},
		{"comment at the end", "text\n<!-- doctest -->", "no block after it"},
		{"comment before a non-shell block", "<!-- doctest -->\n```text\nx\n```", "only shell blocks run"},
		{"unknown directive", "<!-- doctest: sometimes -->\n```sh\nx\n```", `unknown directive "sometimes"`},
		{"expect without text", "<!-- doctest: expect -->\n```sh\nx\n```", "want 1 argument"},
		{"unclosed quote", "<!-- doctest: expect \"x -->\n```sh\nx\n```", "unclosed quote"},
		{"terminal 1", "<!-- doctest: terminal 1; expect \"x\" -->\n```sh\nx\n```", "from 2"},
		{"terminal without expect", "<!-- doctest: terminal 2 -->\n```sh\nx\n```", "needs expect"},
		{"until that writes", "<!-- doctest: until \"x\" -->\n```sh\nkit produce t v\n```", "must only read"},
		{"until that posts", "<!-- doctest: until \"x\" -->\n```sh\ncurl -s localhost:8084/seed -d '{}'\n```", "must only read"},
		{"until that follows", "<!-- doctest: until \"x\" -->\n```sh\nkit tail orders.status\n```", "must only read"},
		{"until that watches", "<!-- doctest: until \"x\" -->\n```sh\nkit groups -watch\n```", "must only read"},
		{"until that redirects", "<!-- doctest: until \"x\" -->\n```sh\ncat a > b\n```", "must only read"},
		{"stack for another command", "<!-- doctest: stack -->\n```sh\nmake test\n```", "is `make up`"},
		{"stack with expect", "<!-- doctest: stack; expect \"x\" -->\n```sh\nmake up\n```", "stands alone"},
		{"keys with expect", "<!-- doctest: ctrl-c terminal 2; expect \"x\" -->", "stand alone"},
		{"keys without terminal", "<!-- doctest: ctrl-c -->", "want ctrl-c terminal"},
		{"unclosed fence", "<!-- doctest -->\n```sh\nkit topics", "never closed"},
	}
	for _, tt := range tests {
		_, err := Parse("l.md", tt.md)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error = %v, want one saying %q", tt.name, err, tt.want)
		}
	}
}

func TestReadOnlyLetsReadsThrough(t *testing.T) {
	for _, script := range []string{
		"kit groups orders-processor-cg",
		"kit topics orders.created",
		`kit tail orders.status -from earliest -key "$ORDER" -exit`,
		"kit dlq list orders.created | grep -c dlq.replayed",
		`curl -s "localhost:8084/orders/$ORDER"`,
		"# a comment\nkit groups && kit topics",
	} {
		if err := ReadOnly(script); err != nil {
			t.Errorf("ReadOnly(%q) = %v, want nil", script, err)
		}
	}
}

func TestPortsPointWellKnownAddressesAtTheStack(t *testing.T) {
	p := &Ports{Known: map[int]string{8081: "127.0.0.1:40001", 9093: "127.0.0.1:40093"}, Spare: map[int]bool{8182: true}}
	got, err := p.Rewrite("curl -s localhost:8081/orders\nkit topics -brokers 127.0.0.1:9093\nHTTP_ADDR=localhost:8182 x\ncurl localhost:8182/readyz localhost:7000")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(got, "\n")
	if lines[0] != "curl -s 127.0.0.1:40001/orders" || lines[1] != "kit topics -brokers 127.0.0.1:40093" {
		t.Errorf("known ports: got %q", got)
	}
	spare := strings.TrimSuffix(strings.TrimPrefix(lines[2], "HTTP_ADDR="), " x")
	if spare == "localhost:8182" || !strings.HasPrefix(spare, "127.0.0.1:") {
		t.Errorf("spare port: got %q, want a free port on 127.0.0.1", lines[2])
	}
	if want := "curl " + spare + "/readyz localhost:7000"; lines[3] != want {
		t.Errorf("a spare port keeps its stand-in, other ports stay: got %q, want %q", lines[3], want)
	}
	for _, bad := range []string{"HTTP_ADDR=:8081 x", "port 8182", "KAFKA_BROKERS=kafka:9093"} {
		if _, err := p.Rewrite(bad); err == nil || !strings.Contains(err.Error(), "write localhost:") {
			t.Errorf("Rewrite(%q) error = %v, want one asking for localhost:<port>", bad, err)
		}
	}
}

func testConfig(t *testing.T) Config {
	t.Helper()
	var transcript strings.Builder
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("transcript:\n%s", transcript.String())
		}
	})
	return Config{
		Dir:         t.TempDir(),
		Env:         os.Environ(),
		Ports:       &Ports{},
		Broker:      "embedded",
		Logs:        func(service string) string { return "ready\n" + service + " says hello\n" },
		StepTimeout: 30 * time.Second,
		Transcript:  &transcript,
	}
}

func runLesson(t *testing.T, cfg Config, md string) error {
	t.Helper()
	l, err := Parse("lesson.md", md)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return Run(ctx, cfg, l)
}

func TestRunCarriesVariablesAndChecksOutput(t *testing.T) {
	cfg := testConfig(t)
	err := runLesson(t, cfg, strings.Join([]string{
		"<!-- doctest -->", "```sh", "GREETING=hello", "```",
		"<!-- doctest: expect \"hello world\" -->", "```sh", `echo "$GREETING world"`, "```",
		"<!-- doctest: fails \"nope\" -->", "```sh", "echo nope >&2", "false", "```",
		"<!-- doctest: log stock-service \"stock-service says hello\" -->",
		"<!-- doctest: broker kafka-cluster -->", "```sh", "exit 3", "```",
		"<!-- doctest: security sasl_ssl -->", "```sh", "exit 4", "```",
		// A block that runs until Ctrl-C, while the shell goes on. What it
		// waits for is printed by the command that runs (as curl -N prints
		// events), so Ctrl-C finds it running.
		"<!-- doctest: ctrl-c \"tick 3\"; expect \"tick 1\" -->", "```sh", "printf 'tick %s\\n' 1 2 3 > ticks", "tail -f ticks", "```",
		"<!-- doctest: expect \"still here hello\" -->", "```sh", "echo still here $GREETING", "```",
	}, "\n"))
	if err != nil {
		t.Fatal(err)
	}
}

func TestRunFailsOnWhatALearnerWouldSee(t *testing.T) {
	tests := []struct{ name, md, want string }{
		{"a failing command mid-block", "<!-- doctest -->\n```sh\nfalse\necho after\n```", "failed at line 1: false"},
		{"a failing pipe", "<!-- doctest -->\n```sh\nfalse | cat\n```", "failed at line 1"},
		{"missing output", "<!-- doctest: expect \"PAID\" -->\n```sh\necho CREATED\n```", `lacks "PAID"`},
		{"a block that should fail", "<!-- doctest: fails \"x\" -->\n```sh\necho x\n```", "should have failed"},
		{"a terminal that ends early", "<!-- doctest: terminal 2; expect \"ready\" -->\n```sh\necho oops\n```", `without printing "ready"`},
		{"keys to an idle terminal", "<!-- doctest: ctrl-c terminal 2 -->", "terminal 2 runs nothing"},
		{"make up on another broker", "<!-- doctest: stack -->\n```sh\nmake up BROKER=kafka\n```", "this run is on embedded"},
		{"make up locked down on a plaintext run", "<!-- doctest: stack -->\n```sh\nmake up SECURITY=sasl_ssl\n```", "this run is plaintext: mark it security sasl_ssl"},
		{"make up with faults on a stack without proxies", "<!-- doctest: stack -->\n```sh\nmake up FAULTS=1\n```", "no proxies on its links"},
		{"a ctrl-c block that ends first", "<!-- doctest: ctrl-c \"PAID\" -->\n```sh\necho CREATED\n```", `ended before it printed "PAID"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := runLesson(t, testConfig(t), tt.md)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want one saying %q", err, tt.want)
			}
		})
	}
}

func TestTerminalsRunBesideTheLessonAndAnswerKeys(t *testing.T) {
	cfg := testConfig(t)
	err := runLesson(t, cfg, strings.Join([]string{
		"<!-- doctest -->", "```sh", "echo a > seen", "```",
		// A second terminal appends to the file, then keeps running.
		"<!-- doctest: terminal 2; expect \"started\" -->", "```sh", "echo started; echo b >> seen; echo c >> seen; exec tail -f /dev/null", "```",
		"<!-- doctest: until \"c\" -->", "```sh", "cat seen", "```",
		"<!-- doctest: ctrl-z terminal 2 -->",
		"<!-- doctest: fg terminal 2 -->",
		"<!-- doctest: ctrl-c terminal 2 -->",
		"<!-- doctest: terminal 3; expect \"third\" -->", "```sh", "echo third; exec tail -f /dev/null", "```",
		"<!-- doctest: kill terminal 3 -->",
		// Terminal 2 is free again; one left running is stopped at the end.
		"<!-- doctest: terminal 2; expect \"again\" -->", "```sh", "echo again; exec tail -f /dev/null", "```",
	}, "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(cfg.Dir, "seen")); err != nil || string(b) != "a\nb\nc\n" {
		t.Errorf("seen = %q, %v; want a, b, c", b, err)
	}
}

// A block marked security runs only on a stack locked down that way, and
// `make up SECURITY=…` stands for such a stack.
func TestSecurityBlocksRunOnlyOnALockedDownStack(t *testing.T) {
	cfg := testConfig(t)
	cfg.Security = "sasl_ssl"
	var transcript strings.Builder
	cfg.Transcript = &transcript
	err := runLesson(t, cfg, strings.Join([]string{
		"<!-- doctest: stack; security sasl_ssl -->", "```sh", "make up SECURITY=sasl_ssl", "```",
		"<!-- doctest: security sasl_ssl; expect \"locked\" -->", "```sh", "echo locked", "```",
	}, "\n"))
	if err != nil {
		t.Fatalf("%v\n%s", err, transcript.String())
	}
	if !strings.Contains(transcript.String(), "locked") {
		t.Errorf("the security block did not run on a locked-down stack:\n%s", transcript.String())
	}
	if _, err := Parse("x.md", "<!-- doctest: security -->\n```sh\ntrue\n```"); err == nil {
		t.Error("Parse accepted security without a mode")
	}
}
