package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"

	"github.com/kafkakit/kit/harness/netfault"
)

// faultsAPI is where kit up -faults answers toxiproxy's API, on loopback:
// toxiproxy's own default port, so its CLI and clients find it too.
const faultsAPI = "127.0.0.1:8474"

const faultsAbout = `Lists, adds and clears network faults on the links of a stack started with
kit up -faults: a proxy between each service instance and each broker (real
Kafka only: the embedded broker's links are not proxied) and between each
service and PostgreSQL (-db postgres).

  kit faults list
  kit faults add SERVICE broker|database FAULT [FOR]
  kit faults clear [SERVICE [broker|database]]

FAULT is latency=500ms, bandwidth=10 (KB/s the far end may send), reset=3s
(each connection reset 3 s after it first carries data), cut (every byte
dropped both ways, connections left hanging, as on a partition) or down
(connections closed, new ones refused). With FOR (30s) add waits that long,
then clears what it added; Ctrl-C clears it at once. SERVICE is a service
(every instance) or one instance: orders-processor-2.

  kit faults add stock-service broker cut 30s`

// runFaults is kit faults.
func runFaults(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newFlags("faults", "faults list|add|clear [arguments] [flags]", faultsAbout, getenv, stderr)
	api := f.String("api", envOr(getenv, "KIT_FAULTS_API", "http://"+faultsAPI), "kit up -faults's fault API (toxiproxy's; env KIT_FAULTS_API)")
	pos, err := f.positional(args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		f.Usage()
		return errors.New("want list, add or clear")
	}
	c := toxiclient.NewClient(*api)
	switch pos[0] {
	case "list":
		if len(pos) != 1 {
			return errors.New("kit faults list takes no argument")
		}
		return listFaults(c, stdout)
	case "add":
		if len(pos) < 4 || len(pos) > 5 {
			return errors.New("want kit faults add SERVICE broker|database FAULT [FOR], such as: kit faults add stock-service broker cut 30s")
		}
		fault, err := netfault.ParseFault(pos[3])
		if err != nil {
			return err
		}
		var lasts time.Duration
		if len(pos) == 5 {
			if lasts, err = time.ParseDuration(pos[4]); err != nil || lasts <= 0 {
				return fmt.Errorf("for %q: want a duration above zero, such as 30s", pos[4])
			}
		}
		return addFault(ctx, c, pos[1], pos[2], fault, lasts, stdout)
	case "clear":
		if len(pos) > 3 {
			return errors.New("want kit faults clear [SERVICE [broker|database]]")
		}
		service, target := "", netfault.Broker
		if len(pos) > 1 {
			service = pos[1]
		}
		if len(pos) > 2 {
			target = pos[2]
		}
		return clearFaults(c, service, target, len(pos) < 3, stdout)
	default:
		return fmt.Errorf("unknown faults command %q: want list, add or clear", pos[0])
	}
}

// links are the stack's links, by name; an error says how to get some.
func links(c *toxiclient.Client) (map[string]*toxiclient.Proxy, error) {
	proxies, err := c.Proxies()
	if err != nil {
		return nil, fmt.Errorf("no fault API answers (%w): start the stack with kit up -faults (make up FAULTS=1)", err)
	}
	return proxies, nil
}

func listFaults(c *toxiclient.Client, w io.Writer) error {
	proxies, err := links(c)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(proxies))
	for name := range proxies {
		names = append(names, name)
	}
	slices.Sort(names)
	fmt.Fprintf(w, "%-40s %-22s %-22s %s\n", "LINK", "LISTEN", "UPSTREAM", "FAULTS")
	for _, name := range names {
		p := proxies[name]
		var faults []string
		if !p.Enabled {
			faults = append(faults, "down")
		}
		for _, t := range p.ActiveToxics {
			faults = append(faults, fmt.Sprintf("%s(%s %v)", t.Type, t.Stream, t.Attributes))
		}
		if len(faults) == 0 {
			faults = []string{"-"}
		}
		fmt.Fprintf(w, "%-40s %-22s %-22s %s\n", name, p.Listen, p.Upstream, strings.Join(faults, " "))
	}
	return nil
}

// selectLinks are the proxies of the links from service to target.
func selectLinks(c *toxiclient.Client, service, target string) ([]*toxiclient.Proxy, error) {
	if target != netfault.Broker && target != netfault.Database && !strings.HasPrefix(target, netfault.Broker+"-") {
		return nil, fmt.Errorf("target %q: want broker, broker-<id> or database", target)
	}
	picked, err := netfault.SelectThrough(c, service, target)
	if err != nil {
		return nil, fmt.Errorf("no fault API answers (%w): start the stack with kit up -faults (make up FAULTS=1)", err)
	}
	if len(picked) == 0 {
		return nil, fmt.Errorf("no link from %s to %s (kit faults list shows them; the embedded broker's are not proxied)", service, target)
	}
	return picked, nil
}

func addFault(ctx context.Context, c *toxiclient.Client, service, target string, f netfault.Fault, lasts time.Duration, w io.Writer) error {
	proxies, err := selectLinks(c, service, target)
	if err != nil {
		return err
	}
	for _, p := range proxies {
		if err := netfault.ApplyThrough(p, f); err != nil {
			return err
		}
		fmt.Fprintf(w, "%s: %s\n", p.Name, f)
	}
	if lasts == 0 {
		return nil
	}
	fmt.Fprintf(w, "clearing it in %v (Ctrl-C clears it now)\n", lasts)
	select {
	case <-time.After(lasts):
	case <-ctx.Done():
	}
	var errs []error
	for _, p := range proxies {
		errs = append(errs, healProxy(p, w))
	}
	return errors.Join(errs...)
}

// healProxy takes every toxic off p and enables it.
func healProxy(p *toxiclient.Proxy, w io.Writer) error {
	toxics, err := p.Toxics()
	if err != nil {
		return fmt.Errorf("%s: %w", p.Name, err)
	}
	for _, t := range toxics {
		if err := p.RemoveToxic(t.Name); err != nil {
			return fmt.Errorf("%s: remove %s: %w", p.Name, t.Name, err)
		}
	}
	if !p.Enabled {
		if err := p.Enable(); err != nil {
			return fmt.Errorf("%s: up again: %w", p.Name, err)
		}
	}
	fmt.Fprintf(w, "%s: healthy\n", p.Name)
	return nil
}

// clearFaults heals the links from service to target, every link when
// service is "", and both targets when any is true.
func clearFaults(c *toxiclient.Client, service, target string, any bool, w io.Writer) error {
	var proxies []*toxiclient.Proxy
	if service == "" {
		all, err := links(c)
		if err != nil {
			return err
		}
		for _, p := range all {
			proxies = append(proxies, p)
		}
	} else {
		for _, t := range []string{target, netfault.Database} {
			if !any && t != target {
				continue
			}
			picked, err := selectLinks(c, service, t)
			if err != nil && !any {
				return err
			}
			proxies = append(proxies, picked...)
		}
		if len(proxies) == 0 {
			return fmt.Errorf("no link from %s (kit faults list shows them)", service)
		}
	}
	var errs []error
	for _, p := range proxies {
		errs = append(errs, healProxy(p, w))
	}
	return errors.Join(errs...)
}
