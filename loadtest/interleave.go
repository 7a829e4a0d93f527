package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/kafkakit/kit/loadtest/internal/floor"
	"github.com/kafkakit/kit/loadtest/internal/pace"
	"github.com/kafkakit/kit/loadtest/internal/pipeline"
	"github.com/kafkakit/kit/loadtest/internal/proc"
	"github.com/kafkakit/kit/loadtest/internal/report"
	"github.com/kafkakit/kit/loadtest/internal/stats"
)

// sliceWarmup is the unmeasured lead-in of every slice but the first: the
// time for the traffic of the line before to drain and this one's to flow.
const sliceWarmup = time.Second

// measuredFloor is a relay's report and its histogram.
type measuredFloor struct {
	report.Floor
	hist *stats.Histogram
}

// measuredMain is the main run's report, recorder and warnings.
type measuredMain struct {
	report.Phase
	rec      *pipeline.Recorder
	warnings []string
}

// measureInterleaved measures the floor relays and the main run at -rate,
// taking turns: the measured -duration of each is cut into -slices, and
// every round runs one slice of each relay then one of the orders, so each
// line sees the same machine. On a machine that other work shares, the load
// changes from minute to minute; measured one after the other, a floor and
// the pipeline would be compared across different machines.
func measureInterleaved(ctx context.Context, cfg config, t *target, pacer *pace.Pacer, client *pipeline.Client, timeline *stats.Timeline, stderr io.Writer) ([]measuredFloor, measuredMain, error) {
	type relayLine struct {
		producer floor.Producer
		relay    *floor.Relay
		topics   []string
		counts   pace.Counts
		usage    proc.Usage
		lost     int64
	}
	var relays []*relayLine
	defer func() {
		for _, l := range relays {
			l.relay.Close()
		}
	}()
	if cfg.floor {
		for _, producer := range cfg.floorProducers {
			// Each relay has topics of its own: the relays stay open while
			// they take turns, and a relay reading another's topics would
			// forward its records too.
			topics := floor.Topics(cfg.floorPrefix + "." + string(producer))
			relay, err := floor.Open(ctx, floor.Config{
				Brokers:           t.brokers,
				Dialer:            t.dialer,
				Topics:            topics,
				ReplicationFactor: floorReplication(cfg, t),
				Producer:          producer,
				BatchTimeout:      cfg.floorBatch,
				MaxWait:           cfg.floorMaxWait,
				Timeout:           cfg.orderTimeout,
			})
			if err != nil {
				return nil, measuredMain{}, fmt.Errorf("floor on %v: %w", t.brokers, err)
			}
			relays = append(relays, &relayLine{producer: producer, relay: relay, topics: topics})
		}
	}
	slices := max(cfg.slices, 1)
	if len(relays) == 0 {
		slices = 1 // nothing to take turns with
	}
	slice := cfg.duration / time.Duration(slices)
	rec := pipeline.NewRecorder(timeline)
	var mainCounts pace.Counts
	var mainUsage proc.Usage
	var warnings []string
	for s := range slices {
		if ctx.Err() != nil {
			break
		}
		warmup := sliceWarmup
		if s == 0 {
			warmup = cfg.warmup
		}
		of := ""
		if slices > 1 {
			of = fmt.Sprintf(" (slice %d of %d)", s+1, slices)
		}
		for i, l := range relays {
			w := warmup
			if s == 0 && i == 0 {
				// The first relay also warms the broker up: a JVM broker
				// compiles its hot paths in the first seconds of traffic,
				// and the first line measured should not pay for that
				// when the others do not.
				w += cfg.brokerWarmup
			}
			ph := pace.Phase{Name: fmt.Sprintf("floor %s %g/s%s", l.producer, cfg.rate, of), Rate: cfg.rate, Warmup: w, Duration: slice}
			floorPacer := pace.New(pace.Options{MaxInFlight: cfg.maxInFlight, LateAfter: cfg.lateAfter})
			stop := progress(stderr, ph, func() string {
				return fmt.Sprintf("sent %d, received %d, in flight %d", floorPacer.Sent(), l.relay.Received(), floorPacer.InFlight())
			})
			window := measureCPU(ctx, t.processes, ph)
			c := floorPacer.Run(ctx, ph, l.relay.Send)
			l.usage = l.usage.Add(window.Wait())
			l.lost += l.relay.Drain(ctx)
			stop()
			l.counts = addCounts(l.counts, c)
		}
		ph := pace.Phase{Name: fmt.Sprintf("orders %g/s%s", cfg.rate, of), Rate: cfg.rate, Warmup: warmup, Duration: slice}
		profiled := func() []string { return nil }
		if s == 0 {
			profiled = startProfiles(ctx, cfg, t, ph, stderr)
		}
		c, u := runOrdersSlice(ctx, pacer, client, ph, rec, t.processes, stderr)
		warnings = append(warnings, profiled()...)
		mainCounts, mainUsage = addCounts(mainCounts, c), mainUsage.Add(u)
	}

	var floors []measuredFloor
	for _, l := range relays {
		byKind, examples := l.relay.Errors()
		f := report.Floor{
			Producer:     string(l.producer),
			ProducerDesc: l.producer.Describe(cfg.floorBatch),
			Hops:         len(l.topics),
			Topics:       l.topics,
			Replication:  floorReplication(cfg, t),
			MaxWaitMS:    report.Ms(cfg.floorMaxWait),
			Slices:       slices,
			Rate:         cfg.rate,
			DurationS:    cfg.duration.Seconds(),
			Sent:         int64(l.counts.Sent),
			Received:     l.relay.Latency.Count(),
			Lost:         l.lost,
			Unsent:       int64(l.counts.Unsent),
			Late:         int64(l.counts.Late),
			ErrorsByKind: byKind,
			Examples:     examples,
			LatencyMS:    report.LatencyOf(l.relay.Latency.Summary()),
			CPU:          report.CPUOf(l.usage, t.processes, int64(l.counts.Sent), true),
		}
		cpuNote := ""
		if f.CPU != nil {
			cpuNote = fmt.Sprintf(", CPU %.3f ms/record (broker + relay)", f.CPU.RelayMSPerRecord)
		}
		fmt.Fprintf(stderr, "floor %s %g/s: done: sent %d, received %d, p50 %.2fms, p99 %.2fms%s\n", l.producer, cfg.rate, f.Sent, f.Received, f.LatencyMS.P50, f.LatencyMS.P99, cpuNote)
		floors = append(floors, measuredFloor{f, l.relay.Latency})
	}
	p := summarize(fmt.Sprintf("orders %g/s", cfg.rate), cfg.rate, cfg.duration, mainCounts, rec, mainUsage, t.processes)
	fmt.Fprintf(stderr, "%s: done: %s\n", p.Name, phaseLine(p))
	return floors, measuredMain{Phase: p, rec: rec, warnings: warnings}, nil
}

// addCounts sums the pacer's counts of two slices.
func addCounts(a, b pace.Counts) pace.Counts {
	a.Scheduled += b.Scheduled
	a.Sent += b.Sent
	a.Unsent += b.Unsent
	a.Late += b.Late
	a.MaxLag = max(a.MaxLag, b.MaxLag)
	return a
}

// floorReplication is the floor topics' replication factor: -floor-replication,
// else the kit's topics' on the broker the harness started (3 on a cluster,
// where min.insync.replicas 2 makes every acks=all write wait for a second
// replica: the floor must pay that as the services do), else 1.
func floorReplication(cfg config, t *target) int {
	switch {
	case cfg.floorReplicas > 0:
		return cfg.floorReplicas
	case t.replication > 0:
		return t.replication
	}
	return 1
}
