package main

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/metrics"
	"github.com/kafkakit/kit/services/platform/svc"
	"github.com/kafkakit/kit/services/platform/tracing"
)

// idleStreams serves the service as run.go does (tracing and metrics around it), opens n idle streams on
// one order from bare connections that send the request and read only the
// response's first line (their side costs next to nothing), and returns
// what each stream cost the process once they are all open: goroutine
// stacks and live heap after a GC, and the allocations opening one took.
// Then it adds a status for the order, checks that every stream gets it and
// hands following the same figures for streams that now follow a known
// order, and the bytes allocated to deliver the status, per stream (the
// client's reads included): garbage that grows the heap towards the next
// GC, so the process's RSS, while a status goes out to every stream; and
// how much the streams' stacks grew to deliver it (before any GC shrinks
// them: RSS keeps what they took).
func idleStreams(tb testing.TB, n int, opened func(), following func(stack, heap, deliveryBytes, deliveryStack float64)) (stackPer, heapPer, allocsPer float64) {
	tb.Helper()
	cfg := testConfig
	cfg.Heartbeat = time.Hour
	cfg.History.UnknownStreams = n + 1
	cfg.Streams = StreamCaps{Total: n + 1, PerClient: n + 1}
	h, f, m := NewHistory(cfg.History), NewFlow(10, nil, nil), metrics.New("notifications-api")
	tr, err := tracing.Setup(context.Background(), "notifications-api", "") // as run.go: spans with ids only
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	edge, err := svc.NewEdge(svc.HTTP{Name: "notifications-api"})
	if err != nil {
		tb.Fatal(err)
	}
	go func() {
		done <- svc.Serve(ctx, ln, NewServer(slog.New(slog.DiscardHandler), h, f, nil, func(context.Context) error { return nil }, cfg, edge, m, tr), edge)
	}()
	tb.Cleanup(func() { cancel(); <-done })

	orderID := uuid.NewString()
	request := fmt.Sprintf("GET /events?orderId=%s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n", orderID, ln.Addr())
	memory := func() (stack, heap, mallocs uint64) {
		runtime.GC()
		runtime.GC() // a second cycle frees what the first's finalizers let go, and shrinks stacks again
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.StackInuse, ms.HeapAlloc, ms.Mallocs
	}
	stack0, heap0, mallocs0 := memory()
	conns := make([]net.Conn, 0, n)
	readers := make([]*bufio.Reader, 0, n)
	tb.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for range n {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			tb.Fatalf("dial after %d streams: %v", len(conns), err)
		}
		conns = append(conns, c)
		if _, err := c.Write([]byte(request)); err != nil {
			tb.Fatal(err)
		}
		br := bufio.NewReaderSize(c, 512)
		line, err := br.ReadString('\n')
		if err != nil || !strings.Contains(line, "200") {
			tb.Fatalf("stream %d: %q, %v", len(conns), line, err)
		}
		readers = append(readers, br)
	}
	opened()
	stack1, heap1, mallocs1 := memory()
	stackPer = (float64(stack1) - float64(stack0)) / float64(n)
	heapPer = (float64(heap1) - float64(heap0)) / float64(n)
	allocsPer = float64(mallocs1-mallocs0) / float64(n)

	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	h.Add(events.OrderStatus{OrderID: orderID, Status: events.StatusCreated, Seq: 1})
	for i, br := range readers {
		_ = conns[i].SetReadDeadline(time.Now().Add(time.Minute))
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				tb.Fatalf("stream %d: no status: %v", i, err)
			}
			if strings.Contains(line, `"CREATED"`) {
				break
			}
		}
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if following != nil {
		stack2, heap2, _ := memory()
		following((float64(stack2)-float64(stack0))/float64(n), (float64(heap2)-float64(heap0))/float64(n),
			float64(after.TotalAlloc-before.TotalAlloc)/float64(n), (float64(after.StackInuse)-float64(before.StackInuse))/float64(n))
	}
	return stackPer, heapPer, allocsPer
}

// BenchmarkIdleStreams reports what an idle stream costs the process; run
// it with -benchtime=2000x (the open-file limit bounds b.N).
func BenchmarkIdleStreams(b *testing.B) {
	b.ResetTimer()
	var followingStack, followingHeap, delivery float64
	var deliveryStack float64
	stack, heap, allocs := idleStreams(b, b.N, b.StopTimer, func(stack, heap, deliveryBytes, grown float64) {
		followingStack, followingHeap, delivery, deliveryStack = stack, heap, deliveryBytes, grown
	})
	b.ReportMetric(delivery, "delivery-B/stream")
	b.ReportMetric(deliveryStack, "delivery-stack-B/stream")
	b.ReportMetric(followingStack, "following-stack-B/stream")
	b.ReportMetric(followingHeap, "following-heap-B/stream")
	b.ReportMetric(stack, "stack-B/stream")
	b.ReportMetric(heap, "heap-B/stream")
	b.ReportMetric(allocs, "allocs/stream")
}
