package doctest

import (
	"fmt"
	"regexp"
	"strconv"
	"sync"

	"github.com/kafkakit/kit/harness"
)

// Ports rewrites the well-known addresses in a lesson (localhost:8081, the
// broker at localhost:9093, a second instance at localhost:8182, ...) to
// those of the stack under test, so a lesson reads as a learner types it
// against `make up` and still runs beside everything else on one machine.
type Ports struct {
	// Known maps a well-known port to the address that stands in for it.
	Known map[int]string
	// Spare are well-known ports nobody listens on yet (a second instance a
	// lesson starts): each gets a free port the first time it appears.
	Spare map[int]bool

	mu    sync.Mutex
	given map[int]string
}

var (
	addrRe   = regexp.MustCompile(`\b(localhost|127\.0\.0\.1):(\d+)\b`)
	numberRe = regexp.MustCompile(`\d+`)
)

// Rewrite returns script with every well-known address replaced. A
// well-known port written in another form (":8082", "port 8082") is an
// error: the test could not run it against its own stack.
func (p *Ports) Rewrite(script string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var err error
	out := addrRe.ReplaceAllStringFunc(script, func(addr string) string {
		m := addrRe.FindStringSubmatch(addr)
		port, _ := strconv.Atoi(m[2])
		if to, ok := p.Known[port]; ok {
			return to
		}
		if !p.Spare[port] {
			return addr
		}
		if p.given == nil {
			p.given = map[int]string{}
		}
		if to, ok := p.given[port]; ok {
			return to
		}
		free, ferr := harness.FreePort()
		if ferr != nil {
			err = ferr
			return addr
		}
		p.given[port] = "127.0.0.1:" + strconv.Itoa(free)
		return p.given[port]
	})
	if err != nil {
		return "", err
	}
	for _, m := range numberRe.FindAllString(out, -1) {
		n, _ := strconv.Atoi(m)
		if _, known := p.Known[n]; (known || p.Spare[n]) && !p.isTarget(out, m) {
			return "", fmt.Errorf("port %d is written in a form the test cannot point at its own stack: write localhost:%d", n, n)
		}
	}
	return out, nil
}

// isTarget reports whether every occurrence of the number s in script is
// part of an address the rewrite produced (a free port that happens to
// equal a well-known one).
func (p *Ports) isTarget(script, s string) bool {
	re := regexp.MustCompile(`\b` + s + `\b`)
	for _, loc := range re.FindAllStringIndex(script, -1) {
		inAddr := false
		for _, a := range addrRe.FindAllStringIndex(script, -1) {
			inAddr = inAddr || (loc[0] >= a[0] && loc[1] <= a[1])
		}
		if !inAddr {
			return false
		}
	}
	return true
}
