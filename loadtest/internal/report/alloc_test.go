package report

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kafkakit/kit/loadtest/internal/proc"
)

// allocWindow is a ramp step's window with known counters: 2,000 orders,
// orders-api allocating 61,440,000 bytes (30,720 B, 30 KB, per order) in
// 200,000 objects over 4 collections, the runner 4,096,000 (2 KB per
// order) over 1, stock-service's debug endpoint refusing, and a JVM broker
// with CPU time and no Go counters.
func allocWindow() (proc.Usage, []proc.Process) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	procs := []proc.Process{
		{Name: "orders-api", Kind: proc.KindService, PID: 11}, {Name: "stock-service", Kind: proc.KindService, PID: 12},
		{Name: "broker", Kind: proc.KindBroker, PID: 13}, {Name: "runner", Kind: proc.KindRunner, PID: 14},
	}
	u := proc.Usage{Start: start, End: start.Add(10 * time.Second),
		ByName: map[string]time.Duration{"orders-api": time.Second, "stock-service": time.Second, "broker": time.Second, "runner": time.Second},
		Allocs: map[string]proc.Allocs{
			"orders-api": {Bytes: 61_440_000, Objects: 200_000, GCCycles: 4},
			"runner":     {Bytes: 4_096_000, Objects: 30_000, GCCycles: 1},
		},
		AllocErrors: map[string]string{"stock-service": "GET http://127.0.0.1:1/debug/vars: connection refused"}}
	return u, procs
}

func TestAllocOf(t *testing.T) {
	u, procs := allocWindow()
	c := CPUOf(u, procs, 2000, false)
	want := []ProcessAlloc{
		{Name: "orders-api", Kind: "service", PID: 11, Bytes: 61_440_000, BytesPerOrder: 30_720, ObjectsPerOrder: 100, GCCycles: 4, GCPer1kOrders: 2},
		{Name: "runner", Kind: "runner", PID: 14, Bytes: 4_096_000, BytesPerOrder: 2048, ObjectsPerOrder: 15, GCCycles: 1, GCPer1kOrders: 0.5},
	}
	if !reflect.DeepEqual(c.Alloc, want) {
		t.Errorf("alloc:\n got %+v\nwant %+v", c.Alloc, want)
	}
	if c.AllocMissing["stock-service"] == "" || len(c.AllocMissing) != 1 {
		t.Errorf("missing: got %v, want stock-service alone (the broker has no Go counters to miss)", c.AllocMissing)
	}
	if c.ServicesAllocBytesPerOrder != nil {
		t.Errorf("services total: got %v, want none while stock-service is unread", *c.ServicesAllocBytesPerOrder)
	}

	delete(u.AllocErrors, "stock-service")
	u.Allocs["stock-service"] = proc.Allocs{Bytes: 2_048_000}
	c = CPUOf(u, procs, 2000, false)
	if got := c.ServicesAllocBytesPerOrder; got == nil || *got != 31_744 {
		t.Errorf("services total: got %v, want 31,744 bytes per order (orders-api and stock-service, not the runner)", got)
	}

	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"alloc":[{"name":"orders-api"`, `"bytes_per_order":30720`, `"gc_per_1k_orders":2`, `"services_alloc_bytes_per_order":31744`} {
		if !bytes.Contains(b, []byte(key)) {
			t.Errorf("latest.json's cpu lacks %s: %s", key, b)
		}
	}
}

// TestAllocTable: a ramp step with known counters gives the exact KB and
// objects per order and GC cycles per 1,000 orders beside its CPU column, in the terminal table and in the Markdown;
// a process whose counters are missing is n/a, saying why, never 0.
func TestAllocTable(t *testing.T) {
	u, procs := allocWindow()
	r := Result{Broker: "embedded", Target: "harness"}
	r.Steps = []Phase{{Name: "ramp 500/s", Rate: 500, CPU: CPUOf(u, procs, 2000, false)}}
	var table, md bytes.Buffer
	if err := r.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteMarkdown(&md, nil); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"allocation per order, KB (1,024 bytes) / objects / GC cycles per 1,000 orders (Go heap allocated",
		"process         ramp 500/s", "orders-api  30.0 / 100 / 2.00", "stock-service                n/a", "runner    2.0 / 15 / 0.50", "services total (KB)                n/a",
		"allocation not measured (n/a): stock-service: GET http://127.0.0.1:1/debug/vars: connection refused",
	} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	section, _, _ := strings.Cut(table.String()[strings.Index(table.String(), "allocation per order"):], "\n\n")
	if strings.Contains(section, "broker") {
		t.Errorf("the broker (no Go counters) has an allocation row:\n%s", section)
	}
	for _, want := range []string{"## Allocation per order (KB / objects / GC cycles per 1,000 orders)", "| process | ramp 500/s |", "| orders-api | 30.0 / 100 / 2.00 |", "| stock-service | n/a |",
		"| runner | 2.0 / 15 / 0.50 |", "allocation not measured (n/a): stock-service: GET"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md.String())
		}
	}
}

// TestNoAllocTable: a run whose windows read no Go counters prints no
// allocation table at all.
func TestNoAllocTable(t *testing.T) {
	u, procs := allocWindow()
	u.Allocs, u.AllocErrors = nil, nil
	r := Result{Broker: "embedded", Target: "harness", Steps: []Phase{{Name: "ramp 500/s", Rate: 500, CPU: CPUOf(u, procs, 2000, false)}}}
	var table bytes.Buffer
	if err := r.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(table.String(), "allocation per order") {
		t.Errorf("table has an allocation table with nothing in it:\n%s", table.String())
	}
}
