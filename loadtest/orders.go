package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/kafkakit/kit/loadtest/internal/hops"
	"github.com/kafkakit/kit/loadtest/internal/pace"
	"github.com/kafkakit/kit/loadtest/internal/pipeline"
	"github.com/kafkakit/kit/loadtest/internal/proc"
	"github.com/kafkakit/kit/loadtest/internal/report"
	"github.com/kafkakit/kit/loadtest/internal/stats"
)

// runOrders is the order pipeline measurement: floor, main run, ramp.
func runOrders(ctx context.Context, cfg config, t *target, stdout, stderr io.Writer) error {
	runID := "lt" + strconv.FormatInt(time.Now().Unix()%1_000_000, 36)
	skus := make([]string, cfg.skus)
	for i := range skus {
		skus[i] = fmt.Sprintf("loadtest-sku-%02d", i)
	}
	res := &report.Result{
		Broker:         t.broker,
		Target:         t.kind,
		StartedAt:      time.Now(),
		WarmupS:        cfg.warmup.Seconds(),
		LateAfterMS:    report.Ms(cfg.lateAfter),
		StepP99LimitMS: report.Ms(cfg.thresholds.StepP99),
		URLs:           map[string]string{"orders": t.ordersURLs[0], "notifications": t.notificationsURLs[0], "stock": t.stockURL},
		Stack:          t.stack,
		RunnerProfile:  cfg.cpuProfile,
	}
	if err := proc.Available(); err != nil {
		res.Warnings = append(res.Warnings, fmt.Sprintf("no CPU figures: %v", err))
	}
	if t.kind == "harness" {
		res.PaymentDelay = cfg.paymentDelay.String()
	}
	if lim := fileLimit(); lim > 0 && uint64(cfg.maxInFlight)+256 > lim {
		res.Warnings = append(res.Warnings, fmt.Sprintf("-max-in-flight %d is close to the open-file limit %d: orders may fail with too many open files", cfg.maxInFlight, lim))
	}
	if cfg.seed && t.stockURL != "" {
		if err := seedStock(ctx, t.stockURL, skus); err != nil {
			res.Warnings = append(res.Warnings, fmt.Sprintf("seeding stock at %s: %v (orders still reach PAID; stock-service may reject them)", t.stockURL, err))
		}
	}

	httpClient := pipeline.NewHTTPClient(pipeline.TransportOptions{SourceIPs: cfg.sourceIPs, MaxIdlePerHost: 1024})
	defer httpClient.CloseIdleConnections()
	client, err := pipeline.NewClient(httpClient, t.ordersURLs, t.notificationsURLs,
		pipeline.Order{SKUs: skus, Total: cfg.total, Currency: "EUR", RunID: runID}, cfg.orderTimeout)
	if err != nil {
		return err
	}
	pacer := pace.New(pace.Options{MaxInFlight: cfg.maxInFlight, LateAfter: cfg.lateAfter})

	if cfg.idle > 0 {
		now := time.Now()
		u := proc.Measure(t.processes, now, now.Add(cfg.idle), ctx.Done()).Wait()
		res.Idle = report.CPUOf(u, t.processes, 1, false)
	}

	timeline := stats.NewTimeline(time.Now(), time.Second)
	var floorHists []floorCurve
	var mainRec *pipeline.Recorder
	if cfg.rate > 0 {
		floors, main, err := measureInterleaved(ctx, cfg, t, pacer, client, timeline, stderr)
		if err != nil {
			return err
		}
		res.SetMain(main.Phase) // first: the floors' ratios are to it
		for i, f := range floors {
			if i == 0 {
				floorHists = append(floorHists, floorCurve{fmt.Sprintf("floor (%d-hop, %s)", f.Hops, f.Producer), f.hist})
				res.SetFloor(f.Floor)
			} else {
				floorHists = append(floorHists, floorCurve{fmt.Sprintf("reference (%d-hop, %s)", f.Hops, f.Producer), f.hist})
				res.AddReference(f.Floor)
			}
		}
		mainRec = main.rec
		res.Warnings = append(res.Warnings, main.warnings...)
		// Where the main run's time went, from its records' timestamps.
		hopsCtx, cancel := context.WithTimeout(ctx, time.Minute)
		b, err := hops.Measure(hopsCtx, t.brokers, mainRec.Orders(), t.kgoOpts...)
		cancel()
		if err != nil {
			res.Warnings = append(res.Warnings, fmt.Sprintf("no hop breakdown: %v", err))
		} else {
			res.Hops = &b
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}

	for i, ph := range pace.Ramp(cfg.ramp, cfg.warmup, cfg.stepDuration) {
		if ctx.Err() != nil {
			break
		}
		switch {
		case i == 0 && cfg.rate > 0:
			ph.Warmup = 0 // the main run warmed the stack up
		case i == 0:
			ph.Warmup += cfg.brokerWarmup // nothing warmed the broker up yet
		}
		steps, err := runStep(ctx, cfg, t, pacer, client, ph, timeline, stderr)
		res.Steps = append(res.Steps, steps...)
		if err != nil {
			return err
		}
		report.MarkSustained(res.Steps, cfg.thresholds.StepP99, cfg.thresholds.SustainedFraction)
		// The ramp goes on while the step without a fault is sustained.
		if s := res.Steps[len(res.Steps)-len(steps)].Sustained; s != nil && !*s && !cfg.rampContinue && i < len(cfg.ramp)-1 {
			fmt.Fprintf(stderr, "ramp: %g/s not sustained; stopping (use -ramp-continue to go on)\n", ph.Rate)
			break
		}
	}
	res.MaxSustainedRate = report.MarkSustained(res.Steps, cfg.thresholds.StepP99, cfg.thresholds.SustainedFraction)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	report.Evaluate(res, cfg.thresholds)

	if err := writeOrderResults(cfg.out, res, mainRec, floorHists, timeline); err != nil {
		return err
	}
	if err := res.WriteTable(stdout); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "results: %s\n", cfg.out)
	if !res.Passed {
		return errThresholds
	}
	return nil
}

// measureCPU reads the processes' CPU time at the start and at the end of
// a phase about to start now: over its measured window, after the warm-up.
func measureCPU(ctx context.Context, procs []proc.Process, ph pace.Phase) *proc.Window {
	start := time.Now()
	return proc.Measure(procs, start.Add(ph.Warmup), start.Add(ph.Warmup+ph.Duration), ctx.Done())
}

// runPhase paces one phase of orders (a ramp step) and summarises it.
func runPhase(ctx context.Context, pacer *pace.Pacer, client *pipeline.Client, ph pace.Phase, timeline *stats.Timeline, procs []proc.Process, stderr io.Writer) (*pipeline.Recorder, report.Phase) {
	rec := pipeline.NewRecorder(timeline)
	c, u := runOrdersSlice(ctx, pacer, client, ph, rec, procs, stderr)
	p := summarize(ph.Name, ph.Rate, ph.Duration, c, rec, u, procs)
	fmt.Fprintf(stderr, "%s: done: %s\n", ph.Name, phaseLine(p))
	return rec, p
}

// runOrdersSlice paces ph's orders into rec and reads the processes' CPU
// time over its measured window.
func runOrdersSlice(ctx context.Context, pacer *pace.Pacer, client *pipeline.Client, ph pace.Phase, rec *pipeline.Recorder, procs []proc.Process, stderr io.Writer) (pace.Counts, proc.Usage) {
	base, done, errored := pacer.Sent(), rec.Completed(), rec.Errored()
	stop := progress(stderr, ph, func() string {
		return fmt.Sprintf("sent %d, final %d, errors %d, in flight %d", pacer.Sent()-base, rec.Completed()-done, rec.Errored()-errored, pacer.InFlight())
	})
	window := measureCPU(ctx, procs, ph)
	c := pacer.Run(ctx, ph, func(ctx context.Context, a pace.Arrival) {
		rec.Record(a, client.Place(ctx, a))
	})
	usage := window.Wait()
	stop()
	return c, usage
}

// summarize turns a phase's counts, recorder and CPU usage into its report.
func summarize(name string, rate float64, duration time.Duration, c pace.Counts, rec *pipeline.Recorder, usage proc.Usage, procs []proc.Process) report.Phase {
	counts := rec.Counts()
	p := report.Phase{
		Name:          name,
		Rate:          rate,
		DurationS:     duration.Seconds(),
		Scheduled:     int64(c.Scheduled),
		Sent:          int64(c.Sent),
		Unsent:        int64(c.Unsent),
		Late:          int64(c.Late),
		MaxLagMS:      report.Ms(time.Duration(c.MaxLag)),
		Accepted:      counts.Accepted,
		Completed:     counts.Completed(),
		Paid:          counts.Paid,
		Failed:        counts.Failed,
		Errors:        counts.ErrorTotal(),
		ErrorsByKind:  counts.Errors,
		ErrorExamples: counts.Examples,
		LatencyMS:     report.LatencyOf(rec.Final.Summary()),
		AcceptedMS:    report.LatencyOf(rec.Accepted.Summary()),
		CreatedMS:     report.LatencyOf(rec.Created.Summary()),
	}
	p.Unfinished = p.Sent - p.Completed
	p.AchievedRate = stats.Rate(p.Completed, duration)
	p.CPU = report.CPUOf(usage, procs, p.Sent, false)
	return p
}

// phaseLine is a phase's one-line summary for the progress output.
func phaseLine(p report.Phase) string {
	line := fmt.Sprintf("sent %d, final %d, errors %d, p50 %.2fms, p99 %.2fms", p.Sent, p.Completed, p.Errors, p.LatencyMS.P50, p.LatencyMS.P99)
	if p.CPU != nil {
		line += fmt.Sprintf(", CPU %.3f ms/order (+ runner %.3f)", p.CPU.StackMSPerOrder, p.CPU.RunnerMSPerOrder)
	}
	return line
}

// floorCurve is a floor's histogram for the percentile plot.
type floorCurve struct {
	name string
	hist *stats.Histogram
}

// writeOrderResults writes latest.json, report.md and the plots.
func writeOrderResults(dir string, res *report.Result, main *pipeline.Recorder, floors []floorCurve, timeline *stats.Timeline) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("results dir: %w", err)
	}
	var refs []report.HLine
	if res.FloorMS != nil {
		refs = []report.HLine{{Name: "floor p50", Ms: res.FloorMS.P50}, {Name: "floor p99", Ms: res.FloorMS.P99}}
	}
	var curves []report.Curve
	if main != nil {
		curves = []report.Curve{
			{Name: "201 Created", Points: main.Accepted.Distribution(4, 20)},
			{Name: "CREATED seen", Points: main.Created.Distribution(4, 20)},
			{Name: "PAID seen", Points: main.Final.Distribution(4, 20)},
		}
		for _, f := range floors {
			curves = append(curves, report.Curve{Name: f.name, Points: f.hist.Distribution(4, 20)})
		}
	}
	plots := []struct {
		file string
		draw func(path string) error
	}{
		{"latency.png", func(path string) error {
			return report.PlotTimeline(path, "Order -> PAID seen on the stream, per second", report.Series{Name: "PAID", Points: timeline.Points()}, refs)
		}},
		{"percentiles.png", func(path string) error {
			return report.PlotPercentiles(path, "Latency by percentile, from intended send time", curves, 4)
		}},
		{"cpu.png", res.PlotCPU},
		{"hops.png", func(path string) error { return report.PlotHops(path, res.Hops) }},
	}
	var images []string
	for _, p := range plots {
		path := filepath.Join(dir, p.file)
		// A plot with nothing to draw is not written: never leave the
		// previous run's next to this run's report.
		if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
			return err
		}
		if err := p.draw(path); err != nil {
			return err
		}
		if _, err := os.Stat(path); err == nil {
			images = append(images, p.file)
		}
	}
	if err := report.WriteJSON(filepath.Join(dir, "latest.json"), res); err != nil {
		return err
	}
	var md bytes.Buffer
	if err := res.WriteMarkdown(&md, images); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "report.md"), md.Bytes(), 0o644)
}

// progress prints a status line every second until stopped: rewritten in
// place on a terminal, one line every five seconds otherwise.
func progress(w io.Writer, ph pace.Phase, status func() string) (stop func()) {
	tty := isTerminal(w)
	every := 5 * time.Second
	if tty {
		every = time.Second
	}
	start := time.Now()
	total := (ph.Warmup + ph.Duration).Seconds()
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				phase := "measuring"
				if time.Since(start) < ph.Warmup {
					phase = "warm-up"
				}
				line := fmt.Sprintf("%s [%s] %.0fs/%.0fs %s", ph.Name, phase, time.Since(start).Seconds(), total, status())
				if tty {
					fmt.Fprintf(w, "\r\033[K%s", line)
				} else {
					fmt.Fprintln(w, line)
				}
			case <-done:
				if tty {
					fmt.Fprint(w, "\r\033[K")
				}
				return
			}
		}
	}()
	return func() { close(done); <-finished }
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
