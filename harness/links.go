package harness

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/kafkakit/kit/harness/broker/kafka"
	"github.com/kafkakit/kit/harness/child"
	"github.com/kafkakit/kit/harness/netfault"
)

// EmbeddedLinksNotProxied is the loud line a stack with Faults prints on a
// broker that cannot give each service an address of its own.
const EmbeddedLinksNotProxied = "!!! FAULTS on the %s broker: its links to services are NOT proxied, only those to PostgreSQL. " +
	"kfake listens on one address per broker and advertises that very address to every client (it has no named listeners), " +
	"so a service would go around its proxy from its first metadata answer on; BROKER=kafka or kafka-cluster give each service a listener " +
	"of its own behind its proxy (make features-network runs the @network scenarios there)"

// linkPlan is where each service instance reaches the brokers when the
// stack has Faults: per instance label, per broker id, the port the broker
// listens on for it and the port its proxy listens on.
type linkPlan struct {
	brokers   int
	listeners map[string]kafka.ClientListener // instance label -> its listener
	// among are the ports of the brokers' own listener, through which a
	// cluster's brokers reach one another; nil on a single broker.
	among *kafka.BrokerLinks
}

// proxiesBrokers reports whether the stack can put a proxy between each
// service and the broker kind opts names.
func proxiesBrokers(opts Options) bool {
	return opts.Broker == "kafka" || opts.Broker == "kafka-cluster"
}

// planLinks picks the ports of every instance's listener on every broker,
// before the brokers start: they must advertise the proxies' ports.
func planLinks(opts Options) (*linkPlan, error) {
	p := &linkPlan{brokers: 1, listeners: map[string]kafka.ClientListener{}}
	if opts.Broker == "kafka-cluster" {
		p.brokers = 3
		ports, err := child.FreePorts(2 * p.brokers)
		if err != nil {
			return nil, fmt.Errorf("links: %w", err)
		}
		p.among = &kafka.BrokerLinks{Ports: ports[:p.brokers], Advertised: ports[p.brokers:]}
	}
	for _, name := range Services {
		for n := 1; n <= max(opts.Instances[name], 1); n++ {
			ports, err := child.FreePorts(2 * p.brokers)
			if err != nil {
				return nil, fmt.Errorf("links: %w", err)
			}
			label := netfault.InstanceLabel(name, n)
			p.listeners[label] = kafka.ClientListener{
				Name:       "SVC_" + strings.ToUpper(strings.ReplaceAll(label, "-", "_")),
				Ports:      ports[:p.brokers],
				Advertised: ports[p.brokers:],
			}
		}
	}
	return p, nil
}

// clientListeners are the plan's listeners, for kafka.Options; none when
// there is no plan.
func (p *linkPlan) clientListeners() []kafka.ClientListener {
	if p == nil {
		return nil
	}
	var out []kafka.ClientListener
	for _, label := range slices.Sorted(maps.Keys(p.listeners)) {
		out = append(out, p.listeners[label])
	}
	return out
}

// brokerLinks are the plan's links among brokers, for kafka.Options; nil
// when there is no plan or a single broker.
func (p *linkPlan) brokerLinks() *kafka.BrokerLinks {
	if p == nil {
		return nil
	}
	return p.among
}

// startBrokerLinks starts, before the brokers, the proxy in front of each
// broker's own listener: the brokers dial one another through them from
// their first moment (the controller's first requests included), and a
// proxy whose broker is not listening yet only closes the connection,
// which Kafka dials again.
func (s *Stack) startBrokerLinks(p *linkPlan) error {
	if p == nil || p.among == nil {
		return nil
	}
	for id := range p.brokers {
		name := netfault.LinkName(netfault.Brokers, "broker-"+strconv.Itoa(id))
		if err := s.links.Add(name, loopback(p.among.Advertised[id]), loopback(p.among.Ports[id])); err != nil {
			return err
		}
	}
	return nil
}

// startLinks starts, once the broker is up, the proxy of every instance to
// every broker the plan has ports for.
func (s *Stack) startLinks(p *linkPlan) error {
	if p == nil {
		return nil
	}
	for label, l := range p.listeners {
		for id := range p.brokers {
			name := netfault.LinkName(label, "broker-"+strconv.Itoa(id))
			if err := s.links.Add(name, loopback(l.Advertised[id]), loopback(l.Ports[id])); err != nil {
				return err
			}
		}
	}
	return nil
}

// linkBrokers are the bootstrap addresses of instance n of service: its
// proxies when the stack proxies its links to the brokers, else the
// brokers' own.
func (s *Stack) linkBrokers(p *linkPlan, service string, n int) []string {
	l, ok := p.lookup(netfault.InstanceLabel(service, n))
	if !ok {
		return s.broker.Addrs()
	}
	addrs := make([]string, len(l.Advertised))
	for i, port := range l.Advertised {
		addrs[i] = loopback(port)
	}
	return addrs
}

func (p *linkPlan) lookup(label string) (kafka.ClientListener, bool) {
	if p == nil {
		return kafka.ClientListener{}, false
	}
	l, ok := p.listeners[label]
	return l, ok
}

// linkDatabase starts the proxy from instance n of service to PostgreSQL
// and returns dsn pointed at it; dsn unchanged when the stack has no links
// or the service no PostgreSQL database.
func (s *Stack) linkDatabase(service string, n int, dsn string) (string, error) {
	if s.links == nil || s.pg == nil || dsn == "" {
		return dsn, nil
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "", fmt.Errorf("links: %s's database: %w", service, err)
	}
	port, err := FreePort()
	if err != nil {
		return "", fmt.Errorf("links: %w", err)
	}
	name := netfault.LinkName(netfault.InstanceLabel(service, n), netfault.Database)
	if err := s.links.Add(name, loopback(port), u.Host); err != nil {
		return "", err
	}
	u.Host = loopback(port)
	return u.String(), nil
}

// startLinksFor makes the stack's links when opts asks for Faults, before
// the broker starts: it says loudly what cannot be proxied.
func (s *Stack) startLinksFor(opts Options) (*linkPlan, error) {
	if !opts.Faults {
		return nil, nil
	}
	s.links = netfault.New(opts.Log)
	if !proxiesBrokers(opts) {
		var log io.Writer = os.Stderr
		if opts.Log != nil {
			log = opts.Log
		}
		fmt.Fprintf(log, EmbeddedLinksNotProxied+"\n", cmp.Or(opts.Broker, "embedded"))
		return nil, nil
	}
	return planLinks(opts)
}

// Links are the stack's proxied links (Options.Faults), nil without them.
func (s *Stack) Links() *netfault.Links { return s.links }

// ServeLinks answers toxiproxy's HTTP API over the stack's links on ln
// until ctx ends, for `kit faults`.
func (s *Stack) ServeLinks(ctx context.Context, ln net.Listener) error {
	if s.links == nil {
		return fmt.Errorf("links: the stack runs without faults (start it with Faults, kit up -faults)")
	}
	go func() { <-ctx.Done(); ln.Close() }()
	if err := s.links.Serve(ln); ctx.Err() == nil {
		return err
	}
	return nil
}

func loopback(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }
