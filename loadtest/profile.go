package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/kafkakit/kit/loadtest/internal/pace"
	"github.com/kafkakit/kit/loadtest/internal/report"
)

// startProfiles takes a CPU profile of -profile's length from each service
// that serves Go's debug endpoints, starting when the phase's measured window
// starts, into <out>/profiles/<service>.pprof (read them with `go tool pprof
// -top`). The returned wait blocks until every profile is written and
// returns what went wrong, as warnings for the report.
func startProfiles(ctx context.Context, cfg config, t *target, ph pace.Phase, stderr io.Writer) (wait func() []string) {
	if cfg.profile <= 0 {
		return func() []string { return nil }
	}
	dir := filepath.Join(cfg.out, "profiles")
	var (
		mu       sync.Mutex
		warnings []string
		wg       sync.WaitGroup
	)
	warn := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		warnings = append(warnings, fmt.Sprintf(format, args...))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return func() []string { return []string{fmt.Sprintf("profiles: %v", err)} }
	}
	at := time.Now().Add(ph.Warmup)
	for _, name := range profiled(t.debugURLs) {
		base := t.debugURLs[name]
		if base == "" {
			warn("no CPU profile of %s: its debug endpoints are unknown (DEBUG_ADDR; -debug-urls for a running stack)", name)
			continue
		}
		path := filepath.Join(dir, name+".pprof")
		wg.Go(func() {
			select {
			case <-time.After(time.Until(at)):
			case <-ctx.Done():
				return
			}
			if err := fetchProfile(ctx, base, cfg.profile, path); err != nil {
				warn("CPU profile of %s: %v", name, err)
				return
			}
			fmt.Fprintf(stderr, "loadtest: CPU profile of %s over %v: %s\n", name, cfg.profile, path)
		})
	}
	return func() []string {
		wg.Wait()
		return warnings
	}
}

// fetchProfile saves GET {base}/debug/pprof/profile?seconds=N to path.
func fetchProfile(ctx context.Context, base string, length time.Duration, path string) error {
	ctx, cancel := context.WithTimeout(ctx, length+30*time.Second)
	defer cancel()
	u := fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", base, max(1, int(length.Seconds())))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// profiled lists what to profile: every instance of each service with debug
// endpoints (orders-processor#1, orders-processor#2, ...), or the service's
// name when it has none, to say so.
func profiled(debugURLs map[string]string) []string {
	var out []string
	for _, service := range orderPath {
		var names []string
		for name := range debugURLs {
			if report.ServiceOf(name) == service {
				names = append(names, name)
			}
		}
		if len(names) == 0 {
			names = []string{service}
		}
		sort.Strings(names)
		out = append(out, names...)
	}
	return out
}
