// Package prometheus runs a Prometheus server for `kit up -prometheus`:
// Debian's prometheus binary (the prometheus package; `make
// setup-prometheus` installs it) with its data in a fresh temporary
// directory, scraping the services it is given every few seconds with the
// kit's recording rules (deploy/prometheus/rules.yml). Close stops it and
// removes the directory.
package prometheus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kafkakit/kit/harness/child"
)

// ErrMissingTool is wrapped by the error Start returns when no prometheus
// binary is on PATH.
var ErrMissingTool = errors.New("prometheus")

// Options says what to scrape, and where to listen.
type Options struct {
	// Port is the listener port on 127.0.0.1; 0 picks a free one.
	Port int
	// Targets are the scrape jobs: a job (a service's name) and the
	// host:port of each of its instances.
	Targets map[string][]string
	// Rules is a rule file to load (deploy/prometheus/rules.yml); "" for
	// none.
	Rules string
	// ScrapeInterval is how often every target is scraped and the rules
	// evaluated (default 5 s).
	ScrapeInterval time.Duration
	// Log receives the server's output, prefixed "prometheus: "; nil
	// discards it.
	Log io.Writer
}

// Server is a running Prometheus.
type Server struct {
	dir  string
	url  string
	proc *child.Process
}

// Find returns the prometheus binary's path, or an error that says how to
// install it.
func Find() (string, error) {
	path, err := exec.LookPath("prometheus")
	if err != nil {
		return "", fmt.Errorf("%w not found on PATH: `make setup-prometheus` installs it (Debian's prometheus package)", ErrMissingTool)
	}
	return path, nil
}

// Start writes a configuration for opts, starts Prometheus on it and
// returns once Prometheus says it is ready.
func Start(ctx context.Context, opts Options) (_ *Server, err error) {
	bin, err := Find()
	if err != nil {
		return nil, err
	}
	port := opts.Port
	if port == 0 {
		if port, err = child.FreePort(); err != nil {
			return nil, err
		}
	}
	dir, err := os.MkdirTemp("", "kafkakit-prometheus-*")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir, url: "http://127.0.0.1:" + strconv.Itoa(port)}
	defer func() {
		if err != nil {
			s.Close(context.WithoutCancel(ctx))
		}
	}()
	config := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(config, []byte(Config(opts)), 0o644); err != nil {
		return nil, err
	}
	s.proc, err = child.Start(child.Spec{
		Name: "prometheus",
		Path: bin,
		Args: []string{
			"--config.file=" + config,
			"--storage.tsdb.path=" + filepath.Join(dir, "data"),
			"--web.listen-address=127.0.0.1:" + strconv.Itoa(port),
			"--log.level=warn",
		},
		Dir: dir,
	}, child.NewLog(opts.Log))
	if err != nil {
		return nil, err
	}
	client := &http.Client{Timeout: 2 * time.Second}
	err = s.proc.WaitUntil(ctx, "prometheus to be ready", 100*time.Millisecond, func(ctx context.Context) bool {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/-/ready", nil)
		resp, err := client.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Config is the prometheus.yml Start writes for opts: one scrape job per
// service, so `job` names the service a series comes from as in compose's
// configuration (deploy/prometheus/prometheus.yml).
func Config(opts Options) string {
	interval := opts.ScrapeInterval
	if interval <= 0 {
		interval = 5 * time.Second
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by kit up -prometheus.\nglobal:\n  scrape_interval: %s\n  evaluation_interval: %s\n", interval, interval)
	if opts.Rules != "" {
		fmt.Fprintf(&b, "rule_files:\n  - %q\n", opts.Rules)
	}
	b.WriteString("scrape_configs:\n")
	for _, job := range slices.Sorted(maps.Keys(opts.Targets)) {
		quoted := make([]string, len(opts.Targets[job]))
		for i, t := range opts.Targets[job] {
			quoted[i] = strconv.Quote(t)
		}
		fmt.Fprintf(&b, "  - job_name: %q\n    static_configs:\n      - targets: [%s]\n", job, strings.Join(quoted, ", "))
	}
	return b.String()
}

// URL is the server's base URL, e.g. http://127.0.0.1:9090.
func (s *Server) URL() string { return s.url }

// Close stops the server and removes its data.
func (s *Server) Close(ctx context.Context) error {
	if s.proc != nil {
		s.proc.Stop(ctx, syscall.SIGTERM)
	}
	return os.RemoveAll(s.dir)
}
