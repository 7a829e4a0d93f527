package kafka

import (
	"maps"
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
