package registry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/kafkakit/kit/harness/child"
)

// InProcess is the registry beside the embedded broker, where there is no
// JVM: franz-go's fake Confluent Schema Registry (pkg/sr/srfake) served on a
// loopback port of this process. It stores subjects, versions and ids and
// answers the Confluent API as the real one does, in memory.
//
// It does not check compatibility: a compatibility question always answers
// compatible and every registration is accepted, whatever the subject's
// level. The compatibility gate (Check) runs on Apicurio.
type InProcess struct {
	srv  *http.Server
	port int
	done chan error // Serve's result
}

// StartInProcess serves a new, empty fake registry on 127.0.0.1 (port 0
// picks a free one).
func StartInProcess(port int) (*InProcess, error) {
	if port == 0 {
		var err error
		if port, err = child.FreePort(); err != nil {
			return nil, fmt.Errorf("registry in-process: %w", err)
		}
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("registry in-process: %w", err)
	}
	// Served under Apicurio's path as well as at the root, so that one URL
	// (svc.DefaultRegistryURL, kit's default) reaches either registry.
	fake := srfake.NewRegistry().Handler()
	mux := http.NewServeMux()
	mux.Handle("/", fake)
	mux.Handle(CcompatPath+"/", http.StripPrefix(CcompatPath, fake))
	r := &InProcess{
		srv:  &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second},
		port: port,
		done: make(chan error, 1),
	}
	go func() { r.done <- r.srv.Serve(ln) }()
	return r, nil
}

// URL is the registry's Confluent-compatible API, what SCHEMA_REGISTRY_URL
// holds: at Apicurio's path, as Apicurio's URL is.
func (r *InProcess) URL() string { return "http://127.0.0.1:" + strconv.Itoa(r.port) + CcompatPath }

// Close stops serving, letting requests in flight finish until ctx ends.
func (r *InProcess) Close(ctx context.Context) error {
	err := r.srv.Shutdown(ctx)
	if serveErr := <-r.done; !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	if err != nil {
		return fmt.Errorf("registry in-process: %w", err)
	}
	return nil
}
