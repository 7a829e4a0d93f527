package kafka

import (
	"maps"
	"slices"
	"testing"
)

func TestAddClientListeners(t *testing.T) {
	server := serverProperties(1, 3, "/logs", 9094, 2181)
	server["listener.name.plaintext.some.setting"] = "x"
	clients := []ClientListener{
		{Name: "SVC_STOCK_SERVICE", Ports: []int{1, 2, 3}, Advertised: []int{11, 12, 13}},
		{Name: "SVC_ORDERS_API_2", Ports: []int{4, 5, 6}, Advertised: []int{14, 15, 16}},
	}
	if err := addClientListeners(server, 1, clients); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"listeners":                                    "PLAINTEXT://127.0.0.1:9094,SVC_STOCK_SERVICE://127.0.0.1:2,SVC_ORDERS_API_2://127.0.0.1:5",
		"advertised.listeners":                         "PLAINTEXT://127.0.0.1:9094,SVC_STOCK_SERVICE://127.0.0.1:12,SVC_ORDERS_API_2://127.0.0.1:15",
		"listener.security.protocol.map":               "PLAINTEXT:PLAINTEXT,SVC_STOCK_SERVICE:PLAINTEXT,SVC_ORDERS_API_2:PLAINTEXT",
		"listener.name.svc_stock_service.some.setting": "x",
		"listener.name.svc_orders_api_2.some.setting":  "x",
	}
	for k, v := range want {
		if server[k] != v {
			t.Errorf("%s = %q, want %q", k, server[k], v)
		}
	}

	for _, bad := range []ClientListener{
		{Name: "svc-lower", Ports: []int{1, 2}, Advertised: []int{1, 2}},
		{Name: "PLAINTEXT", Ports: []int{1, 2}, Advertised: []int{1, 2}},
		{Name: "SVC_SHORT", Ports: []int{1}, Advertised: []int{1}},
	} {
		props := serverProperties(1, 3, "/logs", 9094, 2181)
		before := maps.Clone(props)
		if err := addClientListeners(props, 1, []ClientListener{bad}); err == nil {
			t.Errorf("client listener %+v was taken", bad)
		}
		if !maps.Equal(props, before) {
			t.Errorf("client listener %+v was refused but changed the properties", bad)
		}
	}
}

func TestAddBrokerListener(t *testing.T) {
	server := serverProperties(2, 3, "/logs", 9095, 2181)
	server["listener.name.plaintext.some.setting"] = "x"
	if err := addClientListeners(server, 2, []ClientListener{{Name: "SVC_ORDERS_API", Ports: []int{1, 2, 3}, Advertised: []int{11, 12, 13}}}); err != nil {
		t.Fatal(err)
	}
	if err := addBrokerListener(server, 2, 3, &BrokerLinks{Ports: []int{21, 22, 23}, Advertised: []int{31, 32, 33}}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"listeners":                          "PLAINTEXT://127.0.0.1:9095,SVC_ORDERS_API://127.0.0.1:3,BROKERS://127.0.0.1:23",
		"advertised.listeners":               "PLAINTEXT://127.0.0.1:9095,SVC_ORDERS_API://127.0.0.1:13,BROKERS://127.0.0.1:33",
		"listener.security.protocol.map":     "PLAINTEXT:PLAINTEXT,SVC_ORDERS_API:PLAINTEXT,BROKERS:PLAINTEXT",
		"listener.name.brokers.some.setting": "x",
		"inter.broker.listener.name":         "BROKERS",
		"replica.lag.time.max.ms":            "10000",
	}
	for k, v := range want {
		if server[k] != v {
			t.Errorf("%s = %q, want %q", k, server[k], v)
		}
	}
	if _, ok := server["security.inter.broker.protocol"]; ok {
		t.Error("security.inter.broker.protocol is still set beside inter.broker.listener.name, which Kafka refuses")
	}

	// Without links, nothing changes: the cluster keeps talking on its
	// main listener with Kafka's default lag.
	plain := serverProperties(2, 3, "/logs", 9095, 2181)
	before := maps.Clone(plain)
	if err := addBrokerListener(plain, 2, 3, nil); err != nil || !maps.Equal(plain, before) {
		t.Errorf("no broker links changed the properties (err %v)", err)
	}
	for _, bad := range []struct {
		n     int
		links BrokerLinks
	}{
		{1, BrokerLinks{Ports: []int{1}, Advertised: []int{2}}},
		{3, BrokerLinks{Ports: []int{1, 2}, Advertised: []int{3, 4, 5}}},
		{3, BrokerLinks{Ports: []int{1, 2, 3}, Advertised: []int{4}}},
	} {
		props := serverProperties(0, bad.n, "/logs", 9093, 2181)
		before := maps.Clone(props)
		if err := addBrokerListener(props, 0, bad.n, &bad.links); err == nil {
			t.Errorf("broker links %+v on %d brokers were taken", bad.links, bad.n)
		}
		if !maps.Equal(props, before) {
			t.Errorf("broker links %+v were refused but changed the properties", bad.links)
		}
	}
}

// A broker compiles with C1 alone unless FullJIT asks for C2, and
// KafkaJVMOptions, when given, are taken as they are.
func TestBrokerJVMsCompileWithC1UnlessFullJIT(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  Options
		quick bool
	}{
		{"default, one broker", Options{}, true},
		{"default, a cluster", Options{Brokers: 3}, true},
		{"FullJIT", Options{FullJIT: true}, false},
		{"FullJIT, a cluster", Options{Brokers: 3, FullJIT: true}, false},
		{"own options", Options{KafkaJVMOptions: []string{"-Xmx1g"}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &Broker{dir: t.TempDir(), classpath: "kafka.jar"}
			if err := b.prepareDir(tc.opts); err != nil {
				t.Fatal(err)
			}
			for _, nd := range b.nodes {
				if got := slices.Contains(nd.args, quickJIT); got != tc.quick {
					t.Errorf("%s's JVM arguments %v: %s present = %v, want %v", nd.name, nd.args, quickJIT, got, tc.quick)
				}
			}
		})
	}
}
