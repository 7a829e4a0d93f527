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

	"github.com/kafkakit/kit/loadtest/internal/floor"
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
		URLs:           map[string]string{"orders": t.ordersURL, "notifications": t.notificationsURL, "stock": t.stockURL},
		Stack:          t.stack,
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
	client, err := pipeline.NewClient(httpClient, t.ordersURL, t.notificationsURL,
		pipeline.Order{SKUs: skus, Total: cfg.total, Currency: "EUR", RunID: runID}, cfg.orderTimeout)
	if err != nil {
		return err
	}
	pacer := pace.New(pace.Options{MaxInFlight: cfg.maxInFlight, LateAfter: cfg.lateAfter})

	var floorHists []floorCurve
	if cfg.floor {
		for i, producer := range cfg.floorProducers {
			warmup := cfg.warmup
			if i == 0 {
				// The first relay also warms the broker up: a JVM broker
				// compiles its hot paths in the first seconds of traffic,
				// and the first line measured should not pay for that
				// when the others do not.
				warmup += cfg.brokerWarmup
			}
			f, fh, err := measureFloor(ctx, cfg, t, producer, warmup, stderr)
			if err != nil {
				return err
			}
			if i == 0 {
				floorHists = append(floorHists, floorCurve{fmt.Sprintf("floor (%d-hop, %s)", f.Hops, producer), fh})
				res.SetFloor(f) // ratios are set once the main run is in
			} else {
				floorHists = append(floorHists, floorCurve{fmt.Sprintf("reference (%d-hop, %s)", f.Hops, producer), fh})
				res.AddReference(f)
			}
		}
	}

	timeline := stats.NewTimeline(time.Now(), time.Second)
	var mainRec *pipeline.Recorder
	if cfg.rate > 0 {
		ph := pace.Phase{Name: fmt.Sprintf("orders %g/s", cfg.rate), Rate: cfg.rate, Warmup: cfg.warmup, Duration: cfg.duration}
		profiled := startProfiles(ctx, cfg, t, ph, stderr)
		rec, p := runPhase(ctx, pacer, client, ph, timeline, t.processes, stderr)
		mainRec = rec
		res.SetMain(p)
		res.Warnings = append(res.Warnings, profiled()...)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}

	for i, ph := range pace.Ramp(cfg.ramp, cfg.warmup, cfg.stepDuration) {
		if ctx.Err() != nil {
			break
		}
		if i == 0 && cfg.rate > 0 {
			ph.Warmup = 0 // the main run warmed the stack up
		}
		_, p := runPhase(ctx, pacer, client, ph, timeline, t.processes, stderr)
		res.Steps = append(res.Steps, p)
		report.MarkSustained(res.Steps, cfg.thresholds.StepP99, cfg.thresholds.SustainedFraction)
		if s := res.Steps[len(res.Steps)-1].Sustained; s != nil && !*s && !cfg.rampContinue && i < len(cfg.ramp)-1 {
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

// runPhase paces one phase of orders and summarises it.
func runPhase(ctx context.Context, pacer *pace.Pacer, client *pipeline.Client, ph pace.Phase, timeline *stats.Timeline, procs []proc.Process, stderr io.Writer) (*pipeline.Recorder, report.Phase) {
	rec := pipeline.NewRecorder(timeline)
	base := pacer.Sent()
	stop := progress(stderr, ph, func() string {
		return fmt.Sprintf("sent %d, final %d, errors %d, in flight %d", pacer.Sent()-base, rec.Completed(), rec.Errored(), pacer.InFlight())
	})
	window := measureCPU(ctx, procs, ph)
	c := pacer.Run(ctx, ph, func(ctx context.Context, a pace.Arrival) {
		rec.Record(a, client.Place(ctx, a))
	})
	usage := window.Wait()
	stop()
	counts := rec.Counts()
	p := report.Phase{
		Name:          ph.Name,
		Rate:          ph.Rate,
		DurationS:     ph.Duration.Seconds(),
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
	p.AchievedRate = stats.Rate(p.Completed, ph.Duration)
	p.CPU = report.CPUOf(usage, procs, p.Sent, false)
	cpuNote := ""
	if p.CPU != nil {
		cpuNote = fmt.Sprintf(", CPU %.3f ms/order (+ runner %.3f)", p.CPU.StackMSPerOrder, p.CPU.RunnerMSPerOrder)
	}
	fmt.Fprintf(stderr, "%s: done: sent %d, final %d, errors %d, p50 %.2fms, p99 %.2fms%s\n", ph.Name, p.Sent, p.Completed, p.Errors, p.LatencyMS.P50, p.LatencyMS.P99, cpuNote)
	return rec, p
}

// floorCurve is a floor's histogram for the percentile plot.
type floorCurve struct {
	name string
	hist *stats.Histogram
}

// measureFloor runs the relay with producer at the main run's rate.
func measureFloor(ctx context.Context, cfg config, t *target, producer floor.Producer, warmup time.Duration, stderr io.Writer) (report.Floor, *stats.Histogram, error) {
	topics := floor.Topics(cfg.floorPrefix)
	relay, err := floor.Open(ctx, floor.Config{
		Brokers:           t.brokers,
		Topics:            topics,
		ReplicationFactor: cfg.floorReplicas,
		Producer:          producer,
		BatchTimeout:      cfg.floorBatch,
		MaxWait:           cfg.floorMaxWait,
		Timeout:           cfg.orderTimeout,
	})
	if err != nil {
		return report.Floor{}, nil, fmt.Errorf("floor on %v: %w", t.brokers, err)
	}
	defer relay.Close()
	pacer := pace.New(pace.Options{MaxInFlight: cfg.maxInFlight, LateAfter: cfg.lateAfter})
	ph := pace.Phase{Name: fmt.Sprintf("floor %s %g/s", producer, cfg.rate), Rate: cfg.rate, Warmup: warmup, Duration: cfg.duration}
	stop := progress(stderr, ph, func() string {
		return fmt.Sprintf("sent %d, received %d, in flight %d", pacer.Sent(), relay.Received(), pacer.InFlight())
	})
	window := measureCPU(ctx, t.processes, ph)
	c := pacer.Run(ctx, ph, relay.Send)
	usage := window.Wait()
	lost := relay.Drain(ctx)
	stop()
	byKind, examples := relay.Errors()
	f := report.Floor{
		Producer:     string(producer),
		ProducerDesc: producer.Describe(cfg.floorBatch),
		Hops:         len(topics),
		Topics:       topics,
		MaxWaitMS:    report.Ms(cfg.floorMaxWait),
		Rate:         cfg.rate,
		DurationS:    cfg.duration.Seconds(),
		Sent:         int64(c.Sent),
		Received:     relay.Latency.Count(),
		Lost:         lost,
		Unsent:       int64(c.Unsent),
		Late:         int64(c.Late),
		ErrorsByKind: byKind,
		Examples:     examples,
		LatencyMS:    report.LatencyOf(relay.Latency.Summary()),
		CPU:          report.CPUOf(usage, t.processes, int64(c.Sent), true),
	}
	cpuNote := ""
	if f.CPU != nil {
		cpuNote = fmt.Sprintf(", CPU %.3f ms/record (broker + relay)", f.CPU.RelayMSPerRecord)
	}
	fmt.Fprintf(stderr, "%s: done: sent %d, received %d, p50 %.2fms, p99 %.2fms%s\n", ph.Name, f.Sent, f.Received, f.LatencyMS.P50, f.LatencyMS.P99, cpuNote)
	return f, relay.Latency, nil
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
