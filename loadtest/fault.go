package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"

	"github.com/kafkakit/kit/harness"
	"github.com/kafkakit/kit/harness/netfault"
	"github.com/kafkakit/kit/loadtest/internal/pace"
	"github.com/kafkakit/kit/loadtest/internal/pipeline"
	"github.com/kafkakit/kit/loadtest/internal/report"
	"github.com/kafkakit/kit/loadtest/internal/stats"
)

// stepFault is -fault: a fault held on some links of the stack during a
// ramp step, run beside the same step without it.
type stepFault struct {
	service string // a service (every instance) or an instance label: orders-processor-2
	link    string // netfault.Broker, "broker-<id>" or netfault.Database
	fault   netfault.Fault
}

// String is the fault as -fault takes it.
func (f stepFault) String() string { return f.service + ":" + f.link + ":" + f.fault.String() }

// parseStepFault reads -fault: SERVICE:LINK:FAULT, such as
// stock-service:broker:latency=50ms. SERVICE is a service or one instance
// (orders-processor-2), LINK broker, broker-<id> or database, FAULT what
// kit faults add takes: latency=DURATION, bandwidth=KB_PER_SECOND,
// reset=DURATION, cut or down.
func parseStepFault(s string) (*stepFault, error) {
	parts := strings.SplitN(strings.TrimSpace(s), ":", 3)
	if len(parts) != 3 {
		return nil, fmt.Errorf("-fault %q: want SERVICE:LINK:FAULT, such as stock-service:broker:latency=50ms", s)
	}
	f := &stepFault{service: parts[0], link: parts[1]}
	if !isServiceOrInstance(f.service) {
		return nil, fmt.Errorf("-fault %q: service %q: want one of %s, or an instance such as orders-processor-2", s, f.service, strings.Join(harness.Services, ", "))
	}
	if !isLink(f.link) {
		return nil, fmt.Errorf("-fault %q: link %q: want broker (every broker), broker-<id> or database", s, f.link)
	}
	fault, err := netfault.ParseFault(parts[2])
	if err != nil {
		return nil, fmt.Errorf("-fault %q: %w", s, err)
	}
	f.fault = fault
	return f, nil
}

// isServiceOrInstance reports whether label is a service of the kit or an
// instance label of one (service-n, n from 2 to harness.MaxInstances).
func isServiceOrInstance(label string) bool {
	for _, service := range harness.Services {
		if label == service {
			return true
		}
		if n, ok := strings.CutPrefix(label, service+"-"); ok {
			i, err := strconv.Atoi(n)
			return err == nil && i >= 2 && i <= harness.MaxInstances
		}
	}
	return false
}

func isLink(link string) bool {
	if link == netfault.Broker || link == netfault.Database {
		return true
	}
	id, ok := strings.CutPrefix(link, netfault.Broker+"-")
	n, err := strconv.Atoi(id)
	return ok && err == nil && n >= 0
}

// checkFault refuses a -fault the run cannot hold, before anything starts.
func checkFault(c config) error {
	f := c.fault
	if f == nil {
		return nil
	}
	switch {
	case c.mode != "orders":
		return errors.New("-fault is held during the ramp steps of -mode orders")
	case len(c.ramp) == 0:
		return errors.New("-fault is held during each -ramp step, beside the same step without it: give -ramp")
	case c.security != "":
		return errors.New("-fault with -security: the harness does not proxy a locked-down stack's links yet; run the fault in plaintext")
	case c.target == "harness" && c.broker == "embedded" && f.link != netfault.Database:
		return fmt.Errorf("-fault %s on the embedded broker: kfake cannot proxy per service (it advertises one address to every client, so a service would go around its proxy from its first metadata answer); use -broker kafka or kafka-cluster, or a database link with -db postgres", f)
	case c.target == "harness" && f.link == netfault.Database && c.db != "postgres":
		return fmt.Errorf("-fault %s: a database link needs -db postgres (SQLite is a file in the service's own process: there is no link to slow)", f)
	case c.target == "harness" && f.link != netfault.Broker && f.link != netfault.Database && c.broker != "kafka-cluster" && f.link != netfault.Broker+"-0":
		return fmt.Errorf("-fault %s: the %s broker has one broker, broker-0; broker-1 and broker-2 are on -broker kafka-cluster", f, c.broker)
	}
	return nil
}

// faultSwitch puts the run's fault on its links and takes it off again.
type faultSwitch interface {
	// apply puts the fault on every link it names.
	apply() error
	// heal takes every fault off those links.
	heal() error
	// links names the links, for the report.
	links() []string
}

// harnessFaults holds the fault on the links of a stack the runner
// started with Options.Faults.
type harnessFaults struct {
	l     *netfault.Links
	f     netfault.Fault
	names []string
}

// newHarnessFaults finds the links f names among the stack's; none is an
// error before anything is measured.
func newHarnessFaults(l *netfault.Links, f *stepFault) (*harnessFaults, error) {
	if l == nil {
		return nil, errors.New("-fault: the stack has no proxied links (started without faults)")
	}
	names, err := l.Select(f.service, f.link)
	if err != nil {
		return nil, fmt.Errorf("-fault %s: %w", f, err)
	}
	return &harnessFaults{l: l, f: f.fault, names: names}, nil
}

func (h *harnessFaults) apply() error {
	for _, name := range h.names {
		if err := h.l.Apply(name, h.f); err != nil {
			return err
		}
	}
	return nil
}

func (h *harnessFaults) heal() error {
	var errs []error
	for _, name := range h.names {
		errs = append(errs, h.l.Heal(name))
	}
	return errors.Join(errs...)
}

func (h *harnessFaults) links() []string { return h.names }

// apiFaults holds the fault through the toxiproxy API of a running `kit up
// -faults` (kit faults does the same).
type apiFaults struct {
	api     string
	f       netfault.Fault
	proxies []*toxiclient.Proxy
}

// newAPIFaults finds the links f names among those the API at api lists.
func newAPIFaults(api string, f *stepFault) (*apiFaults, error) {
	picked, err := netfault.SelectThrough(toxiclient.NewClient(api), f.service, f.link)
	if err != nil {
		return nil, fmt.Errorf("-fault: no fault API answers at %s (%w): start the stack with kit up -faults (make up FAULTS=1), or point -faults-api at it", api, err)
	}
	if len(picked) == 0 {
		return nil, fmt.Errorf("-fault %s: the stack at %s has no link from %s to %s (kit faults list shows its links; the embedded broker's are not proxied)", f, api, f.service, f.link)
	}
	return &apiFaults{api: api, f: f.fault, proxies: picked}, nil
}

func (a *apiFaults) apply() error {
	for _, p := range a.proxies {
		if err := netfault.ApplyThrough(p, a.f); err != nil {
			return err
		}
	}
	return nil
}

// heal takes off the toxics the fault added (and enables a link it took
// down), leaving any other fault someone put there by hand.
func (a *apiFaults) heal() error {
	var errs []error
	for _, p := range a.proxies {
		for _, t := range a.f.Toxics() {
			if err := p.RemoveToxic(t.Name); err != nil {
				errs = append(errs, fmt.Errorf("%s: remove %s: %w", p.Name, t.Name, err))
			}
		}
		if a.f.Kind == netfault.Down {
			if err := p.Enable(); err != nil {
				errs = append(errs, fmt.Errorf("%s: up again: %w", p.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}

func (a *apiFaults) links() []string {
	out := make([]string, len(a.proxies))
	for i, p := range a.proxies {
		out[i] = p.Name
	}
	return out
}

// runStep runs one ramp step: without a fault, then, when the run has one,
// again at the same rate with the fault held on its links. The clean step
// goes first so that nothing the fault leaves behind (a backlog, connections
// dialled again) is counted in it; pacer.Run returns once every order of the
// faulted step is final or timed out, so the next rate's clean step starts
// from a drained pipeline. The faulted step has a warm-up of its own: the
// moments the fault takes hold are not its steady state.
func runStep(ctx context.Context, cfg config, t *target, pacer *pace.Pacer, client *pipeline.Client, ph pace.Phase, timeline *stats.Timeline, stderr io.Writer) ([]report.Phase, error) {
	_, clean := runPhase(ctx, pacer, client, ph, timeline, t.processes, stderr)
	if t.faults == nil || ctx.Err() != nil {
		return []report.Phase{clean}, nil
	}
	faulted := ph
	faulted.Name = fmt.Sprintf("%s under %s", ph.Name, cfg.fault)
	faulted.Warmup = cfg.warmup
	fmt.Fprintf(stderr, "loadtest: fault %s on %s\n", cfg.fault, strings.Join(t.faults.links(), ", "))
	if err := t.faults.apply(); err != nil {
		return []report.Phase{clean}, errors.Join(fmt.Errorf("apply the fault: %w", err), t.faults.heal())
	}
	_, p := runPhase(ctx, pacer, client, faulted, timeline, t.processes, stderr)
	p.Fault = cfg.fault.String()
	if err := t.faults.heal(); err != nil {
		return []report.Phase{clean, p}, fmt.Errorf("take the fault off %s: %w (the stack still has it)", strings.Join(t.faults.links(), ", "), err)
	}
	fmt.Fprintf(stderr, "loadtest: fault %s cleared\n", cfg.fault)
	return []report.Phase{clean, p}, nil
}
