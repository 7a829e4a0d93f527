package report

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// stepRate is a ramp step's rate as the ramp table prints it: a step under
// a fault is marked.
func stepRate(s Phase) string {
	if s.Fault != "" {
		return fmt.Sprintf("%g +fault", s.Rate)
	}
	return fmt.Sprintf("%g", s.Rate)
}

// stepFault is the fault the run held during its faulted steps, "" when
// it had none.
func (r *Result) stepFault() string {
	for _, s := range r.Steps {
		if s.Fault != "" {
			return s.Fault
		}
	}
	return ""
}

// faultPair is a step under a fault and the step at the same rate without
// it, run just before.
type faultPair struct{ clean, faulted Phase }

// faultPairs pairs each faulted step with the clean step before it.
func (r *Result) faultPairs() []faultPair {
	var out []faultPair
	for i, s := range r.Steps {
		if s.Fault != "" && i > 0 && r.Steps[i-1].Fault == "" && r.Steps[i-1].Rate == s.Rate {
			out = append(out, faultPair{r.Steps[i-1], s})
		}
	}
	return out
}

// faultRows are the comparison's rows: what the fault did to latency and
// CPU per order at each rate.
func (r *Result) faultRows() [][]string {
	pairs := r.faultPairs()
	if len(pairs) == 0 {
		return nil
	}
	cpu := func(p Phase) string {
		if p.CPU == nil {
			return "-"
		}
		return fmt.Sprintf("%.3f", p.CPU.StackMSPerOrder)
	}
	rows := [][]string{{"rate/s", "p50 without", "p50 with", "p99 without", "p99 with", "CPU ms/order without", "CPU ms/order with", "never final with"}}
	for _, p := range pairs {
		rows = append(rows, []string{fmt.Sprintf("%g", p.clean.Rate),
			f(p.clean.LatencyMS.P50), f(p.faulted.LatencyMS.P50), f(p.clean.LatencyMS.P99), f(p.faulted.LatencyMS.P99),
			cpu(p.clean), cpu(p.faulted), fmt.Sprintf("%d", p.faulted.Unfinished)})
	}
	return rows
}

// writeFaultTable prints each faulted step beside the same step without
// the fault.
func (r *Result) writeFaultTable(w io.Writer) {
	rows := r.faultRows()
	if rows == nil {
		return
	}
	fmt.Fprintf(w, "\nunder %s, beside the same step without it (latency ms from intended send to PAID/FAILED seen; stack CPU)\n", r.stepFault())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, row := range rows {
		for _, cell := range row {
			fmt.Fprintf(tw, "%s\t", cell)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

// writeFaultMarkdown is writeFaultTable for report.md.
func (r *Result) writeFaultMarkdown(w io.Writer) {
	rows := r.faultRows()
	if rows == nil {
		return
	}
	fmt.Fprintf(w, "\n## Under a fault\n\nEach step ran twice at its rate: first as it is, then with `%s` held on the links (its own warm-up first, the fault cleared after).\n"+
		"Latency in ms from intended send to PAID/FAILED seen on the stream; CPU is the whole stack's per order.\n\n", r.stepFault())
	for i, row := range rows {
		fmt.Fprint(w, "|")
		for _, cell := range row {
			fmt.Fprintf(w, " %s |", cell)
		}
		fmt.Fprintln(w)
		if i == 0 {
			fmt.Fprint(w, "|")
			for range row {
				fmt.Fprint(w, "--:|")
			}
			fmt.Fprintln(w)
		}
	}
}
