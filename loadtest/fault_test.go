package main

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"

	"github.com/kafkakit/kit/harness/netfault"
)

func TestParseConfigReadsAFault(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want stepFault
		// target is where the run holds it: a stack the runner starts, or
		// a running kit up -faults through faultsAPI.
		target, faultsAPI string
	}{
		{
			name:   "latency on stock-service's links to real Kafka",
			args:   []string{"-broker", "kafka", "-fault", "stock-service:broker:latency=50ms"},
			want:   stepFault{service: "stock-service", link: "broker", fault: netfault.Fault{Kind: netfault.Latency, Delay: 50 * time.Millisecond}},
			target: "harness",
		},
		{
			name:   "one instance's link to one broker of the cluster",
			args:   []string{"-broker", "kafka-cluster", "-instances", "orders-processor=2", "-fault", "orders-processor-2:broker-2:reset=3s"},
			want:   stepFault{service: "orders-processor-2", link: "broker-2", fault: netfault.Fault{Kind: netfault.Reset, Every: 3 * time.Second}},
			target: "harness",
		},
		{
			name:   "a database link on the embedded broker, with PostgreSQL",
			args:   []string{"-db", "postgres", "-fault", "orders-api:database:bandwidth=100"},
			want:   stepFault{service: "orders-api", link: "database", fault: netfault.Fault{Kind: netfault.Bandwidth, RateKB: 100}},
			target: "harness",
		},
		{
			name:      "a running kit up -faults, its API from the environment",
			args:      []string{"-orders-url", "http://localhost:8081", "-fault", "stock-service:broker:cut"},
			env:       map[string]string{"KIT_FAULTS_API": "http://127.0.0.1:18474"},
			want:      stepFault{service: "stock-service", link: "broker", fault: netfault.Fault{Kind: netfault.Cut}},
			target:    "running",
			faultsAPI: "http://127.0.0.1:18474",
		},
		{
			name:      "giving the fault API names a running stack",
			args:      []string{"-faults-api", "http://127.0.0.1:18475", "-fault", "orders-processor:broker:down"},
			want:      stepFault{service: "orders-processor", link: "broker", fault: netfault.Fault{Kind: netfault.Down}},
			target:    "running",
			faultsAPI: "http://127.0.0.1:18475",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseConfig(append([]string{"loadtest"}, tt.args...), env(tt.env), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if c.fault == nil || *c.fault != tt.want {
				t.Fatalf("fault: got %+v, want %+v", c.fault, tt.want)
			}
			if c.target != tt.target {
				t.Errorf("target: got %q, want %q", c.target, tt.target)
			}
			if tt.faultsAPI != "" && c.faultsAPI != tt.faultsAPI {
				t.Errorf("faults API: got %q, want %q", c.faultsAPI, tt.faultsAPI)
			}
			// The report names the fault as the flag takes it.
			again, err := parseStepFault(c.fault.String())
			if err != nil || *again != tt.want {
				t.Errorf("String %q reads back as %+v, %v; want %+v", c.fault, again, err, tt.want)
			}
		})
	}
	c, err := parseConfig([]string{"loadtest"}, env(nil), io.Discard)
	if err != nil || c.fault != nil || c.faultsAPI != "http://127.0.0.1:8474" {
		t.Errorf("no -fault: got fault %+v, API %q, error %v; want none, kit up -faults's API", c.fault, c.faultsAPI, err)
	}
}

func TestParseConfigRefusesAFaultItCannotHold(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no fault kind", []string{"-broker", "kafka", "-fault", "stock-service:broker"}, "want SERVICE:LINK:FAULT"},
		{"nothing", []string{"-broker", "kafka", "-fault", " "}, "want SERVICE:LINK:FAULT"},
		{"no such service", []string{"-broker", "kafka", "-fault", "payments:broker:latency=50ms"}, `service "payments"`},
		{"an instance beyond the limit", []string{"-broker", "kafka", "-fault", "stock-service-10:broker:latency=50ms"}, `service "stock-service-10"`},
		{"instance one is the service itself", []string{"-broker", "kafka", "-fault", "stock-service-1:broker:latency=50ms"}, `service "stock-service-1"`},
		{"no such link", []string{"-broker", "kafka", "-fault", "stock-service:registry:latency=50ms"}, `link "registry"`},
		{"a broker without a number", []string{"-broker", "kafka", "-fault", "stock-service:broker-x:latency=50ms"}, `link "broker-x"`},
		{"no such fault", []string{"-broker", "kafka", "-fault", "stock-service:broker:jitter=5ms"}, "want latency=DURATION"},
		{"a latency of nothing", []string{"-broker", "kafka", "-fault", "stock-service:broker:latency=0s"}, "above zero"},
		{"a latency without a unit", []string{"-broker", "kafka", "-fault", "stock-service:broker:latency=50"}, "missing unit"},
		{"a cut with a value", []string{"-broker", "kafka", "-fault", "stock-service:broker:cut=5s"}, "takes no value"},
		{"a broker link on the embedded broker", []string{"-fault", "stock-service:broker:latency=50ms"}, "kfake cannot proxy per service"},
		{"a database link on SQLite", []string{"-broker", "kafka", "-fault", "orders-api:database:latency=50ms"}, "needs -db postgres"},
		{"a second broker on one", []string{"-broker", "kafka", "-fault", "stock-service:broker-1:latency=50ms"}, "has one broker"},
		{"without ramp steps", []string{"-broker", "kafka", "-ramp", "", "-fault", "stock-service:broker:latency=50ms"}, "give -ramp"},
		{"in sse mode", []string{"-broker", "kafka", "-mode", "sse", "-fault", "stock-service:broker:latency=50ms"}, "-mode orders"},
		{"on a locked-down stack", []string{"-broker", "kafka", "-security", "sasl_ssl", "-fault", "stock-service:broker:latency=50ms"}, "plaintext"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseConfig(append([]string{"loadtest"}, tt.args...), env(nil), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error: got %v, want one containing %q", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), "-fault") {
				t.Errorf("error %q does not name -fault", err)
			}
		})
	}
}

// newLinks starts two links the way a stack with faults has them, and
// toxiproxy's API over them, as kit up -faults serves it.
func newLinks(t *testing.T) (*netfault.Links, string) {
	t.Helper()
	l := netfault.New(nil)
	t.Cleanup(func() { _ = l.Close() })
	upstream, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { upstream.Close() })
	for _, name := range []string{"stock-service_to_broker-0", "orders-api_to_broker-0"} {
		if err := l.Add(name, "127.0.0.1:0", upstream.Addr().String()); err != nil {
			t.Fatal(err)
		}
	}
	api := httptest.NewServer(l.Handler())
	t.Cleanup(api.Close)
	return l, api.URL
}

// toxicsOf lists each link's toxics (and "down" for a disabled one) as
// toxiproxy's API reports them.
func toxicsOf(t *testing.T, api string) map[string][]string {
	t.Helper()
	proxies, err := toxiclient.NewClient(api).Proxies()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for name, p := range proxies {
		out[name] = []string{}
		if !p.Enabled {
			out[name] = append(out[name], "down")
		}
		for _, tx := range p.ActiveToxics {
			out[name] = append(out[name], tx.Type)
		}
	}
	return out
}

func TestAFaultIsHeldOnItsLinksOnlyAndCleared(t *testing.T) {
	for _, tt := range []struct {
		name  string
		fault string
		want  []string // the toxics stock-service's link has while held
	}{
		{"latency", "stock-service:broker:latency=50ms", []string{"latency"}},
		{"down", "stock-service:broker-0:down", []string{"down"}},
	} {
		f, err := parseStepFault(tt.fault)
		if err != nil {
			t.Fatal(err)
		}
		l, api := newLinks(t)
		fromAPI, err := newAPIFaults(api, f)
		if err != nil {
			t.Fatal(err)
		}
		fromHarness, err := newHarnessFaults(l, f)
		if err != nil {
			t.Fatal(err)
		}
		for name, s := range map[string]faultSwitch{"through the API": fromAPI, "on the harness's links": fromHarness} {
			if got := s.links(); len(got) != 1 || got[0] != "stock-service_to_broker-0" {
				t.Errorf("%s %s: links %v, want stock-service's alone", tt.name, name, got)
			}
			if err := s.apply(); err != nil {
				t.Fatalf("%s %s: apply: %v", tt.name, name, err)
			}
			held := toxicsOf(t, api)
			if got := held["stock-service_to_broker-0"]; strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("%s %s: stock-service's link has %v, want %v", tt.name, name, got, tt.want)
			}
			if got := held["orders-api_to_broker-0"]; len(got) != 0 {
				t.Errorf("%s %s: orders-api's link has %v, want nothing", tt.name, name, got)
			}
			if err := s.heal(); err != nil {
				t.Fatalf("%s %s: heal: %v", tt.name, name, err)
			}
			if got := toxicsOf(t, api)["stock-service_to_broker-0"]; len(got) != 0 {
				t.Errorf("%s %s: after heal stock-service's link has %v, want nothing", tt.name, name, got)
			}
		}
	}
}

func TestAFaultOnNoLinkIsRefusedBeforeTheRun(t *testing.T) {
	l, api := newLinks(t)
	f, err := parseStepFault("orders-processor:broker:latency=50ms")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newAPIFaults(api, f); err == nil || !strings.Contains(err.Error(), "no link from orders-processor to broker") {
		t.Errorf("through the API: error %v, want no link from orders-processor named", err)
	}
	if _, err := newHarnessFaults(l, f); err == nil || !strings.Contains(err.Error(), "no link from orders-processor to broker") {
		t.Errorf("on the harness's links: error %v, want no link from orders-processor named", err)
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	if _, err := newAPIFaults(closed.URL, f); err == nil || !strings.Contains(err.Error(), "kit up -faults") {
		t.Errorf("no API: error %v, want one saying to start kit up -faults", err)
	}
	if got := toxicsOf(t, api); len(got["stock-service_to_broker-0"])+len(got["orders-api_to_broker-0"]) != 0 {
		t.Errorf("a refused fault changed the links: %v", got)
	}
}
