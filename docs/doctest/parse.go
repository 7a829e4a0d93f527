// Package doctest runs the commands of a Markdown lesson as a learner would
// type them, so that the lessons cannot rot.
//
// Every shell block (```sh, ```bash, ```shell, ```console) in a lesson is a
// command to run, and says how in an HTML comment on the line before it,
// which Markdown viewers do not show:
//
//	<!-- doctest -->                          run it; it must exit 0
//	<!-- doctest: expect "PAID" -->           ... and print PAID (repeatable)
//	<!-- doctest: fails "refused" -->         it must fail, printing "refused"
//	<!-- doctest: until "2 member(s)" -->     a read-only command, run again
//	                                          until it prints that (a learner
//	                                          runs it again after a moment)
//	<!-- doctest: ctrl-c "PAID" -->           a command that runs until
//	                                          Ctrl-C: pressed once it has
//	                                          printed that
//	<!-- doctest: terminal 2; expect "listening" -->
//	                                          a long-running command in a
//	                                          second terminal: started, and
//	                                          waited on until it prints that
//	<!-- doctest: stack -->                   `make up`: the test's own stack
//	                                          stands in for it (with FAULTS=1:
//	                                          a stack with a proxy on every
//	                                          link, kit faults pointed at it)
//	<!-- doctest: broker kafka-cluster -->    run only on that broker
//	<!-- doctest: security sasl_ssl -->       run only on a locked-down stack
//	                                          (make up SECURITY=sasl_ssl)
//
// What a learner does with keys, or sees in the log of `make up`, is an HTML
// comment on a line of its own:
//
//	<!-- doctest: ctrl-c terminal 2 -->       Ctrl-C in terminal 2
//	<!-- doctest: ctrl-z terminal 2 -->       Ctrl-Z: the command is frozen
//	<!-- doctest: fg terminal 2 -->           fg: it runs again
//	<!-- doctest: kill terminal 2 -->         kill -9 %1: it dies at once
//	<!-- doctest: log stock-service "order already answered" -->
//	                                          the service logs that
//
// A shell block without a doctest comment is an error: a command in a
// lesson is either run or not written as a command.
package doctest

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Lesson is a parsed Markdown file: its steps in reading order.
type Lesson struct {
	Name  string
	Steps []Step
}

// Step is one thing a learner does: run a block, press keys, or look at a log.
type Step struct {
	Line int // where the step's comment is, 1-based

	// A block to run (Script != "").
	Script   string
	Expect   []string // the output must contain each
	Until    string   // run again until the output contains it (read-only blocks)
	CtrlC    string   // runs until Ctrl-C, pressed once the output contains it
	Fails    bool     // the block must exit non-zero
	Terminal int      // > 0: run in that terminal, in the background
	Stack    bool     // `make up`: the test's own stack stands in for it
	Broker   string   // run only on this broker
	Security string   // run only on a stack with this SECURITY ("" : any)

	// Keys pressed in a terminal (Keys != "": "ctrl-c", "ctrl-z", "fg" or
	// "kill").
	Keys string

	// A line a service logs (LogService != "").
	LogService, LogText string
}

// What prints a step for messages: where it is and what it runs.
func (s Step) What(lesson string) string {
	switch {
	case s.Keys != "":
		return fmt.Sprintf("%s:%d: %s in terminal %d", lesson, s.Line, s.Keys, s.Terminal)
	case s.LogService != "":
		return fmt.Sprintf("%s:%d: %s logs %q", lesson, s.Line, s.LogService, s.LogText)
	}
	where := ""
	if s.Terminal > 0 {
		where = fmt.Sprintf(" (terminal %d)", s.Terminal)
	}
	return fmt.Sprintf("%s:%d%s:\n%s", lesson, s.Line, where, indent(s.Script))
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ")
}

var (
	commentRe = regexp.MustCompile(`^\s*<!--\s*doctest\s*(?::(.*?))?\s*-->\s*$`)
	fenceRe   = regexp.MustCompile("^(\\s*)(```+|~~~+)\\s*([^`\\s]*)")
	makeUpRe  = regexp.MustCompile(`^make up( BROKER=[a-z-]+)?( SECURITY=[a-z_]+)?( FAULTS=1)?$`)
)

// shellInfo are the fence languages that hold commands.
var shellInfo = map[string]bool{"sh": true, "bash": true, "shell": true, "console": true}

// Parse reads a lesson. name is used in messages.
func Parse(name, markdown string) (*Lesson, error) {
	lines := strings.Split(markdown, "\n")
	l := &Lesson{Name: name}
	var pending *Step // a comment waiting for its block
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if m := commentRe.FindStringSubmatch(line); m != nil {
			if pending != nil {
				return nil, fmt.Errorf("%s:%d: a doctest comment for a block must be right before it", name, pending.Line)
			}
			step, err := parseDirectives(m[1])
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %w", name, i+1, err)
			}
			step.Line = i + 1
			if step.Keys != "" || step.LogService != "" {
				l.Steps = append(l.Steps, step)
				continue
			}
			pending = &step
			continue
		}
		m := fenceRe.FindStringSubmatch(line)
		if m == nil {
			if pending != nil {
				return nil, fmt.Errorf("%s:%d: a doctest comment for a block must be right before it", name, pending.Line)
			}
			continue
		}
		// A fenced block: collect it up to its closing fence.
		pad, fence, lang := m[1], m[2], m[3]
		var body []string
		closed := false
		for i++; i < len(lines); i++ {
			if t := strings.TrimSpace(lines[i]); strings.HasPrefix(t, fence) && strings.Trim(t, fence[:1]) == "" {
				closed = true
				break
			}
			body = append(body, strings.TrimPrefix(lines[i], pad))
		}
		if !closed {
			return nil, fmt.Errorf("%s:%d: a fenced block is never closed", name, i)
		}
		script := strings.Join(body, "\n") + "\n"
		if !shellInfo[lang] {
			if pending != nil {
				return nil, fmt.Errorf("%s:%d: a doctest comment is before a %q block; only shell blocks run", name, pending.Line, lang)
			}
			continue
		}
		if pending == nil {
			return nil, fmt.Errorf("%s:%d: a shell block without a doctest comment: say how the test runs it (see docs/doctest)", name, i-len(body))
		}
		step := *pending
		pending = nil
		step.Script = script
		if err := check(step); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, step.Line, err)
		}
		l.Steps = append(l.Steps, step)
	}
	if pending != nil {
		return nil, fmt.Errorf("%s:%d: a doctest comment with no block after it", name, pending.Line)
	}
	return l, nil
}

// check refuses combinations that cannot mean anything.
func check(s Step) error {
	script := strings.TrimSpace(s.Script)
	switch {
	case s.Stack && (len(s.Expect) > 0 || s.Until != "" || s.CtrlC != "" || s.Fails || s.Terminal > 0):
		return fmt.Errorf("stack stands alone: the test's own stack stands in for the block")
	case s.Stack && !makeUpRe.MatchString(script):
		return fmt.Errorf("stack is for a block that is `make up` (with BROKER=, SECURITY= and FAULTS=1 at most), not %q", script)
	case s.CtrlC != "" && (s.Until != "" || s.Fails || s.Terminal > 0):
		return fmt.Errorf("ctrl-c is for a block in the lesson's shell that runs until stopped: not with until, fails or terminal")
	case s.Until != "" && (s.Fails || s.Terminal > 0):
		return fmt.Errorf("until runs a block again and again in the lesson's shell: not with fails or terminal")
	case s.Fails && s.Terminal > 0:
		return fmt.Errorf("fails is for a block that ends, not one in a terminal")
	case s.Terminal > 0 && len(s.Expect) == 0:
		return fmt.Errorf(`a terminal block needs expect "...": what it prints once it is running`)
	case s.Until != "":
		return ReadOnly(s.Script)
	}
	return nil
}

func parseDirectives(text string) (Step, error) {
	var s Step
	all, err := tokens(text)
	if err != nil {
		return s, err
	}
	for _, words := range all {
		if len(words) == 0 {
			continue
		}
		d := strings.Join(words, " ")
		arg := func(n int) error {
			if len(words) != n+1 {
				return fmt.Errorf("doctest %q: want %d argument(s)", d, n)
			}
			return nil
		}
		switch words[0] {
		case "expect":
			if err := arg(1); err != nil {
				return s, err
			}
			s.Expect = append(s.Expect, words[1])
		case "until":
			if err := arg(1); err != nil {
				return s, err
			}
			s.Until = words[1]
		case "fails":
			if err := arg(1); err != nil {
				return s, err
			}
			s.Fails = true
			s.Expect = append(s.Expect, words[1])
		case "terminal":
			if err := arg(1); err != nil {
				return s, err
			}
			if s.Terminal, err = terminalNumber(words[1]); err != nil {
				return s, err
			}
		case "stack":
			if err := arg(0); err != nil {
				return s, err
			}
			s.Stack = true
		case "broker":
			if err := arg(1); err != nil {
				return s, err
			}
			s.Broker = words[1]
		case "security":
			if err := arg(1); err != nil {
				return s, err
			}
			s.Security = words[1]
		case "ctrl-c":
			if len(words) == 2 {
				s.CtrlC = words[1]
				continue
			}
			fallthrough
		case "ctrl-z", "fg", "kill":
			if len(words) != 3 || words[1] != "terminal" {
				return s, fmt.Errorf("doctest %q: want %s terminal <n>", d, words[0])
			}
			if s.Terminal, err = terminalNumber(words[2]); err != nil {
				return s, err
			}
			s.Keys = words[0]
		case "log":
			if err := arg(2); err != nil {
				return s, err
			}
			s.LogService, s.LogText = words[1], words[2]
		default:
			return s, fmt.Errorf("doctest: unknown directive %q", words[0])
		}
	}
	if (s.Keys != "" || s.LogService != "") && (len(s.Expect) > 0 || s.Until != "" || s.CtrlC != "" || s.Fails || s.Stack || s.Broker != "" || s.Security != "") {
		return s, fmt.Errorf("doctest: keys and log stand alone")
	}
	return s, nil
}

func terminalNumber(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 2 {
		return 0, fmt.Errorf("doctest: terminal %q: want a number from 2 (the lesson's own shell is terminal 1)", s)
	}
	return n, nil
}

// tokens splits directives at semicolons and each into words and quoted
// strings, "like this" or 'like "this"' (no escapes inside quotes; a
// semicolon inside quotes is text).
func tokens(s string) ([][]string, error) {
	out := [][]string{nil}
	s = strings.TrimSpace(s)
	for s != "" {
		switch q := s[0]; q {
		case ';':
			out = append(out, nil)
			s = strings.TrimSpace(s[1:])
			continue
		case '"', '\'':
			end := strings.IndexByte(s[1:], q)
			if end < 0 {
				return nil, fmt.Errorf("doctest: unclosed quote in %q", s)
			}
			out[len(out)-1] = append(out[len(out)-1], s[1:1+end])
			s = strings.TrimSpace(s[2+end:])
			continue
		}
		end := strings.IndexAny(s, " \t\"';")
		if end < 0 {
			end = len(s)
		}
		out[len(out)-1] = append(out[len(out)-1], s[:end])
		s = strings.TrimSpace(s[end:])
	}
	return out, nil
}

// readOnlyStages are the commands an `until` block may run: asking again
// must change nothing.
var readOnlyStages = []*regexp.Regexp{
	regexp.MustCompile(`^kit (topics|groups)\b`),
	regexp.MustCompile(`^kit tail\b.*\s-exit\b`),
	regexp.MustCompile(`^kit dlq list\b`),
	regexp.MustCompile(`^curl\b`),
	regexp.MustCompile(`^(cat|grep|head|tail|cut|sort|wc)\b`),
}

// stageSep splits a command line into its stages: pipes, && and ||, ;.
var stageSep = regexp.MustCompile(`\|\||&&|[|;]`)

// writingCurl are curl options that send something.
var writingCurl = regexp.MustCompile(`\s(-d|--data\S*|-X|--request|-F|--form|-T|--upload-file)\b`)

// ReadOnly reports an error unless every command of script only reads:
// kit topics, groups, tail -exit, dlq list; curl without a body or method;
// filters such as grep.
func ReadOnly(script string) error {
	for _, line := range strings.Split(script, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		for _, stage := range stageSep.Split(line, -1) {
			stage = strings.TrimSpace(stage)
			ok := false
			for _, re := range readOnlyStages {
				ok = ok || re.MatchString(stage)
			}
			if !ok || (strings.HasPrefix(stage, "curl") && writingCurl.MatchString(" "+stage)) ||
				strings.Contains(stage, "-watch") || strings.Contains(stage, ">") || strings.Contains(stage, "tail -f") {
				return fmt.Errorf("until runs its block again and again, so it must only read; %q may change something", stage)
			}
		}
	}
	return nil
}
