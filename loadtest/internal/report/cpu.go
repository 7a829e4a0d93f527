package report

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/kafkakit/kit/loadtest/internal/proc"
)

// Stack is how the measured stack was started and what its processes run
// with, read from the processes themselves, so no number hides it.
type Stack struct {
	StartedBy string         `json:"started_by"`
	Broker    string         `json:"broker"`
	Processes []proc.Process `json:"processes"`
	// Env is each process's settings that change its cost per order, as
	// its environment had them when it started.
	Env map[string]map[string]string `json:"env"`
	// Output is where each process's log goes: a pipe (read by the harness
	// or a supervisor such as `kit up`), a terminal, a file.
	Output map[string]string `json:"output"`
	// Shape is what ran: each service's instances, the database, the
	// broker. Empty for a stack that was already running.
	Shape    *Shape   `json:"shape,omitempty"`
	Notes    []string `json:"notes,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
}

// Shape is the stack's shape as the harness started it.
type Shape struct {
	// Instances is each service's instance count, in the order's path.
	Instances []ServiceCount `json:"instances"`
	// DB is where orders-api and stock-service keep state: sqlite or
	// postgres.
	DB     string `json:"db"`
	Broker string `json:"broker"`
}

// ServiceCount is how many instances of a service ran.
type ServiceCount struct {
	Service   string `json:"service"`
	Instances int    `json:"instances"`
}

// String says the shape in one line: "orders-api 1, stock-service 2, ...
// instances; DB postgres; broker embedded".
func (s *Shape) String() string {
	parts := make([]string, len(s.Instances))
	for i, c := range s.Instances {
		parts[i] = fmt.Sprintf("%s %d", c.Service, c.Instances)
	}
	return fmt.Sprintf("%s instances; DB %s; broker %s", strings.Join(parts, ", "), s.DB, s.Broker)
}

// CPU is the CPU time the processes used over one phase's measured window,
// per order sent in it (per record for a floor).
type CPU struct {
	WindowS   float64      `json:"window_s"`
	Orders    int64        `json:"orders"`
	Processes []ProcessCPU `json:"processes"`
	// StackMSPerOrder sums every process of the stack, broker included,
	// the runner apart.
	StackMSPerOrder float64 `json:"stack_ms_per_order"`
	// BrokerMSPerOrder sums the broker's processes (ZooKeeper included).
	BrokerMSPerOrder float64 `json:"broker_ms_per_order"`
	RunnerMSPerOrder float64 `json:"runner_ms_per_order"`
	// RelayMSPerRecord is, for a floor, the broker plus the runner (whose
	// process runs the relay): what the relay costs per relayed record.
	RelayMSPerRecord float64 `json:"relay_ms_per_record,omitempty"`
	// PerService sums the instances of each service that ran more than
	// once (orders-processor#1, orders-processor#2, ...).
	PerService []ServiceCPU `json:"per_service,omitempty"`
	// CoresBusy is every measured process's CPU time over the window: 2.0
	// is both cores of the reference machine.
	CoresBusy float64 `json:"cores_busy"`
	// Missing names the processes whose CPU time is not in the figures,
	// and why.
	Missing map[string]string `json:"missing,omitempty"`
	// Machine is the whole machine over the window, and OthersCores what
	// processes outside the run used of it: on a shared machine, the cores
	// the run could not have.
	Machine     *proc.Machine `json:"machine,omitempty"`
	OthersCores float64       `json:"others_cores,omitempty"`
	// Alloc is what each Go process's runtime allocated over the same
	// window, per order: the runner's own, and each service's whose debug
	// endpoint the runner knows. AllocMissing names the Go processes whose
	// counters could not be read, and why: they have no figures, never
	// zeros.
	Alloc        []ProcessAlloc    `json:"alloc,omitempty"`
	AllocMissing map[string]string `json:"alloc_missing,omitempty"`
	// ServicesAllocBytesPerOrder sums the services' bytes per order; nil
	// when any service's could not be read.
	ServicesAllocBytesPerOrder *float64 `json:"services_alloc_bytes_per_order,omitempty"`
}

// ProcessAlloc is one Go process's heap allocation over a window.
type ProcessAlloc struct {
	Name            string  `json:"name"`
	Kind            string  `json:"kind"`
	PID             int     `json:"pid"`
	Bytes           uint64  `json:"bytes"`
	BytesPerOrder   float64 `json:"bytes_per_order"`
	ObjectsPerOrder float64 `json:"objects_per_order"`
	GCCycles        uint64  `json:"gc_cycles"`
	// GCPer1kOrders is the garbage collections completed per 1,000 orders.
	GCPer1kOrders float64 `json:"gc_per_1k_orders"`
}

// ProcessCPU is one process's share.
type ProcessCPU struct {
	Name       string  `json:"name"`
	Kind       string  `json:"kind"`
	PID        int     `json:"pid"`
	MS         float64 `json:"cpu_ms"`
	MSPerOrder float64 `json:"ms_per_order"`
	Cores      float64 `json:"cores"`
}

// ServiceCPU is the sum over a service's instances.
type ServiceCPU struct {
	Service    string  `json:"service"`
	Instances  int     `json:"instances"`
	MSPerOrder float64 `json:"ms_per_order"`
	Cores      float64 `json:"cores"`
}

// ServiceOf is the service an instance's process name belongs to:
// "orders-processor#2" -> "orders-processor".
func ServiceOf(name string) string {
	service, _, _ := strings.Cut(name, "#")
	return service
}

// perService sums the processes named service#n by service, for the
// services with more than one.
func perService(procs []ProcessCPU) []ServiceCPU {
	var out []ServiceCPU
	index := map[string]int{}
	for _, p := range procs {
		if !strings.Contains(p.Name, "#") {
			continue
		}
		service := ServiceOf(p.Name)
		i, ok := index[service]
		if !ok {
			i = len(out)
			index[service] = i
			out = append(out, ServiceCPU{Service: service})
		}
		out[i].Instances++
		out[i].MSPerOrder += p.MSPerOrder
		out[i].Cores += p.Cores
	}
	for i := range out {
		out[i].MSPerOrder = round(out[i].MSPerOrder, 4)
		out[i].Cores = round(out[i].Cores, 3)
	}
	return out
}

// CPUOf turns a window's usage into per-order figures, processes in the
// order given.
func CPUOf(u proc.Usage, procs []proc.Process, orders int64, floor bool) *CPU {
	window := u.End.Sub(u.Start)
	if window <= 0 || orders <= 0 {
		return nil
	}
	c := &CPU{WindowS: round(window.Seconds(), 3), Orders: orders}
	for _, p := range procs {
		d, ok := u.ByName[p.Name]
		if !ok {
			if c.Missing == nil {
				c.Missing = map[string]string{}
			}
			c.Missing[p.Name] = u.Errors[p.Name]
			continue
		}
		ms := float64(d.Microseconds()) / 1000
		pc := ProcessCPU{Name: p.Name, Kind: p.Kind, PID: p.PID, MS: round(ms, 1),
			MSPerOrder: round(ms/float64(orders), 4), Cores: round(d.Seconds()/window.Seconds(), 3)}
		c.Processes = append(c.Processes, pc)
		switch p.Kind {
		case proc.KindRunner:
			c.RunnerMSPerOrder += ms / float64(orders)
		case proc.KindBroker:
			c.BrokerMSPerOrder += ms / float64(orders)
			c.StackMSPerOrder += ms / float64(orders)
		default:
			c.StackMSPerOrder += ms / float64(orders)
		}
		c.CoresBusy += d.Seconds() / window.Seconds()
	}
	c.PerService = perService(c.Processes)
	if floor {
		c.RelayMSPerRecord = round(c.BrokerMSPerOrder+c.RunnerMSPerOrder, 4)
	}
	c.StackMSPerOrder = round(c.StackMSPerOrder, 4)
	c.BrokerMSPerOrder = round(c.BrokerMSPerOrder, 4)
	c.RunnerMSPerOrder = round(c.RunnerMSPerOrder, 4)
	if m := u.Machine; m != nil {
		mm := *m
		mm.BusyCores, mm.StealCores, mm.CPUPressure = round(m.BusyCores, 3), round(m.StealCores, 3), round(m.CPUPressure, 3)
		c.Machine = &mm
		c.OthersCores = round(max(0, m.BusyCores-c.CoresBusy), 3)
	}
	c.CoresBusy = round(c.CoresBusy, 3)
	c.fillAlloc(u, procs, orders)
	return c
}

// fillAlloc fills the allocation figures from u's counters, processes in
// the order given.
func (c *CPU) fillAlloc(u proc.Usage, procs []proc.Process, orders int64) {
	var services float64
	servicesRead, servicesMissing := 0, false
	for _, p := range procs {
		if msg, ok := u.AllocErrors[p.Name]; ok {
			if c.AllocMissing == nil {
				c.AllocMissing = map[string]string{}
			}
			c.AllocMissing[p.Name] = msg
			servicesMissing = servicesMissing || p.Kind == proc.KindService
			continue
		}
		a, ok := u.Allocs[p.Name]
		if !ok {
			continue // not a Go process the runner reads (a JVM, PostgreSQL)
		}
		n := float64(orders)
		pa := ProcessAlloc{Name: p.Name, Kind: p.Kind, PID: p.PID, Bytes: a.Bytes, BytesPerOrder: round(float64(a.Bytes)/n, 1),
			ObjectsPerOrder: round(float64(a.Objects)/n, 2), GCCycles: a.GCCycles, GCPer1kOrders: round(1000*float64(a.GCCycles)/n, 3)}
		c.Alloc = append(c.Alloc, pa)
		if p.Kind == proc.KindService {
			services += float64(a.Bytes) / n
			servicesRead++
		}
	}
	if servicesRead > 0 && !servicesMissing {
		sum := round(services, 1)
		c.ServicesAllocBytesPerOrder = &sum
	}
}

// processAlloc is name's figures in c, false when c has none.
func (c *CPU) processAlloc(name string) (ProcessAlloc, bool) {
	for _, a := range c.Alloc {
		if a.Name == name {
			return a, true
		}
	}
	return ProcessAlloc{}, false
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

// cpuColumn is one phase's CPU figures under a short heading.
type cpuColumn struct {
	head  string
	cpu   *CPU
	floor bool
}

// cpuColumns lists the phases that have CPU figures, in run order.
func (r *Result) cpuColumns() []cpuColumn {
	var cols []cpuColumn
	for i, f := range r.floors() {
		if f.CPU == nil {
			continue
		}
		head := "floor"
		if i > 0 || f != r.Floor {
			head = "ref " + f.Producer
		}
		cols = append(cols, cpuColumn{head, f.CPU, true})
	}
	if r.Main != nil && r.Main.CPU != nil {
		cols = append(cols, cpuColumn{fmtRate(r.Main.Rate), r.Main.CPU, false})
	}
	for _, s := range r.Steps {
		if s.CPU != nil {
			head := "ramp " + fmtRate(s.Rate)
			if s.Fault != "" {
				head += " +fault"
			}
			cols = append(cols, cpuColumn{head, s.CPU, false})
		}
	}
	return cols
}

// cpuRows are the process names across columns: services, broker, other,
// runner, each group in first-seen order.
func cpuRows(cols []cpuColumn) []string {
	rank := map[string]int{"service": 0, "broker": 1, "database": 2, "other": 3, "runner": 4}
	var names []string
	kind := map[string]string{} // and which names are seen
	for _, c := range cols {
		for _, p := range c.cpu.Processes {
			if _, seen := kind[p.Name]; !seen {
				names = append(names, p.Name)
				kind[p.Name] = p.Kind
			}
		}
	}
	sort.SliceStable(names, func(i, j int) bool { return rank[kind[names[i]]] < rank[kind[names[j]]] })
	return names
}

// serviceRows are the services summed over instances, across columns.
func serviceRows(cols []cpuColumn) []ServiceCPU {
	var out []ServiceCPU
	seen := map[string]bool{}
	for _, c := range cols {
		for _, s := range c.cpu.PerService {
			if !seen[s.Service] {
				seen[s.Service] = true
				out = append(out, s)
			}
		}
	}
	return out
}

func (c *CPU) serviceSum(service string) (float64, bool) {
	for _, s := range c.PerService {
		if s.Service == service {
			return s.MSPerOrder, true
		}
	}
	return 0, false
}

func (c *CPU) perOrder(name string) (float64, bool) {
	for _, p := range c.Processes {
		if p.Name == name {
			return p.MSPerOrder, true
		}
	}
	return 0, false
}
