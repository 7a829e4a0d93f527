package netfault

import (
	"fmt"
	"maps"
	"slices"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"
)

// ApplyThrough gives the link p, reached through toxiproxy's HTTP API (kit
// up -faults serves it), fault f: Down disables it, the others add their
// toxics. kit faults add and the load runner's -fault both use it.
func ApplyThrough(p *toxiclient.Proxy, f Fault) error {
	if err := f.check(); err != nil {
		return err
	}
	if f.Kind == Down {
		if err := p.Disable(); err != nil {
			return fmt.Errorf("%s down: %w", p.Name, err)
		}
		return nil
	}
	for _, t := range f.Toxics() {
		if _, err := p.AddToxic(t.Name, t.Type, t.Stream, t.Toxicity, toxiclient.Attributes(t.Attributes)); err != nil {
			return fmt.Errorf("%s on %s: %w", f, p.Name, err)
		}
	}
	return nil
}

// SelectThrough returns, in name order, the links from service to target
// (as Match picks them) among those toxiproxy's HTTP API at c lists; none
// when it has no such link. The error is the API's own: the caller says how
// to start a stack that serves one. kit faults and the load runner's -fault
// both use it.
func SelectThrough(c *toxiclient.Client, service, target string) ([]*toxiclient.Proxy, error) {
	proxies, err := c.Proxies()
	if err != nil {
		return nil, err
	}
	picked := Match(slices.Sorted(maps.Keys(proxies)), service, target)
	out := make([]*toxiclient.Proxy, len(picked))
	for i, name := range picked {
		out[i] = proxies[name]
	}
	return out, nil
}
