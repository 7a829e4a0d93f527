package report

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
)

// f formats milliseconds for a table.
func f(ms float64) string {
	switch {
	case ms == 0:
		return "-"
	case ms < 10:
		return fmt.Sprintf("%.2f", ms)
	case ms < 1000:
		return fmt.Sprintf("%.1f", ms)
	}
	return fmt.Sprintf("%.0f", ms)
}

func fmtRate(r float64) string { return fmt.Sprintf("%g/s", r) }

func fr(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.2fx", *v)
}

// Headline is the one-line description of the run.
func (r *Result) Headline() string {
	var b strings.Builder
	fmt.Fprintf(&b, "broker %s (%s)", r.Broker, r.Target)
	if sh := r.Stack.Shape; sh != nil {
		fmt.Fprintf(&b, "; %s", sh)
	}
	if r.Main != nil {
		fmt.Fprintf(&b, ", %g orders/s for %gs after %gs warm-up", r.Rate, r.DurationS, r.WarmupS)
		if r.Floor != nil && r.Floor.Slices > 1 {
			fmt.Fprintf(&b, " (in %d slices taking turns with the floor relays)", r.Floor.Slices)
		}
	}
	if len(r.Steps) > 0 {
		var rates []string
		for _, s := range r.Steps {
			if s.Fault == "" { // a faulted step repeats the rate before it
				rates = append(rates, fmt.Sprintf("%g", s.Rate))
			}
		}
		fmt.Fprintf(&b, ", ramp %s orders/s", strings.Join(rates, ","))
		if f := r.stepFault(); f != "" {
			fmt.Fprintf(&b, ", each step also under %s", f)
		}
	}
	if r.PaymentDelay != "" {
		fmt.Fprintf(&b, ", payment delay %s", r.PaymentDelay)
	}
	return b.String()
}

type latencyRow struct {
	name string
	l    Latency
}

func (r *Result) latencyRows() []latencyRow {
	rows := []latencyRow{
		{"201 Created", r.AcceptedMS},
		{"CREATED seen on stream", r.CreatedMS},
		{"PAID/FAILED seen on stream", r.LatencyMS},
	}
	if f := r.Floor; f != nil {
		rows = append(rows, latencyRow{fmt.Sprintf("floor: %d-hop relay, %s", f.Hops, f.Producer), f.LatencyMS})
	}
	for _, f := range r.References {
		rows = append(rows, latencyRow{fmt.Sprintf("reference: %d-hop relay, %s", f.Hops, f.Producer), f.LatencyMS})
	}
	return rows
}

// FloorLines describe each floor's relay in a sentence.
func (r *Result) FloorLines() []string {
	var out []string
	for _, f := range r.floors() {
		rf := ""
		if f.Replication > 1 {
			rf = fmt.Sprintf("; replication %d", f.Replication)
		}
		out = append(out, fmt.Sprintf("%d-hop relay %s (%s; partition readers, MaxWait %gms%s): sent %d, received %d, lost %d, not sent %d, errors %d",
			f.Hops, strings.Join(f.Topics, " -> "), f.ProducerDesc, f.MaxWaitMS, rf, f.Sent, f.Received, f.Lost, f.Unsent, sum(f.ErrorsByKind)))
	}
	return out
}

// WriteTable prints the terminal summary.
func (r *Result) WriteTable(w io.Writer) error {
	ew := &errWriter{w: w}
	fmt.Fprintf(ew, "\nloadtest: %s\n", r.Headline())
	if r.Main != nil {
		fmt.Fprintln(ew)
		tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "latency from intended send (ms)\tp50\tp90\tp99\tp99.9\tmax\tcount\t")
		for _, row := range r.latencyRows() {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t\n", row.name, f(row.l.P50), f(row.l.P90), f(row.l.P99), f(row.l.P999), f(row.l.Max), row.l.Count)
		}
		if r.FloorMS != nil {
			fmt.Fprintf(tw, "pipeline / floor\t%s\t%s\t%s\t%s\t\t\t\n", fr(r.RatioP50), fr(r.RatioP90), fr(r.RatioP99), fr(r.RatioP999))
		}
		for _, f := range r.References {
			if q := f.PipelineRatio; q != nil {
				fmt.Fprintf(tw, "pipeline / %s relay\t%s\t%s\t%s\t%s\t\t\t\n", f.Producer, fr(q.P50), fr(q.P90), fr(q.P99), fr(q.P999))
			}
		}
		tw.Flush()
		m := r.Main
		fmt.Fprintf(ew, "\norders: scheduled %d, sent %d, completed %d (paid %d, failed %d), achieved %.1f/s\n",
			m.Scheduled, m.Sent, m.Completed, m.Paid, m.Failed, m.AchievedRate)
		fmt.Fprintf(ew, "        errors %d, not sent %d, sent late %d (> %gms behind), never final %d, worst send lag %sms\n",
			m.Errors, m.Unsent, m.Late, r.LateAfterMS, m.Unfinished, f(m.MaxLagMS))
		for _, line := range r.FloorLines() {
			fmt.Fprintf(ew, "floor:  %s\n", line)
		}
		writeErrors(ew, "orders", m.ErrorsByKind, m.ErrorExamples)
		for _, fl := range r.floors() {
			writeErrors(ew, "floor "+fl.Producer, fl.ErrorsByKind, fl.Examples)
		}
		if h := r.Hops; h != nil && h.Orders > 0 {
			fmt.Fprintf(ew, "\nhops of the main run's %d orders, ms (record timestamps: millisecond resolution; %d orders without all their records)\n", h.Orders, h.Missing)
			tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "hop\tp50\tp90\tp99\tmean, median band\tmean, slowest 1%\t")
			for _, hop := range h.Hops {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", hop.Name, f(hop.P50), f(hop.P90), f(hop.P99), f(hop.MedianMean), f(hop.SlowMean))
			}
			tw.Flush()
		}
	}
	if len(r.Steps) > 0 {
		fmt.Fprintf(ew, "\nramp (a step is sustained at p99 <= %sms, >= 95%% of its rate achieved, nothing unsent or unfinished)\n", f(r.StepP99LimitMS))
		tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "rate/s\tachieved/s\tsent\tcompleted\terrors\tunsent\tlate\tunfinished\tp50\tp99\tmax\tsustained\t")
		for _, s := range r.Steps {
			fmt.Fprintf(tw, "%s\t%.1f\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t\n", stepRate(s), s.AchievedRate, s.Sent, s.Completed, s.Errors,
				s.Unsent, s.Late, s.Unfinished, f(s.LatencyMS.P50), f(s.LatencyMS.P99), f(s.LatencyMS.Max), yesNo(s.Sustained))
		}
		tw.Flush()
		for _, s := range r.Steps {
			writeErrors(ew, s.Name, s.ErrorsByKind, s.ErrorExamples)
		}
		if r.MaxSustainedRate != nil {
			fmt.Fprintf(ew, "max sustained rate: %g orders/s\n", *r.MaxSustainedRate)
		}
		r.writeFaultTable(ew)
	}
	r.writeCPUTable(ew)
	r.writeAllocTable(ew)
	r.writeStack(ew)
	for _, wmsg := range r.Warnings {
		fmt.Fprintf(ew, "warning: %s\n", wmsg)
	}
	WriteChecks(ew, r.Thresholds, r.Passed)
	return ew.err
}

// writeCPUTable prints CPU milliseconds per order: a row per process, a
// column per phase.
func (r *Result) writeCPUTable(w io.Writer) {
	cols := r.cpuColumns()
	if len(cols) == 0 {
		return
	}
	fmt.Fprintln(w, "\nCPU per order, ms (user+system from /proc over each measured window; floors: per relayed record)")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, line := range r.cpuTable(cols) {
		fmt.Fprintln(tw, strings.Join(line, "\t")+"\t")
	}
	tw.Flush()
	r.writeCPUMissing(w, cols)
	if line := r.idleLine(); line != "" {
		fmt.Fprintf(w, "%s\n", line)
	}
}

// allocHead says where the allocation table's figures come from.
const allocHead = "Go heap allocated, from each Go process's runtime over each measured window; floors: per relayed record"

// writeAllocTable prints each Go process's allocation per order: a row per
// process, a column per phase, as the CPU table.
func (r *Result) writeAllocTable(w io.Writer) {
	cols := r.cpuColumns()
	rows := allocTable(cols)
	if rows == nil {
		return
	}
	fmt.Fprintf(w, "\nallocation per order, KB (1,024 bytes) / objects / GC cycles per 1,000 orders (%s)\n", allocHead)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, line := range rows {
		fmt.Fprintln(tw, strings.Join(line, "\t")+"\t")
	}
	tw.Flush()
	for _, line := range allocMissing(cols) {
		fmt.Fprintf(w, "  %s\n", line)
	}
}

// allocTable is the allocation table's cells, header first: a row per Go
// process, then the services' sum; nil when no phase read any. A process
// whose counters could not be read in a phase is "n/a" there.
func allocTable(cols []cpuColumn) [][]string {
	// The rows in the CPU table's order: services, broker, other, runner.
	rank := map[string]int{"service": 0, "broker": 1, "database": 2, "other": 3, "runner": 4}
	kind := map[string]string{}
	for _, c := range cols {
		for _, p := range c.cpu.Processes {
			kind[p.Name] = p.Kind
		}
	}
	var names []string
	seen := map[string]bool{}
	for _, c := range cols {
		for _, a := range c.cpu.Alloc {
			if !seen[a.Name] {
				names, seen[a.Name], kind[a.Name] = append(names, a.Name), true, a.Kind
			}
		}
		for _, name := range slices.Sorted(maps.Keys(c.cpu.AllocMissing)) {
			if !seen[name] {
				names, seen[name] = append(names, name), true
			}
		}
	}
	if len(names) == 0 {
		return nil
	}
	sort.SliceStable(names, func(i, j int) bool { return rank[or(kind[names[i]], "other")] < rank[or(kind[names[j]], "other")] })
	head := []string{"process"}
	for _, c := range cols {
		head = append(head, c.head)
	}
	rows := [][]string{head}
	for _, name := range names {
		row := []string{name}
		for _, c := range cols {
			if a, ok := c.cpu.processAlloc(name); ok {
				row = append(row, fmt.Sprintf("%.1f / %s / %.2f", a.BytesPerOrder/1024, objects(a.ObjectsPerOrder), a.GCPer1kOrders))
			} else if _, missing := c.cpu.AllocMissing[name]; missing {
				row = append(row, "n/a")
			} else {
				row = append(row, "?")
			}
		}
		rows = append(rows, row)
	}
	total := []string{"services total (KB)"}
	for _, c := range cols {
		if v := c.cpu.ServicesAllocBytesPerOrder; v != nil {
			total = append(total, fmt.Sprintf("%.1f", *v/1024))
		} else {
			total = append(total, "n/a")
		}
	}
	return append(rows, total)
}

// objects is a count of objects per order: whole from 10 up, where a
// tenth says nothing, with one decimal below (a floor's relayed record).
func objects(v float64) string {
	if v >= 10 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

// allocMissing says, once per process, why its allocation was not read.
func allocMissing(cols []cpuColumn) []string {
	missing := map[string]string{}
	for _, c := range cols {
		maps.Copy(missing, c.cpu.AllocMissing)
	}
	var out []string
	for _, k := range slices.Sorted(maps.Keys(missing)) {
		out = append(out, fmt.Sprintf("allocation not measured (n/a): %s: %s", k, missing[k]))
	}
	return out
}

// idleLine says what the processes used with no load, in cores.
func (r *Result) idleLine() string {
	if r.Idle == nil {
		return ""
	}
	parts := make([]string, len(r.Idle.Processes))
	for i, p := range r.Idle.Processes {
		parts[i] = fmt.Sprintf("%s %.3f", p.Name, p.Cores)
	}
	return fmt.Sprintf("idle, before any load (%.0fs), cores: %s", r.Idle.WindowS, strings.Join(parts, ", "))
}

func (r *Result) writeCPUMissing(w io.Writer, cols []cpuColumn) {
	missing := map[string]string{}
	for _, c := range cols {
		maps.Copy(missing, c.cpu.Missing)
	}
	for _, k := range slices.Sorted(maps.Keys(missing)) {
		fmt.Fprintf(w, "  not measured: %s: %s\n", k, missing[k])
	}
}

// cpuTable is the CPU table's cells, header first: a row per process, the
// totals, then what the rest of the machine did in each window.
func (r *Result) cpuTable(cols []cpuColumn) [][]string {
	head := []string{"process"}
	for _, c := range cols {
		head = append(head, c.head)
	}
	rows := [][]string{head}
	cell := func(v float64) string {
		if v == 0 {
			return "-"
		}
		return fmt.Sprintf("%.3f", v)
	}
	// row is one line of the table: value looks up its cell in a column.
	row := func(label string, value func(*CPU) (float64, bool)) []string {
		row := []string{label}
		for _, c := range cols {
			if v, ok := value(c.cpu); ok {
				row = append(row, cell(v))
			} else {
				row = append(row, "?")
			}
		}
		return row
	}
	for _, name := range cpuRows(cols) {
		rows = append(rows, row(name, func(c *CPU) (float64, bool) { return c.perOrder(name) }))
	}
	for _, s := range serviceRows(cols) {
		rows = append(rows, row(fmt.Sprintf("%s, %d instances summed", s.Service, s.Instances), func(c *CPU) (float64, bool) { return c.serviceSum(s.Service) }))
	}
	stack, relay, cores := []string{"stack total (broker included)"}, []string{"floor relay (broker + runner) per record"}, []string{"cores busy, the run's processes"}
	others, steal, pressure, load := []string{"cores busy, other processes"}, []string{"cores stolen by the hypervisor"}, []string{"CPU pressure (time a task waited)"}, []string{"load average, 1 min"}
	machine := false
	for _, c := range cols {
		if c.floor {
			stack = append(stack, "")
			relay = append(relay, cell(c.cpu.RelayMSPerRecord))
		} else {
			stack = append(stack, cell(c.cpu.StackMSPerOrder))
			relay = append(relay, "")
		}
		cores = append(cores, fmt.Sprintf("%.2f", c.cpu.CoresBusy))
		m := c.cpu.Machine
		if m == nil {
			others, steal, pressure, load = append(others, "?"), append(steal, "?"), append(pressure, "?"), append(load, "?")
			continue
		}
		machine = true
		others = append(others, fmt.Sprintf("%.2f", c.cpu.OthersCores))
		steal = append(steal, fmt.Sprintf("%.2f", m.StealCores))
		load = append(load, fmt.Sprintf("%.1f", m.LoadAvg1))
		if m.CPUPressure < 0 {
			pressure = append(pressure, "?")
		} else {
			pressure = append(pressure, fmt.Sprintf("%.0f%%", 100*m.CPUPressure))
		}
	}
	rows = append(rows, stack, relay, cores)
	if machine {
		rows = append(rows, others, steal, pressure, load)
	}
	return rows
}

// writeStack prints how the stack was started and what its processes run
// with.
func (r *Result) writeStack(w io.Writer) {
	st := r.Stack
	if st.StartedBy == "" {
		return
	}
	fmt.Fprintf(w, "\nstack: %s; broker: %s\n", st.StartedBy, st.Broker)
	if st.Shape != nil {
		fmt.Fprintf(w, "shape: %s\n", st.Shape)
	}
	for _, p := range st.Processes {
		fmt.Fprintf(w, "  %-18s pid %-7d %-28s %s; %s; log to %s\n", p.Name, p.PID, p.Command, p.Found, envLine(st.Env[p.Name]), or(st.Output[p.Name], "?"))
	}
	for _, n := range st.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
	for _, wmsg := range st.Warnings {
		fmt.Fprintf(w, "warning: %s\n", wmsg)
	}
}

// envLine prints the settings a process started with; unset ones are left out.
func envLine(env map[string]string) string {
	if env == nil {
		return "settings unknown"
	}
	keys := slices.Sorted(maps.Keys(env))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + env[k]
	}
	if len(parts) == 0 {
		return "no settings in its environment"
	}
	return strings.Join(parts, " ")
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// WriteChecks prints each threshold check and the overall result.
func WriteChecks(w io.Writer, checks []Check, passed bool) {
	if len(checks) > 0 {
		fmt.Fprintln(w, "\nthresholds:")
	}
	for _, c := range checks {
		fmt.Fprintf(w, "  %s  %s = %.3g (limit %s %.3g)\n", passFail(c.OK), c.Name, c.Value, c.Op, c.Limit)
	}
	fmt.Fprintf(w, "\nresult: %s\n", passFail(passed))
}

func writeErrors(w io.Writer, what string, byKind map[string]int64, examples map[string]string) {
	for _, k := range sortedKinds(byKind) {
		fmt.Fprintf(w, "  %s error %q: %d", what, k, byKind[k])
		if e := examples[k]; e != "" {
			fmt.Fprintf(w, " (first: %.160s)", e)
		}
		fmt.Fprintln(w)
	}
}

func sortedKinds(m map[string]int64) []string {
	kinds := make([]string, 0, len(m))
	for k := range m {
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(i, j int) bool {
		if m[kinds[i]] != m[kinds[j]] {
			return m[kinds[i]] > m[kinds[j]]
		}
		return kinds[i] < kinds[j]
	})
	return kinds
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

func passFail(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

func yesNo(b *bool) string {
	switch {
	case b == nil:
		return "-"
	case *b:
		return "yes"
	}
	return "no"
}

// errWriter keeps the first write error so the formatting code stays flat.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

// WriteMarkdown writes report.md; images are linked by file name, next to it.
func (r *Result) WriteMarkdown(w io.Writer, images []string) error {
	ew := &errWriter{w: w}
	fmt.Fprintf(ew, "# Load test: order to browser\n\n%s.\n\nStarted %s. Result: **%s**.\n\n",
		r.Headline(), r.StartedAt.UTC().Format("2006-01-02 15:04:05 UTC"), passFail(r.Passed))
	fmt.Fprintln(ew, "Latencies run from each order's *intended* send time on a constant-rate schedule, so a stall in the")
	fmt.Fprintln(ew, "stack or in the runner shows up in the figures instead of delaying the next orders (coordinated omission).")
	fmt.Fprintln(ew, "The floor is a raw kafka-go relay with one hop per topic an order crosses (produce -> consume + produce -> ... -> consume), on the same")
	fmt.Fprintln(ew, "broker at the same rate; the ratios are to the honest floor, whose producers send each record the moment it is ready.")
	if r.Main != nil {
		m := r.Main
		fmt.Fprintln(ew, "\n## Latency (ms)\n\n| from intended send to | p50 | p90 | p99 | p99.9 | max | count |\n|---|--:|--:|--:|--:|--:|--:|")
		for _, row := range r.latencyRows() {
			fmt.Fprintf(ew, "| %s | %s | %s | %s | %s | %s | %d |\n", row.name, f(row.l.P50), f(row.l.P90), f(row.l.P99), f(row.l.P999), f(row.l.Max), row.l.Count)
		}
		if r.FloorMS != nil {
			fmt.Fprintf(ew, "| **pipeline / floor** | %s | %s | %s | %s | | |\n", fr(r.RatioP50), fr(r.RatioP90), fr(r.RatioP99), fr(r.RatioP999))
		}
		for _, f := range r.References {
			if q := f.PipelineRatio; q != nil {
				fmt.Fprintf(ew, "| pipeline / %s relay | %s | %s | %s | %s | | |\n", f.Producer, fr(q.P50), fr(q.P90), fr(q.P99), fr(q.P999))
			}
		}
		fmt.Fprintln(ew, "\n## Orders\n\n| scheduled | sent | completed | paid | failed | achieved/s | errors | not sent | sent late | never final | worst send lag (ms) |\n|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
		fmt.Fprintf(ew, "| %d | %d | %d | %d | %d | %.1f | %d | %d | %d | %d | %s |\n", m.Scheduled, m.Sent, m.Completed, m.Paid, m.Failed,
			m.AchievedRate, m.Errors, m.Unsent, m.Late, m.Unfinished, f(m.MaxLagMS))
		fmt.Fprintf(ew, "\n\"Sent late\" means more than %gms behind the intended time.\n", r.LateAfterMS)
		mdErrors(ew, "Order errors", m.ErrorsByKind, m.ErrorExamples)
		for _, line := range r.FloorLines() {
			fmt.Fprintf(ew, "\nFloor: %s.\n", line)
		}
		for _, fl := range r.floors() {
			mdErrors(ew, "Floor errors ("+fl.Producer+")", fl.ErrorsByKind, fl.Examples)
		}
		if h := r.Hops; h != nil && h.Orders > 0 {
			fmt.Fprintf(ew, "\n## Where the time goes: hops\n\nEach order's time to its final status, split at the moments its records were sent (the timestamps\n"+
				"the outbox relays and the processor put on them; Kafka keeps milliseconds) and at the runner's own clock,\n"+
				"for the %d orders of the main run (%d without all their records). The last two columns are each hop's\n"+
				"mean over the orders around the median and over the slowest 1%%: the hop that grows is the tail's.\n\n", h.Orders, h.Missing)
			fmt.Fprintln(ew, "| hop | p50 | p90 | p99 | mean, median band | mean, slowest 1% |\n|---|--:|--:|--:|--:|--:|")
			for _, hop := range h.Hops {
				fmt.Fprintf(ew, "| %s | %s | %s | %s | %s | %s |\n", hop.Name, f(hop.P50), f(hop.P90), f(hop.P99), f(hop.MedianMean), f(hop.SlowMean))
			}
		}
	}
	if len(r.Steps) > 0 {
		fmt.Fprintf(ew, "\n## Ramp\n\nA step is sustained when its p99 is at most %sms, at least 95%% of its rate was achieved and no order was left unsent or unfinished.\n\n", f(r.StepP99LimitMS))
		fmt.Fprintln(ew, "| rate/s | achieved/s | sent | completed | errors | not sent | late | never final | p50 | p99 | max | sustained |\n|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|:-:|")
		for _, s := range r.Steps {
			fmt.Fprintf(ew, "| %s | %.1f | %d | %d | %d | %d | %d | %d | %s | %s | %s | %s |\n", stepRate(s), s.AchievedRate, s.Sent, s.Completed, s.Errors,
				s.Unsent, s.Late, s.Unfinished, f(s.LatencyMS.P50), f(s.LatencyMS.P99), f(s.LatencyMS.Max), yesNo(s.Sustained))
		}
		if r.MaxSustainedRate != nil {
			fmt.Fprintf(ew, "\n**Max sustained rate: %g orders/s.**\n", *r.MaxSustainedRate)
		}
		r.writeFaultMarkdown(ew)
	}
	if cols := r.cpuColumns(); len(cols) > 0 {
		fmt.Fprintln(ew, "\n## CPU per order (ms)\n\nUser + system time of each process from /proc, read at the start and end of each measured window,")
		fmt.Fprintln(ew, "divided by the orders sent in it (for a floor, by the records relayed). The runner is apart from the stack total.")
		fmt.Fprintln(ew)
		for i, line := range r.cpuTable(cols) {
			fmt.Fprintf(ew, "| %s |\n", strings.Join(line, " | "))
			if i == 0 {
				fmt.Fprintf(ew, "|---%s|\n", strings.Repeat("|--:", len(line)-1))
			}
		}
		r.writeCPUMissing(ew, cols)
		if line := r.idleLine(); line != "" {
			fmt.Fprintf(ew, "\n%s.\n", strings.ToUpper(line[:1])+line[1:])
		}
		if rows := allocTable(cols); rows != nil {
			fmt.Fprintf(ew, "\n## Allocation per order (KB / objects / GC cycles per 1,000 orders)\n\n%s (a service's from its /debug/vars on\nDEBUG_ADDR, the runner's from runtime/metrics), divided by the orders sent in it. n/a: not read, for the reason below.\n\n", allocHead)
			for i, line := range rows {
				fmt.Fprintf(ew, "| %s |\n", strings.Join(line, " | "))
				if i == 0 {
					fmt.Fprintf(ew, "|---%s|\n", strings.Repeat("|--:", len(line)-1))
				}
			}
			for _, line := range allocMissing(cols) {
				fmt.Fprintf(ew, "\n%s\n", line)
			}
		}
	}
	if st := r.Stack; st.StartedBy != "" {
		fmt.Fprintf(ew, "\n## Stack\n\nStarted by %s. Broker: %s.\n", st.StartedBy, st.Broker)
		if st.Shape != nil {
			fmt.Fprintf(ew, "\nShape: %s.\n", st.Shape)
		}
		fmt.Fprintf(ew, "\n| process | pid | command | found | settings | log to |\n|---|--:|---|---|---|---|\n")
		for _, p := range st.Processes {
			fmt.Fprintf(ew, "| %s | %d | %s | %s | %s | %s |\n", p.Name, p.PID, p.Command, p.Found, envLine(st.Env[p.Name]), or(st.Output[p.Name], "?"))
		}
		for _, n := range st.Notes {
			fmt.Fprintf(ew, "\nNote: %s\n", n)
		}
		for _, wmsg := range st.Warnings {
			fmt.Fprintf(ew, "\n> warning: %s\n", wmsg)
		}
	}
	if len(r.Thresholds) > 0 {
		fmt.Fprintln(ew, "\n## Thresholds\n\n| check | value | limit | result |\n|---|--:|--:|:-:|")
		for _, c := range r.Thresholds {
			fmt.Fprintf(ew, "| %s | %.3g | %s %.3g | %s |\n", c.Name, c.Value, c.Op, c.Limit, passFail(c.OK))
		}
	}
	for _, wmsg := range r.Warnings {
		fmt.Fprintf(ew, "\n> warning: %s\n", wmsg)
	}
	if len(images) > 0 {
		fmt.Fprintln(ew, "\n## Plots")
		for _, img := range images {
			fmt.Fprintf(ew, "\n![%s](%s)\n", img, img)
		}
	}
	return ew.err
}

func mdErrors(w io.Writer, title string, byKind map[string]int64, examples map[string]string) {
	if len(byKind) == 0 {
		return
	}
	fmt.Fprintf(w, "\n%s:\n\n| kind | count | first message |\n|---|--:|---|\n", title)
	for _, k := range sortedKinds(byKind) {
		fmt.Fprintf(w, "| %s | %d | %s |\n", k, byKind[k], strings.ReplaceAll(fmt.Sprintf("%.160s", examples[k]), "|", "\\|"))
	}
}
