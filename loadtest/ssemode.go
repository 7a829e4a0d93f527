package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/kafkakit/kit/loadtest/internal/pipeline"
	"github.com/kafkakit/kit/loadtest/internal/report"
	"github.com/kafkakit/kit/loadtest/internal/ssecap"
)

// sseResult is sse.json.
type sseResult struct {
	Broker string       `json:"broker"`
	Target string       `json:"target"`
	Stack  report.Stack `json:"stack"`
	*ssecap.Result
	DeliveryMS     report.Latency `json:"delivery_ms"`
	KBPerStream    float64        `json:"kb_per_stream"` // RSS growth per stream, or Go heap+stack when RSS is unknown
	MemorySource   string         `json:"memory_source"`
	FileLimit      uint64         `json:"runner_file_limit"`
	Thresholds     []report.Check `json:"thresholds"`
	Passed         bool           `json:"passed"`
	MaxStreamBytes float64        `json:"max_stream_bytes,omitempty"`
	// FanOutMS is the status's spread over the streams: from the first
	// stream that saw it to the p50, p99 and last. Delivery includes the
	// order's way through the pipeline; this is notifications-api's
	// fan-out (and the runner's readers) alone.
	FanOutMS fanOut `json:"fan_out_ms"`
}

type fanOut struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// runSSE measures idle-stream capacity of one notifications-api.
func runSSE(ctx context.Context, cfg config, t *target, stdout, stderr io.Writer) error {
	if lim := fileLimit(); lim > 0 && uint64(cfg.streams)+256 > lim {
		return fmt.Errorf("%d streams need more open files than the limit %d allows (ulimit -n)", cfg.streams, lim)
	}
	place, closePlacer, err := ssecap.KafkaPlacer(t.brokers, cfg.ordersTopic, t.registryURL)
	if err != nil {
		return err
	}
	defer closePlacer()
	if cfg.seed && t.stockURL != "" {
		_ = seedStock(ctx, t.stockURL, []string{"loadtest-sse"})
	}
	httpClient := pipeline.NewHTTPClient(pipeline.TransportOptions{SourceIPs: cfg.sourceIPs})
	defer httpClient.CloseIdleConnections()
	r, err := ssecap.Run(ctx, ssecap.Config{
		NotificationsURL:   t.notificationsURLs[0],
		DebugURL:           t.debugURLs["notifications-api"],
		Streams:            cfg.streams,
		ConnectConcurrency: cfg.connectConcurrency,
		Place:              place,
		PID:                t.notificationsPID,
		Settle:             cfg.settle,
		Timeout:            cfg.deliveryTimeout,
		HTTP:               httpClient,
		Progress:           stderr,
	})
	if err != nil {
		return err
	}
	res := sseResult{Broker: t.broker, Target: t.kind, Stack: t.stack, Result: r, DeliveryMS: report.LatencyOf(r.Delivery), FileLimit: fileLimit(), MaxStreamBytes: cfg.maxStreamBytes}
	if d := r.Delivery; d.Count > 0 {
		res.FanOutMS = fanOut{P50: report.Ms(d.P50 - d.Min), P99: report.Ms(d.P99 - d.Min), Max: report.Ms(d.Max - d.Min)}
	}
	perStream := r.RSSPerStream
	res.MemorySource = "rss (the larger of: streams waiting for the order, streams following it)"
	if r.Before.RSSBytes == 0 {
		perStream, res.MemorySource = r.GoPerStream, "go heap+stacks from DEBUG_ADDR (no pid: pass -notifications-pid or -pids for RSS)"
	}
	if r.Before.RSSBytes == 0 && r.After.HeapInuseBytes == 0 {
		res.MemorySource = "none: no pid and no DEBUG_ADDR (pass -pids notifications-api=PID, -debug-urls notifications-api=URL)"
	}
	res.KBPerStream = perStream / 1000
	check := func(name, op string, value, limit float64, ok bool) {
		res.Thresholds = append(res.Thresholds, report.Check{Name: name, Op: op, Limit: limit, Value: value, OK: ok})
	}
	check("streams_connected", ">=", float64(r.Connected), float64(r.Streams), r.Connected >= r.Streams)
	check("streams_missing_status", "<=", float64(r.Missing), 0, r.Missing == 0)
	if cfg.maxStreamBytes > 0 {
		check("bytes_per_stream", "<=", perStream, cfg.maxStreamBytes, perStream <= cfg.maxStreamBytes)
	}
	if cfg.maxDeliveryP99 > 0 {
		check("delivery_p99_ms", "<=", res.DeliveryMS.P99, report.Ms(cfg.maxDeliveryP99), res.DeliveryMS.P99 <= report.Ms(cfg.maxDeliveryP99))
	}
	res.Passed = true
	for _, c := range res.Thresholds {
		res.Passed = res.Passed && c.OK
	}

	var text bytes.Buffer
	writeSSETable(&text, cfg, res)
	if err := report.WriteJSON(filepath.Join(cfg.out, "sse.json"), res); err != nil {
		return err
	}
	md := "# SSE capacity\n\n```\n" + text.String() + "```\n"
	if err := os.WriteFile(filepath.Join(cfg.out, "sse.md"), []byte(md), 0o644); err != nil {
		return err
	}
	if _, err := stdout.Write(text.Bytes()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "results: %s\n", filepath.Join(cfg.out, "sse.json"))
	if !res.Passed {
		return errThresholds
	}
	return nil
}

func writeSSETable(w io.Writer, cfg config, res sseResult) {
	r := res.Result
	fmt.Fprintf(w, "\nloadtest sse: broker %s (%s), %d idle streams on one notifications-api, one order %s\n", res.Broker, res.Target, r.Streams, r.OrderID)
	fmt.Fprintf(w, "stack: %s; broker: %s\n\n", res.Stack.StartedBy, res.Stack.Broker)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "streams connected\t%d of %d in %.1fs (%d connects tried again)\n", r.Connected, r.Streams, r.ConnectS, r.ConnectRetries)
	for k, v := range r.ConnectErrors {
		fmt.Fprintf(tw, "  error %q\t%d (first: %.120s)\n", k, v, r.Examples[k])
	}
	if r.Before.RSSBytes > 0 {
		fmt.Fprintf(tw, "RSS before / waiting / following\t%.1f MB / %.1f MB / %.1f MB\n", float64(r.Before.RSSBytes)/1e6, float64(r.After.RSSBytes)/1e6, float64(r.Following.RSSBytes)/1e6)
		fmt.Fprintf(tw, "RSS per stream, waiting / following\t%.1f KB / %.1f KB\n", r.RSSPerStreamWaiting/1000, r.RSSPerStreamFollowing/1000)
	} else {
		fmt.Fprintf(tw, "RSS\tunknown (no pid; pass -notifications-pid)\n")
	}
	if r.After.HeapInuseBytes > 0 {
		heap := func(m ssecap.Memory) float64 { return float64(m.HeapInuseBytes+m.StackInuseBytes) / 1e6 }
		fmt.Fprintf(tw, "Go heap+stacks before / waiting / following\t%.1f MB / %.1f MB / %.1f MB\n", heap(r.Before), heap(r.After), heap(r.Following))
		fmt.Fprintf(tw, "Go heap+stacks per stream, waiting / following\t%.1f KB / %.1f KB\n", r.GoPerStreamWaiting/1000, r.GoPerStreamFollowing/1000)
	} else {
		fmt.Fprintf(tw, "Go heap+stacks\tunknown (no DEBUG_ADDR; -debug-urls for a running stack)\n")
	}
	fmt.Fprintf(tw, "per stream (threshold)\t%.1f KB, %s\n", res.KBPerStream, res.MemorySource)
	d := res.DeliveryMS
	fmt.Fprintf(tw, "status delivered to\t%d of %d streams (%d missing within %v)\n", r.Delivered, r.Connected, r.Missing, cfg.deliveryTimeout)
	fmt.Fprintf(tw, "place -> PAID seen (ms)\tp50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max (all delivered) %.1f\n", d.P50, d.P90, d.P99, d.P999, d.Max)
	f := res.FanOutMS
	fmt.Fprintf(tw, "fan-out: first stream -> (ms)\tp50 %.1f  p99 %.1f  max %.1f\n", f.P50, f.P99, f.Max)
	tw.Flush()
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	report.WriteChecks(w, res.Thresholds, res.Passed)
}
