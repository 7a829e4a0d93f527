// Package netfault puts a TCP proxy with faults on each link between a
// service instance and what it depends on (each broker, its PostgreSQL),
// so that a scenario can make one link slow, narrow, flaky or cut while
// every process keeps running. The proxies are Shopify's toxiproxy, used
// as a library: the same proxies and faults ("toxics") a toxiproxy server
// has, in the harness's process, and its HTTP API on loopback when kit up
// -faults asks (Serve), so that `kit faults` can reach them.
//
// A link is named <instance>_to_<target>: stock-service_to_broker-0,
// orders-processor-2_to_broker-1, orders-api_to_database, and in a cluster
// brokers_to_broker-2 (what the other brokers send broker 2).
package netfault

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"
)

// The targets a link goes to, as a link name ends.
const (
	// Broker is every broker of the cluster: a service's link to the
	// broker is its links to each of them.
	Broker = "broker"
	// Database is the service's PostgreSQL.
	Database = "database"
	// Brokers is where the links between the brokers of a cluster come
	// from: brokers_to_broker-<id> carries everything the other brokers
	// send broker id (their followers' fetches, the controller's requests)
	// and its answers; what id sends the others goes through their links.
	Brokers = "brokers"
)

// LinkName names the link from instance (a service, or service-n for its
// nth instance, n > 1) to target: "broker-<id>" or Database.
func LinkName(instance, target string) string { return instance + "_to_" + target }

// InstanceLabel is how link names call instance n (from 1) of service:
// the service itself for the first, service-n for the others.
func InstanceLabel(service string, n int) string {
	if n == 1 {
		return service
	}
	return service + "-" + strconv.Itoa(n)
}

// Kind is what a fault does to a link.
type Kind string

// The faults a link can have.
const (
	// Latency delays everything the far end sends by Fault.Delay, so each
	// request and answer takes that much longer.
	Latency Kind = "latency"
	// Bandwidth lets the far end send Fault.RateKB kilobytes a second.
	Bandwidth Kind = "bandwidth"
	// Reset resets (TCP RST) each connection Fault.Every after it first
	// carries data: a connection lives that long, the client dials again.
	Reset Kind = "reset"
	// Cut drops every byte both ways and keeps the connections open, new
	// ones too: a partition, as a pulled cable or a dropping firewall
	// makes, which the client notices only by its own timeouts.
	Cut Kind = "cut"
	// Down closes every connection and refuses new ones: the far end
	// looks gone.
	Down Kind = "down"
)

// Fault is one fault on a link.
type Fault struct {
	Kind   Kind
	Delay  time.Duration // Latency
	RateKB int64         // Bandwidth, in KB/s
	Every  time.Duration // Reset
}

// String is the fault as ParseFault reads it.
func (f Fault) String() string {
	switch f.Kind {
	case Latency:
		return "latency=" + f.Delay.String()
	case Bandwidth:
		return "bandwidth=" + strconv.FormatInt(f.RateKB, 10) + "KB/s"
	case Reset:
		return "reset=" + f.Every.String()
	default:
		return string(f.Kind)
	}
}

// ParseFault reads a fault as kit faults and the load runner take it:
// latency=500ms, bandwidth=10 (KB/s), reset=3s, cut or down.
func ParseFault(s string) (Fault, error) {
	kind, arg, _ := strings.Cut(strings.TrimSpace(s), "=")
	f := Fault{Kind: Kind(kind)}
	var err error
	switch f.Kind {
	case Latency:
		f.Delay, err = time.ParseDuration(arg)
	case Bandwidth:
		f.RateKB, err = strconv.ParseInt(strings.TrimSuffix(arg, "KB/s"), 10, 64)
	case Reset:
		f.Every, err = time.ParseDuration(arg)
	case Cut, Down:
		if arg != "" {
			err = fmt.Errorf("%s takes no value", kind)
		}
	default:
		return Fault{}, fmt.Errorf("fault %q: want latency=DURATION, bandwidth=KB_PER_SECOND, reset=DURATION, cut or down", s)
	}
	if err != nil {
		return Fault{}, fmt.Errorf("fault %q: %w", s, err)
	}
	return f, f.check()
}

func (f Fault) check() error {
	switch {
	case f.Kind == Latency && f.Delay <= 0, f.Kind == Reset && f.Every <= 0:
		return fmt.Errorf("fault %s: the duration must be above zero", f.Kind)
	case f.Kind == Bandwidth && f.RateKB <= 0:
		return fmt.Errorf("fault %s: the rate must be at least 1 KB/s", f.Kind)
	}
	return nil
}

// Toxic is one toxiproxy toxic, as its API takes it.
type Toxic struct {
	Name       string         `json:"name"`
	Type       string         `json:"type"`
	Stream     string         `json:"stream"` // upstream: client to server; downstream: back
	Toxicity   float32        `json:"toxicity"`
	Attributes map[string]any `json:"attributes"`
}

// Toxics are the toxiproxy toxics that make f. Down has none: it disables
// the proxy.
func (f Fault) Toxics() []Toxic {
	toxic := func(kind, stream string, attrs map[string]any) Toxic {
		return Toxic{Name: string(f.Kind) + "_" + stream, Type: kind, Stream: stream, Toxicity: 1, Attributes: attrs}
	}
	switch f.Kind {
	case Latency:
		return []Toxic{toxic("latency", "downstream", map[string]any{"latency": f.Delay.Milliseconds()})}
	case Bandwidth:
		return []Toxic{toxic("bandwidth", "downstream", map[string]any{"rate": f.RateKB})}
	case Reset:
		return []Toxic{toxic("reset_peer", "downstream", map[string]any{"timeout": f.Every.Milliseconds()})}
	case Cut:
		// A timeout of 0 swallows data and never closes: the connection
		// hangs as on a partition.
		return []Toxic{
			toxic("timeout", "upstream", map[string]any{"timeout": 0}),
			toxic("timeout", "downstream", map[string]any{"timeout": 0}),
		}
	}
	return nil
}

// Links are the stack's proxied links. Its methods are safe for concurrent
// use.
type Links struct {
	server *toxiproxy.ApiServer
	mu     sync.Mutex
	faults map[string][]Fault // link -> the faults it has now
}

// New makes an empty set of links; toxiproxy's warnings go to log (nil
// discards them).
func New(log io.Writer) *Links {
	logger := zerolog.Nop()
	if log != nil {
		logger = zerolog.New(log).Level(zerolog.WarnLevel).Hook(quietCloses{}).With().Str("from", "netfault").Logger()
	}
	return &Links{
		server: toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), logger),
		faults: map[string][]Fault{},
	}
}

// quietCloses drops toxiproxy's "Source terminated" warning, which it logs
// for every connection a client closes ("use of closed network connection"):
// under kit up -faults that was hundreds of lines a minute around the stack's
// own. Its other warnings (a proxy that cannot listen, an upstream that
// refuses) still reach the log.
type quietCloses struct{}

func (quietCloses) Run(e *zerolog.Event, _ zerolog.Level, msg string) {
	if msg == "Source terminated" {
		e.Discard()
	}
}

// Add starts a link: a proxy listening on listen (host:port) that
// forwards to upstream.
func (l *Links) Add(name, listen, upstream string) error {
	p := toxiproxy.NewProxy(l.server, name, listen, upstream)
	if err := l.server.Collection.Add(p, true); err != nil {
		return fmt.Errorf("netfault: link %s (%s -> %s): %w", name, listen, upstream, err)
	}
	return nil
}

// Names are every link's name, sorted.
func (l *Links) Names() []string {
	return slices.Sorted(maps.Keys(l.server.Collection.Proxies()))
}

// Listen is where link name listens: the address its client dials.
func (l *Links) Listen(name string) (string, error) {
	p, err := l.server.Collection.Get(name)
	if err != nil {
		return "", fmt.Errorf("netfault: no link %s", name)
	}
	return p.Listen, nil
}

// Select is the links of instance label (see InstanceLabel; a bare service
// name selects every instance of it) to target: Broker (every broker),
// "broker-<id>" or Database. It fails when none matches.
func (l *Links) Select(service, target string) ([]string, error) {
	names := l.Names()
	out := Match(names, service, target)
	if len(out) == 0 {
		return nil, fmt.Errorf("netfault: no link from %s to %s among %s", service, target, strings.Join(names, ", "))
	}
	return out, nil
}

// Match is the names, of links named by LinkName, that go from service (or
// an instance label) to target, as Select picks them.
func Match(names []string, service, target string) []string {
	var out []string
	for _, name := range names {
		from, to, _ := strings.Cut(name, "_to_")
		if !isInstanceOf(from, service) {
			continue
		}
		if to == target || target == Broker && strings.HasPrefix(to, Broker+"-") {
			out = append(out, name)
		}
	}
	return out
}

// isInstanceOf reports whether label is service's, or is service itself
// (a bare service or an instance label such as orders-api-2).
func isInstanceOf(label, service string) bool {
	if label == service {
		return true
	}
	n, ok := strings.CutPrefix(label, service+"-")
	if !ok {
		return false
	}
	_, err := strconv.Atoi(n)
	return err == nil
}

// Apply gives link name fault f, beside any it has.
func (l *Links) Apply(name string, f Fault) error {
	if err := f.check(); err != nil {
		return err
	}
	p, err := l.server.Collection.Get(name)
	if err != nil {
		return fmt.Errorf("netfault: no link %s", name)
	}
	if f.Kind == Down {
		p.Stop()
	}
	for _, t := range f.Toxics() {
		body, err := json.Marshal(t)
		if err != nil {
			return err
		}
		if _, err := p.Toxics.AddToxicJson(bytes.NewReader(body)); err != nil {
			return fmt.Errorf("netfault: %s on %s: %w", f, name, err)
		}
	}
	l.mu.Lock()
	l.faults[name] = append(l.faults[name], f)
	l.mu.Unlock()
	return nil
}

// Heal takes every fault off link name: its toxics go (a cut's hung
// connections are closed, so clients dial afresh) and a link that was down
// listens again.
func (l *Links) Heal(name string) error {
	p, err := l.server.Collection.Get(name)
	if err != nil {
		return fmt.Errorf("netfault: no link %s", name)
	}
	// Every toxic, also those added through the HTTP API.
	p.Toxics.ResetToxics(context.Background())
	if !p.Enabled {
		if err := p.Start(); err != nil {
			return fmt.Errorf("netfault: heal %s: listen again: %w", name, err)
		}
	}
	l.mu.Lock()
	delete(l.faults, name)
	l.mu.Unlock()
	return nil
}

// Faults are the faults link name has now.
func (l *Links) Faults(name string) []Fault {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.faults[name])
}

// Handler is toxiproxy's own HTTP API over these links (GET /proxies, POST
// /proxies/{name}/toxics, ...), for `kit faults` or any toxiproxy client.
func (l *Links) Handler() http.Handler { return l.server.Routes() }

// Serve answers toxiproxy's API on ln until it is closed.
func (l *Links) Serve(ln net.Listener) error {
	err := (&http.Server{Handler: l.Handler(), ReadHeaderTimeout: 5 * time.Second}).Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops every link, closing its connections.
func (l *Links) Close() error { return l.server.Collection.Clear() }
