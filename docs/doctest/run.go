package doctest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Config is where and how a lesson's commands run.
type Config struct {
	// Dir is the working directory of every shell: the repository's root,
	// where a learner stands.
	Dir string
	// Env is the environment of every shell (a learner's terminal).
	Env []string
	// Ports points well-known addresses at the stack under test.
	Ports *Ports
	// Broker is the kind of broker under test; blocks for another are
	// left out (and said so in the transcript).
	Broker string
	// Security is the stack's SECURITY ("" for plaintext); blocks for
	// another are left out, as for another broker.
	Security string
	// Faults says the stack has a proxy on every link (make up FAULTS=1),
	// for kit faults.
	Faults bool
	// Logs returns what a service of the stack has logged so far.
	Logs func(service string) string
	// StepTimeout bounds each step: a block's run, a wait for output.
	StepTimeout time.Duration
	// Transcript receives every step and what it printed.
	Transcript io.Writer
}

var (
	brokerRe   = regexp.MustCompile(`BROKER=(\S+)`)
	securityRe = regexp.MustCompile(`SECURITY=(\S+)`)
)

// WantsFaults reports whether s is `make up … FAULTS=1`: the stack it
// stands for has a proxy on every link.
func WantsFaults(s Step) bool {
	return s.Stack && strings.HasSuffix(strings.TrimSpace(s.Script), " FAULTS=1")
}

// pollEvery is how often an until block or a log wait looks again.
const pollEvery = 250 * time.Millisecond

// Run runs a lesson's steps in order: blocks in one shell (terminal 1), so
// variables carry from block to block as in a learner's terminal; terminal
// blocks in shells of their own. Everything it started is stopped before it
// returns.
func Run(ctx context.Context, cfg Config, l *Lesson) (err error) {
	tmp, err := os.MkdirTemp("", "doctest-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	sh, err := startShell(cfg, tmp)
	if err != nil {
		return err
	}
	terms := map[int]*terminal{}
	defer func() {
		for n, t := range terms {
			if stopErr := t.interrupt(cfg.StepTimeout); stopErr != nil && err == nil {
				err = fmt.Errorf("%s: terminal %d did not stop on Ctrl-C at the end of the lesson: %w\n%s", l.Name, n, stopErr, indent(t.out.String()))
			}
		}
		if closeErr := sh.close(cfg.StepTimeout); closeErr != nil && err == nil {
			err = fmt.Errorf("%s: %w", l.Name, closeErr)
		}
	}()
	for i, s := range l.Steps {
		if s.Broker != "" && s.Broker != cfg.Broker {
			fmt.Fprintf(cfg.Transcript, "NOTE: %s:%d runs on the %s broker only; this run is on %s\n", l.Name, s.Line, s.Broker, cfg.Broker)
			continue
		}
		if s.Security != cfg.Security && s.Security != "" {
			fmt.Fprintf(cfg.Transcript, "NOTE: %s:%d runs with SECURITY=%s only; this run is %s\n", l.Name, s.Line, s.Security, securityName(cfg.Security))
			continue
		}
		if err := runStep(ctx, cfg, sh, terms, tmp, i, s); err != nil {
			var out strings.Builder
			for n, t := range terms {
				fmt.Fprintf(&out, "\nterminal %d printed:\n%s", n, indent(t.out.String()))
			}
			return fmt.Errorf("%s\n%w%s", s.What(l.Name), err, out.String())
		}
	}
	return nil
}

func runStep(ctx context.Context, cfg Config, sh *shell, terms map[int]*terminal, tmp string, i int, s Step) error {
	ctx, cancel := context.WithTimeout(ctx, cfg.StepTimeout)
	defer cancel()
	switch {
	case s.Stack:
		if m := brokerRe.FindStringSubmatch(s.Script); m != nil && m[1] != cfg.Broker {
			return fmt.Errorf("it starts the kit on the %s broker, and this run is on %s: mark it broker %s", m[1], cfg.Broker, m[1])
		}
		if m := securityRe.FindStringSubmatch(s.Script); m != nil && m[1] != cfg.Security {
			return fmt.Errorf("it starts the kit with SECURITY=%s, and this run is %s: mark it security %s", m[1], securityName(cfg.Security), m[1])
		}
		if WantsFaults(s) && !cfg.Faults {
			return fmt.Errorf("it starts the kit with FAULTS=1, and this run's stack has no proxies on its links: start it with harness.Options.Faults")
		}
		fmt.Fprintf(cfg.Transcript, "$ %s  # the test's own stack stands in\n", strings.TrimSpace(s.Script))
		return nil
	case s.Keys != "":
		fmt.Fprintf(cfg.Transcript, "[%s in terminal %d]\n", s.Keys, s.Terminal)
		t := terms[s.Terminal]
		if t == nil {
			return fmt.Errorf("terminal %d runs nothing", s.Terminal)
		}
		switch s.Keys {
		case "ctrl-z":
			// Ctrl-Z sends SIGTSTP; SIGSTOP freezes the same way and cannot
			// be caught or ignored by what runs there.
			return t.signal(syscall.SIGSTOP)
		case "fg":
			return t.signal(syscall.SIGCONT)
		case "kill":
			delete(terms, s.Terminal)
			return t.kill()
		}
		delete(terms, s.Terminal)
		return t.interrupt(cfg.StepTimeout)
	case s.LogService != "":
		fmt.Fprintf(cfg.Transcript, "[waiting for %s to log %q]\n", s.LogService, s.LogText)
		return poll(ctx, func() (bool, string) {
			log := cfg.Logs(s.LogService)
			return strings.Contains(log, s.LogText), lastLines(log, 20)
		})
	}
	script, err := cfg.Ports.Rewrite(s.Script)
	if err != nil {
		return err
	}
	fmt.Fprintf(cfg.Transcript, "%s", prompt(script))
	if s.Terminal > 0 {
		if terms[s.Terminal] != nil {
			return fmt.Errorf("terminal %d still runs a command: press Ctrl-C there first", s.Terminal)
		}
		t, err := startTerminal(cfg, filepath.Join(tmp, fmt.Sprintf("terminal-%d-%d.sh", s.Terminal, i)), script)
		if err != nil {
			return err
		}
		terms[s.Terminal] = t
		for _, want := range s.Expect {
			if err := t.waitFor(ctx, want); err != nil {
				return err
			}
		}
		return nil
	}
	file := filepath.Join(tmp, fmt.Sprintf("block-%d.sh", i))
	if err := os.WriteFile(file, []byte(script), 0o600); err != nil {
		return err
	}
	if s.Until != "" {
		var last string
		err := poll(ctx, func() (bool, string) {
			out, _, err := sh.source(ctx, file)
			if err != nil {
				return false, err.Error()
			}
			last = out
			return strings.Contains(out, s.Until), out
		})
		fmt.Fprint(cfg.Transcript, last)
		return err
	}
	if s.CtrlC != "" {
		out, err := sh.sourceUntil(ctx, file, s.CtrlC)
		fmt.Fprintf(cfg.Transcript, "%s[ctrl-c]\n", out)
		if err != nil {
			return err
		}
		for _, want := range s.Expect {
			if !strings.Contains(out, want) {
				return fmt.Errorf("its output lacks %q:\n%s", want, indent(out))
			}
		}
		return nil
	}
	out, failed, err := sh.source(ctx, file)
	fmt.Fprint(cfg.Transcript, out)
	if err != nil {
		return err
	}
	switch {
	case s.Fails && failed == "":
		return fmt.Errorf("it should have failed, and exited 0:\n%s", indent(out))
	case !s.Fails && failed != "":
		return fmt.Errorf("%s:\n%s", failed, indent(out))
	}
	for _, want := range s.Expect {
		if !strings.Contains(out, want) {
			return fmt.Errorf("its output lacks %q:\n%s", want, indent(out))
		}
	}
	return nil
}

func prompt(script string) string {
	return "$ " + strings.ReplaceAll(strings.TrimRight(script, "\n"), "\n", "\n> ") + "\n"
}

// poll calls cond until it reports true or ctx ends; last is what to show
// if it never does.
func poll(ctx context.Context, cond func() (ok bool, last string)) error {
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		ok, last := cond()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("still not there when the step's time was up (%w); last seen:\n%s", ctx.Err(), indent(last))
		case <-tick.C:
		}
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// shell is terminal 1: one bash that sources each block in turn, so shell
// variables carry over, and reports each block's status after a marker.
type shell struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *buffer
	marker string
	exited chan struct{}
	// The marker lines the shell prints: a block done (its status), a
	// background job started (its pid), a command failed (line and text).
	doneRe, jobRe, failedRe *regexp.Regexp
}

func startShell(cfg Config, tmp string) (*shell, error) {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	marker := "__doctest_" + hex.EncodeToString(b)
	cmd := exec.Command("bash", "--noprofile", "--norc")
	cmd.Dir, cmd.Env = cfg.Dir, cfg.Env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out := newBuffer()
	cmd.Stdout, cmd.Stderr = out, out
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start bash (the lessons' commands are shell commands): %w", err)
	}
	sh := &shell{cmd: cmd, stdin: stdin, out: out, marker: marker, exited: make(chan struct{}),
		doneRe:   regexp.MustCompile(`\n` + marker + `-done (\d+)\n`),
		jobRe:    regexp.MustCompile(`\n` + marker + `-job (\d+)\n`),
		failedRe: regexp.MustCompile(`\n?` + marker + `-failed (line \d+: .*)\n`),
	}
	go func() {
		_ = cmd.Wait()
		close(sh.exited)
	}()
	// pipefail: a failing command on the left of a pipe fails the block.
	// The ERR trap names any command of a block that fails, not only the
	// last one, without ending the shell.
	setup := fmt.Sprintf("set -o pipefail\ntrap 'printf \"\\n%s-failed line %%s: %%s\\n\" \"$LINENO\" \"$BASH_COMMAND\"' ERR\n", marker)
	if _, err := io.WriteString(stdin, setup); err != nil {
		return nil, err
	}
	return sh, nil
}

// source runs a block file in the shell and returns what it printed and,
// when a command of it failed, which one.
func (sh *shell) source(ctx context.Context, file string) (out, failed string, err error) {
	from := sh.out.len()
	cmd := fmt.Sprintf("source %q </dev/null\nprintf '\\n%s-done %%d\\n' \"$?\"\n", file, sh.marker)
	if _, err := io.WriteString(sh.stdin, cmd); err != nil {
		return "", "", fmt.Errorf("the shell is gone: %w", err)
	}
	for {
		changed := sh.out.changed() // before reading, so no write goes unnoticed
		text := sh.out.from(from)
		if m := sh.doneRe.FindStringSubmatchIndex(text); m != nil {
			status, _ := strconv.Atoi(text[m[2]:m[3]])
			out = text[:m[0]]
			if f := sh.failedRe.FindStringSubmatch(out); f != nil {
				failed = "failed at " + f[1]
			} else if status != 0 {
				failed = fmt.Sprintf("exited %d", status)
			}
			return sh.failedRe.ReplaceAllString(out, "\n"), failed, nil
		}
		select {
		case <-changed:
		case <-sh.exited:
			return text, "", errors.New("the shell exited")
		case <-ctx.Done():
			// The block hangs: stop it, keep what it printed.
			_ = syscall.Kill(-sh.cmd.Process.Pid, syscall.SIGKILL)
			return text, "", fmt.Errorf("it did not finish in time (%w)", ctx.Err())
		}
	}
}

// sourceUntil runs a block that runs until stopped (curl -N, a follow) as
// a job of its own, and presses Ctrl-C there once it has printed want: the
// shell itself goes on, as a terminal's does.
func (sh *shell) sourceUntil(ctx context.Context, file, want string) (string, error) {
	from := sh.out.len()
	cmd := fmt.Sprintf("set -m\nsource %q </dev/null &\nprintf '\\n%s-job %%d\\n' \"$!\"\nwait \"$!\"\nprintf '\\n%s-done %%d\\n' \"$?\"\nset +m\n", file, sh.marker, sh.marker)
	if _, err := io.WriteString(sh.stdin, cmd); err != nil {
		return "", fmt.Errorf("the shell is gone: %w", err)
	}
	// Ctrl-C makes wait fail, which the ERR trap reports: expected here.
	clean := func(text string) string {
		text = sh.failedRe.ReplaceAllString(sh.jobRe.ReplaceAllString(text, "\n"), "\n")
		if m := sh.doneRe.FindStringIndex(text); m != nil {
			text = text[:m[0]]
		}
		return text
	}
	job, pressed := 0, false
	for {
		changed := sh.out.changed()
		text := sh.out.from(from)
		if m := sh.jobRe.FindStringSubmatch(text); m != nil && job == 0 {
			job, _ = strconv.Atoi(m[1])
		}
		if sh.doneRe.MatchString(text) {
			if !pressed {
				return clean(text), fmt.Errorf("it ended before it printed %q", want)
			}
			return clean(text), nil
		}
		if job != 0 && !pressed && strings.Contains(clean(text), want) {
			_ = syscall.Kill(-job, syscall.SIGINT)
			pressed = true
		}
		select {
		case <-changed:
		case <-sh.exited:
			return clean(text), errors.New("the shell exited")
		case <-ctx.Done():
			if job != 0 {
				_ = syscall.Kill(-job, syscall.SIGKILL)
			}
			if pressed {
				return clean(text), fmt.Errorf("it did not stop on Ctrl-C (%w)", ctx.Err())
			}
			return clean(text), fmt.Errorf("it has not printed %q in time (%w)", want, ctx.Err())
		}
	}
}

func (sh *shell) close(timeout time.Duration) error {
	_ = sh.stdin.Close() // end of input: bash exits
	select {
	case <-sh.exited:
		return nil
	case <-time.After(timeout):
		_ = syscall.Kill(-sh.cmd.Process.Pid, syscall.SIGKILL)
		<-sh.exited
		return errors.New("the lesson's shell did not exit at the end of its input")
	}
}

// terminal is a second (third, ...) terminal: a command that keeps
// running while the lesson goes on, in a process group of its own so that
// keys reach everything it started, as a terminal's would.
type terminal struct {
	cmd    *exec.Cmd
	out    *buffer
	exited chan struct{}
}

func startTerminal(cfg Config, file, script string) (*terminal, error) {
	if err := os.WriteFile(file, []byte(script), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command("bash", "--noprofile", "--norc", "-o", "pipefail", file)
	cmd.Dir, cmd.Env = cfg.Dir, cfg.Env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out := newBuffer()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	t := &terminal{cmd: cmd, out: out, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(t.exited)
	}()
	return t, nil
}

// waitFor returns once the terminal has printed want.
func (t *terminal) waitFor(ctx context.Context, want string) error {
	for {
		changed := t.out.changed()
		if strings.Contains(t.out.String(), want) {
			return nil
		}
		select {
		case <-changed:
		case <-t.exited:
			if strings.Contains(t.out.String(), want) {
				return nil
			}
			return fmt.Errorf("it ended (%v) without printing %q:\n%s", t.cmd.ProcessState, want, indent(t.out.String()))
		case <-ctx.Done():
			return fmt.Errorf("it has not printed %q in time (%w):\n%s", want, ctx.Err(), indent(t.out.String()))
		}
	}
}

func (t *terminal) signal(sig syscall.Signal) error {
	select {
	case <-t.exited:
		return fmt.Errorf("it has already ended (%v):\n%s", t.cmd.ProcessState, indent(t.out.String()))
	default:
	}
	return syscall.Kill(-t.cmd.Process.Pid, sig)
}

// interrupt is Ctrl-C: SIGINT to everything in the terminal (woken first
// if it was frozen), then a wait for it to end. What does not end in time
// is killed, and that is an error.
func (t *terminal) interrupt(timeout time.Duration) error {
	pg := -t.cmd.Process.Pid
	_ = syscall.Kill(pg, syscall.SIGCONT)
	_ = syscall.Kill(pg, syscall.SIGINT)
	select {
	case <-t.exited:
		// The shell is gone; make sure nothing it started lingers.
		_ = syscall.Kill(pg, syscall.SIGKILL)
		return nil
	case <-time.After(timeout):
		_ = syscall.Kill(pg, syscall.SIGKILL)
		<-t.exited
		return errors.New("still running after Ctrl-C; killed")
	}
}

// kill is kill -9: everything in the terminal dies at once, without a
// chance to say goodbye to anyone.
func (t *terminal) kill() error {
	if err := t.signal(syscall.SIGKILL); err != nil {
		return err
	}
	<-t.exited
	return nil
}

// buffer collects a process's output and says when more arrived.
type buffer struct {
	mu   sync.Mutex
	b    []byte
	news chan struct{}
}

func newBuffer() *buffer { return &buffer{news: make(chan struct{})} }

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b = append(b.b, p...)
	close(b.news)
	b.news = make(chan struct{})
	return len(p), nil
}

func (b *buffer) String() string { return b.from(0) }

func (b *buffer) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.b)
}

func (b *buffer) from(i int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.b[i:])
}

// changed returns a channel closed at the next write.
func (b *buffer) changed() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.news
}

// securityName says what a SECURITY value means, for messages.
func securityName(mode string) string {
	if mode == "" {
		return "plaintext"
	}
	return "with SECURITY=" + mode
}
