package main

import (
	"context"
	"io"
	"path/filepath"
	"strings"

	"github.com/kafkakit/kit/harness"
	"github.com/kafkakit/kit/harness/prometheus"
)

// prometheusPort is where `kit up -prometheus` serves Prometheus, as
// compose's observability profile does.
const prometheusPort = 9090

// startPrometheus runs Prometheus on prometheusPort scraping every
// instance of every service, with deploy/prometheus's recording rules.
func startPrometheus(ctx context.Context, stack *harness.Stack, log io.Writer) (*prometheus.Server, error) {
	root, err := harness.RepoRoot()
	if err != nil {
		return nil, err
	}
	targets := map[string][]string{}
	for _, name := range harness.Services {
		for _, u := range stack.URLs(name) {
			targets[name] = append(targets[name], strings.TrimPrefix(u, "http://"))
		}
	}
	return prometheus.Start(ctx, prometheus.Options{
		Port:    prometheusPort,
		Targets: targets,
		Rules:   filepath.Join(root, "deploy", "prometheus", "rules.yml"),
		Log:     log,
	})
}
