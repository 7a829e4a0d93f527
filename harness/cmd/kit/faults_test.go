package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"

	"github.com/kafkakit/kit/harness/netfault"
)

// TestFaultsCommand drives kit faults against the fault API kit up -faults
// serves, over links of its own: add puts the fault on every instance's
// link and nothing else, list shows it, clear takes it off.
func TestFaultsCommand(t *testing.T) {
	links := netfault.New(nil)
	t.Cleanup(func() { _ = links.Close() })
	upstream, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { upstream.Close() })
	for _, name := range []string{"stock-service_to_broker-0", "stock-service-2_to_broker-0", "stock-service_to_database", "orders-api_to_broker-0"} {
		if err := links.Add(name, "127.0.0.1:0", upstream.Addr().String()); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = links.Serve(ln) }()
	t.Cleanup(func() { ln.Close() })
	api := "http://" + ln.Addr().String()

	kit := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := runFaults(context.Background(), append(args, "-api", api), func(string) string { return "" }, &out, &errOut)
		return out.String() + errOut.String(), err
	}
	faultsOf := func(list, link string) string {
		for _, line := range strings.Split(list, "\n") {
			if f := strings.Fields(line); len(f) >= 4 && f[0] == link {
				return strings.Join(f[3:], " ")
			}
		}
		t.Fatalf("kit faults list shows no %s:\n%s", link, list)
		return ""
	}

	if out, err := kit("add", "stock-service", "broker", "cut"); err != nil {
		t.Fatalf("add: %v\n%s", err, out)
	}
	list, err := kit("list")
	if err != nil {
		t.Fatal(err)
	}
	for link, want := range map[string]bool{
		"stock-service_to_broker-0": true, "stock-service-2_to_broker-0": true,
		"stock-service_to_database": false, "orders-api_to_broker-0": false,
	} {
		if got := strings.Contains(faultsOf(list, link), "timeout"); got != want {
			t.Errorf("after add stock-service broker cut, %s cut = %v, want %v:\n%s", link, got, want, list)
		}
	}
	if out, err := kit("add", "orders-api", "broker", "down"); err != nil {
		t.Fatalf("add down: %v\n%s", err, out)
	}
	if list, _ := kit("list"); faultsOf(list, "orders-api_to_broker-0") != "down" {
		t.Errorf("orders-api's link is not down:\n%s", list)
	}

	if out, err := kit("clear"); err != nil {
		t.Fatalf("clear: %v\n%s", err, out)
	}
	list, _ = kit("list")
	for _, link := range links.Names() {
		if got := faultsOf(list, link); got != "-" {
			t.Errorf("after clear, %s has %s", link, got)
		}
	}

	for _, bad := range [][]string{
		{"add", "stock-service", "broker", "jitter=1s"},
		{"add", "stock-service", "kafka", "cut"},
		{"add", "payments", "broker", "cut"},
		{"add", "stock-service", "broker", "cut", "soon"},
		{"drop"},
	} {
		if out, err := kit(bad...); err == nil {
			t.Errorf("kit faults %v was taken:\n%s", bad, out)
		}
	}
	if list, _ := kit("list"); strings.Count(list, " -\n") != len(links.Names()) {
		t.Errorf("a refused command changed a link:\n%s", list)
	}
}
