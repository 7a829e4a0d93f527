// Package registry runs the Confluent-compatible schema registries the
// harness starts beside a broker — Apicurio Registry as a child JVM beside
// the real Kafka brokers, franz-go's in-process fake beside the embedded
// one — and holds the compatibility gate that `kit schemas check` runs
// against a registry.
package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/kafkakit/kit/harness/child"
	"github.com/kafkakit/kit/harness/internal/maven"
)

// ErrMissingTool is wrapped by the error StartApicurio returns when java, or
// mvn while the registry still needs unpacking, is not on PATH, so that a
// caller can tell "this machine cannot run Apicurio" from a registry that
// failed.
var ErrMissingTool = errors.New("registry apicurio")

// CcompatPath is where Apicurio serves its Confluent-compatible API (v7).
const CcompatPath = "/apis/ccompat/v7"

// ApicurioOptions configures StartApicurio. The zero value is ready to use.
type ApicurioOptions struct {
	// Port is the HTTP port on 127.0.0.1; 0 picks a free one.
	Port int
	// Log receives the JVM's output line by line, prefixed "apicurio: ".
	// nil discards it; the tail of a JVM that dies during start-up is in
	// StartApicurio's error either way.
	Log io.Writer
	// PomPath names the registry's distribution (pom.xml next to this
	// source file when ""); a binary built elsewhere passes it.
	PomPath string
	// CacheDir keeps the unpacked distribution so that Maven runs once
	// per pom; "" is os.UserCacheDir()/kafkakit/registry-apicurio.
	CacheDir string
	// JVMOptions replaces the JVM's default options (a 256 MB heap, the
	// serial collector, C1 only: start-up matters more than peak speed
	// for a registry asked a few hundred questions per run).
	JVMOptions []string
}

// Apicurio is a running Apicurio Registry, storing in memory (H2): every
// start is an empty registry.
type Apicurio struct {
	proc *child.Process
	port int
}

// StartApicurio unpacks the registry (the first run on a machine asks
// Maven, which downloads about 110 MB; ctx bounds it), starts it and returns
// once its Confluent-compatible API answers. On error nothing is left
// running.
func StartApicurio(ctx context.Context, opts ApicurioOptions) (_ *Apicurio, err error) {
	java, err := exec.LookPath("java")
	if err != nil {
		return nil, fmt.Errorf("%w: java not found on PATH (install a JDK 17: apt-get install openjdk-17-jre-headless)", ErrMissingTool)
	}
	pom := opts.PomPath
	if pom == "" {
		_, file, _, ok := runtime.Caller(0)
		if !ok {
			return nil, errors.New("registry apicurio: cannot locate pom.xml from the source path; set ApicurioOptions.PomPath")
		}
		pom = filepath.Join(filepath.Dir(file), "pom.xml")
	}
	cacheDir := opts.CacheDir
	if cacheDir == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			return nil, fmt.Errorf("registry apicurio: no user cache dir (set ApicurioOptions.CacheDir): %w", err)
		}
		cacheDir = filepath.Join(dir, "kafkakit", "registry-apicurio")
	}
	jar, err := unpack(ctx, pom, cacheDir)
	if err != nil {
		return nil, err
	}
	port := opts.Port
	if port == 0 {
		if port, err = child.FreePort(); err != nil {
			return nil, fmt.Errorf("registry apicurio: %w", err)
		}
	}
	jvm := opts.JVMOptions
	if jvm == nil {
		jvm = []string{"-Xms64m", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"}
	}
	args := append(jvm,
		// A JVM out of heap is better dead, with the reason in the log
		// tail, than limping on.
		"-XX:+ExitOnOutOfMemoryError",
		"-Djava.awt.headless=true",
		"-Dquarkus.http.host=127.0.0.1",
		"-Dquarkus.http.port="+strconv.Itoa(port),
		// Every request would be a log line; the harness's logs are for
		// what goes wrong.
		"-Dquarkus.http.access-log.enabled=false",
		// The default storage, named so that no environment of the
		// machine's (APICURIO_STORAGE_KIND ...) points it elsewhere: SQL
		// on an in-memory H2 database.
		"-Dapicurio.storage.kind=sql", "-Dapicurio.storage.sql.kind=h2",
		"-jar", jar)
	proc, err := child.Start(child.Spec{Name: "apicurio", Path: java, Args: args, Dir: filepath.Dir(jar)}, child.NewLog(opts.Log))
	if err != nil {
		return nil, fmt.Errorf("registry apicurio: %w", err)
	}
	a := &Apicurio{proc: proc, port: port}
	defer func() {
		if err != nil {
			_ = a.Close(context.WithoutCancel(ctx))
		}
	}()
	// Quarkus answers HTTP only once the application has started, storage
	// included, so the first 200 from the API is readiness.
	subjects := a.URL() + "/subjects"
	err = proc.WaitUntil(ctx, "Apicurio Registry answering on "+subjects, 250*time.Millisecond, func(ctx context.Context) bool {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, subjects, nil)
		if err != nil {
			return false
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if err != nil {
		return nil, fmt.Errorf("registry apicurio: %w", err)
	}
	return a, nil
}

// URL is the base URL of the Confluent-compatible API, what
// SCHEMA_REGISTRY_URL holds.
func (a *Apicurio) URL() string {
	return "http://127.0.0.1:" + strconv.Itoa(a.port) + CcompatPath
}

// Close stops the JVM (SIGTERM, then SIGKILL after child.StopGrace or when
// ctx ends) and returns once it has exited.
func (a *Apicurio) Close(ctx context.Context) error {
	a.proc.Stop(ctx, syscall.SIGTERM)
	return nil
}

// unpack returns the runner jar of the distribution pomPath names,
// unpacked once under cacheDir (maven.Cached): editing the pom unpacks
// again, and so does a directory whose jar is gone.
func unpack(ctx context.Context, pomPath, cacheDir string) (string, error) {
	dist, err := maven.Cached(ctx, pomPath, cacheDir, "dist-%s",
		func(out, scratch string) []string {
			return []string{"dependency:unpack", "-DoutputDirectory=" + out,
				// The plugin's markers would otherwise land in target/
				// beside the pom, inside the source tree.
				"-DmarkersDirectory=" + filepath.Join(scratch, "markers")}
		},
		func(dir string) bool { _, ok := runnerJar(dir); return ok })
	switch {
	case errors.Is(err, maven.ErrNoMaven):
		return "", fmt.Errorf("%w: %v; it fetches the registry once", ErrMissingTool, err)
	case err != nil:
		return "", fmt.Errorf("registry apicurio: unpack with Maven (the first run downloads about 110 MB): %w", err)
	}
	jar, _ := runnerJar(dist)
	return jar, nil
}

// runnerJar finds the Quarkus runner jar of an unpacked distribution.
func runnerJar(dir string) (string, bool) {
	jars, _ := filepath.Glob(filepath.Join(dir, "apicurio-registry-app-*-runner.jar"))
	if len(jars) != 1 {
		return "", false
	}
	if _, err := os.Stat(filepath.Join(dir, "lib")); err != nil {
		return "", false
	}
	return jars[0], true
}
