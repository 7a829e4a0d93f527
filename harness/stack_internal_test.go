package harness

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/kafkakit/kit/harness/netfault"
)

func TestParseInstances(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    map[string]int
		wantErr string // a part of the error, "" for none
	}{
		{in: "", want: map[string]int{}},
		{in: "orders-processor=3", want: map[string]int{OrdersProcessor: 3}},
		{in: " orders-processor=3, notifications-api=2 ", want: map[string]int{OrdersProcessor: 3, NotificationsAPI: 2}},
		{in: "orders-processor", wantErr: "want service=count"},
		{in: "=2", wantErr: "want service=count"},
		{in: "orders-processor=3,", wantErr: "want service=count"},
		{in: "orders-processor=three", wantErr: `"three" is not a whole number`},
		{in: "orders-processor=0", wantErr: "0, want 1 to 9"},
		{in: "orders-processor=10", wantErr: "10, want 1 to 9"},
		{in: "orders-processor=-1", wantErr: "-1, want 1 to 9"},
		{in: "payments=2", wantErr: `"payments": no such service`},
		{in: "stock-service=2,stock-service=3", wantErr: "stock-service is given twice"},
	} {
		got, err := ParseInstances(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseInstances(%q) = %v, %v; want an error containing %q", tc.in, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !maps.Equal(got, tc.want) {
			t.Errorf("ParseInstances(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestOptionsCheck(t *testing.T) {
	running := map[string]string{OrdersAPI: "http://a", OrdersProcessor: "http://b", NotificationsAPI: "http://c", StockService: "http://d"}
	for _, tc := range []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{"defaults", Options{}, ""},
		{"sqlite", Options{DB: "sqlite"}, ""},
		{"postgres and instances", Options{DB: "postgres", Instances: map[string]int{StockService: 2}}, ""},
		{"unknown db", Options{DB: "mysql"}, `unknown DB "mysql"`},
		{"instances of a running deployment", Options{ServiceURLs: running, Instances: map[string]int{OrdersAPI: 2}}, "instances need services the harness starts"},
		{"postgres for a running deployment", Options{ServiceURLs: running, DB: "postgres"}, "DB postgres needs services the harness starts"},
		{"unknown registry", Options{Registry: "confluent"}, `unknown registry "confluent"`},
		{"a registry started beside an external broker", Options{Broker: "external", Registry: "apicurio"}, "give the running one's RegistryURL"},
		{"an external broker and its registry", Options{Broker: "external", RegistryURL: "http://r"}, ""},
		{"faults on real Kafka", Options{Broker: "kafka", Faults: true}, ""},
		{"faults on a running deployment", Options{ServiceURLs: running, Faults: true}, "faults need services the harness starts"},
		{"faults on a locked-down broker", Options{Broker: "kafka", Security: "sasl_ssl", Faults: true}, "not supported yet"},
	} {
		err := tc.opts.check()
		if (tc.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%s: check() = %v, want an error containing %q", tc.name, err, tc.wantErr)
		}
	}
}

func TestInstancePort(t *testing.T) {
	for _, tc := range []struct{ base, n, want int }{
		{8081, 1, 8081}, {8084, 2, 8184}, {8082, 3, 8282}, {8083, MaxInstances, 8883},
	} {
		if got := InstancePort(tc.base, tc.n); got != tc.want {
			t.Errorf("InstancePort(%d, %d) = %d, want %d", tc.base, tc.n, got, tc.want)
		}
	}
}

func TestInstanceEnv(t *testing.T) {
	brokers := []string{"127.0.0.1:9093", "127.0.0.1:9094"}
	pg := map[string]string{OrdersAPI: "postgres://pg/orders", StockService: "postgres://pg/stock", OrdersProcessor: "postgres://pg/processor"}
	extra := map[string]string{"PAYMENT_DELAY": "0", "LOG_LEVEL": "warn"}
	for _, tc := range []struct {
		service string
		n       int
		dsns    map[string]string
		wantDSN string // "" for no DB_DSN at all
	}{
		{StockService, 1, nil, "/data/stock.db"},
		{StockService, 2, nil, "/data/stock-2.db"},
		{OrdersAPI, 1, nil, "/data/orders.db"},
		{OrdersAPI, 3, nil, "/data/orders-3.db"},
		{StockService, 2, pg, "postgres://pg/stock"},
		{OrdersAPI, 1, pg, "postgres://pg/orders"},
		{OrdersProcessor, 1, nil, "/data/processor.db"},
		{OrdersProcessor, 2, nil, "/data/processor-2.db"},
		{OrdersProcessor, 2, pg, "postgres://pg/processor"},
		{NotificationsAPI, 1, nil, ""},
	} {
		got := instanceEnv(tc.service, tc.n, "127.0.0.1:8181", brokers, "/data", tc.dsns, extra)
		want := []string{"KAFKA_BROKERS=127.0.0.1:9093,127.0.0.1:9094", "HTTP_ADDR=127.0.0.1:8181"}
		if tc.wantDSN != "" {
			want = append(want, "DB_DSN="+tc.wantDSN)
		}
		want = append(want, "LOG_LEVEL=warn", "PAYMENT_DELAY=0")
		if !slices.Equal(got, want) {
			t.Errorf("instanceEnv(%s, %d) = %q, want %q", tc.service, tc.n, got, want)
		}
	}
}

func TestRegistryBesideEachBroker(t *testing.T) {
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{}, "in-process"},
		{Options{Broker: "embedded"}, "in-process"},
		{Options{Broker: "testcontainers"}, "in-process"},
		{Options{Broker: "kafka"}, "apicurio"},
		{Options{Broker: "kafka-cluster"}, "apicurio"},
		{Options{Broker: "external"}, "none"},
		{Options{Broker: "kafka", Registry: "none"}, "none"},
		{Options{Broker: "embedded", Registry: "apicurio"}, "apicurio"},
	} {
		if got := registryKind(tc.opts); got != tc.want {
			t.Errorf("registryKind(broker %q, registry %q) = %q, want %q", tc.opts.Broker, tc.opts.Registry, got, tc.want)
		}
	}
}

func TestServicesGetTheRegistryURL(t *testing.T) {
	s := &Stack{regURL: "http://127.0.0.1:1/apis/ccompat/v7"}
	got := s.serviceEnv(map[string]string{"PAYMENT_DELAY": "0"})
	want := map[string]string{"PAYMENT_DELAY": "0", "SCHEMA_REGISTRY_URL": "http://127.0.0.1:1/apis/ccompat/v7"}
	if !maps.Equal(got, want) {
		t.Errorf("serviceEnv = %v, want %v", got, want)
	}
	// A test that sets its own wins.
	if got := s.serviceEnv(map[string]string{"SCHEMA_REGISTRY_URL": "http://mine"}); got["SCHEMA_REGISTRY_URL"] != "http://mine" {
		t.Errorf("serviceEnv overrode the caller's SCHEMA_REGISTRY_URL: %v", got)
	}
	if got := (&Stack{}).serviceEnv(nil); got["SCHEMA_REGISTRY_URL"] != "" {
		t.Errorf("serviceEnv without a registry = %v, want no SCHEMA_REGISTRY_URL", got)
	}
}

// TestPlanLinks: with Faults, every instance of every service gets a
// listener of its own on every broker, its own ports, and its bootstrap is
// its proxies; without, nothing changes.
func TestPlanLinks(t *testing.T) {
	opts := Options{Broker: "kafka-cluster", Faults: true, Instances: map[string]int{OrdersProcessor: 2}}
	p, err := planLinks(opts)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(p.clientListeners()), len(Services)+1; got != want {
		t.Fatalf("%d listeners, want %d (one per instance)", got, want)
	}
	seen := map[int]bool{}
	for _, l := range p.clientListeners() {
		if len(l.Ports) != 3 || len(l.Advertised) != 3 {
			t.Errorf("listener %s has ports %v advertised %v, want one per broker of 3", l.Name, l.Ports, l.Advertised)
		}
		for _, port := range append(slices.Clone(l.Ports), l.Advertised...) {
			if seen[port] {
				t.Errorf("port %d is given twice", port)
			}
			seen[port] = true
		}
	}
	if l, ok := p.lookup("orders-processor-2"); !ok || l.Name != "SVC_ORDERS_PROCESSOR_2" {
		t.Errorf("orders-processor's second instance has listener %+v (%v), want SVC_ORDERS_PROCESSOR_2", l, ok)
	}
	s := &Stack{}
	want := []string{"127.0.0.1:" + strconv.Itoa(p.listeners["stock-service"].Advertised[0])}
	if got := s.linkBrokers(p, StockService, 1); got[0] != want[0] || len(got) != 3 {
		t.Errorf("stock-service's bootstrap = %v, want its proxies, starting %v", got, want)
	}

	// The cluster's brokers reach one another through a proxy each, on
	// ports of their own.
	among := p.brokerLinks()
	if among == nil || len(among.Ports) != 3 || len(among.Advertised) != 3 {
		t.Fatalf("cluster broker links = %+v, want a port and an advertised port per broker of 3", among)
	}
	for _, port := range append(slices.Clone(among.Ports), among.Advertised...) {
		if seen[port] {
			t.Errorf("broker link port %d is given twice", port)
		}
		seen[port] = true
	}
	s.links = netfault.New(nil)
	t.Cleanup(func() { _ = s.links.Close() })
	if err := s.startBrokerLinks(p); err != nil {
		t.Fatal(err)
	}
	if got, err := s.links.Select(netfault.Brokers, netfault.Broker); err != nil || len(got) != 3 || got[2] != "brokers_to_broker-2" {
		t.Errorf("links among brokers = %q, %v; want brokers_to_broker-0 to -2", got, err)
	}
	if one, err := planLinks(Options{Broker: "kafka", Faults: true}); err != nil || one.brokerLinks() != nil {
		t.Errorf("a single broker's plan has links among brokers %+v (%v); want none", one.brokerLinks(), err)
	}

	var none *linkPlan
	if none.clientListeners() != nil || none.brokerLinks() != nil {
		t.Error("no plan, yet listeners")
	}
	if p, err := (&Stack{}).startLinksFor(Options{Broker: "kafka"}); p != nil || err != nil {
		t.Errorf("without Faults, startLinksFor = %v, %v; want nothing", p, err)
	}

	// The embedded broker: no plan for its links, and a loud line saying so.
	var log strings.Builder
	emb := &Stack{}
	if p, err := emb.startLinksFor(Options{Faults: true, Log: &log}); p != nil || err != nil || emb.links == nil {
		t.Errorf("embedded with Faults: plan %v, err %v, links %v; want no plan and links for PostgreSQL", p, err, emb.links)
	}
	if !strings.HasPrefix(log.String(), "!!! FAULTS on the embedded broker") {
		t.Errorf("embedded with Faults said %q, want the loud line", log.String())
	}
}
