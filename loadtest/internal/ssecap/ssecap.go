// Package ssecap measures one notifications-api's capacity for idle
// Server-Sent Events streams: the memory each open stream costs the service,
// and how long one status takes to reach all of them.
//
// All streams follow one order id chosen before the order exists; once they
// are all connected (and idle, waiting for an order the service has not
// seen), memory is read, the order is placed and each stream times the moment
// it sees the final status. The streams stay open after it, now following a
// known order as a browser does, and memory is read again: the figure per
// stream is the larger of the two.
package ssecap

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kafkakit/kit/loadtest/internal/pipeline"
	"github.com/kafkakit/kit/loadtest/internal/sse"
	"github.com/kafkakit/kit/loadtest/internal/stats"
)

// Config describes a capacity run.
type Config struct {
	NotificationsURL string
	// DebugURL is the service's DEBUG_ADDR base URL, for Go's heap and
	// stack figures (expvar); "" reads RSS only.
	DebugURL string
	Streams  int
	// ConnectConcurrency bounds streams being opened at once, so the
	// listener's accept queue is not flooded.
	ConnectConcurrency int
	// Place places the order once every stream is connected. It returns
	// when the order is recorded; delivery is timed from when it was called.
	Place func(ctx context.Context, orderID string) error
	// PID of the notifications-api process, 0 when unknown (no RSS figures).
	PID int
	// Settle is how long to wait after connecting before reading memory.
	Settle time.Duration
	// Timeout bounds the wait for every stream to see the final status.
	Timeout time.Duration
	HTTP    *http.Client
	// Progress, when set, receives a line now and then.
	Progress io.Writer
}

// Memory is a snapshot of the service's memory.
type Memory struct {
	RSSBytes        int64  `json:"rss_bytes,omitempty"`
	HeapInuseBytes  uint64 `json:"heap_inuse_bytes,omitempty"`
	StackInuseBytes uint64 `json:"stack_inuse_bytes,omitempty"`
	SysBytes        uint64 `json:"sys_bytes,omitempty"`
}

// Result is what a capacity run measured.
type Result struct {
	OrderID       string           `json:"order_id"`
	Streams       int              `json:"streams"`
	Connected     int              `json:"connected"`
	ConnectS      float64          `json:"connect_s"`
	ConnectErrors map[string]int64 `json:"connect_errors"`
	// ConnectRetries counts connects tried again after a timeout or a
	// refusal (a listener's accept queue full on a busy machine), as
	// EventSource reconnects.
	ConnectRetries int               `json:"connect_retries"`
	Examples       map[string]string `json:"error_examples,omitempty"`
	Before         Memory            `json:"memory_before"`
	// After is memory with every stream open and waiting for the order;
	// Following, with every stream open after the order's statuses reached
	// it (streams that follow a known order, as a browser's do).
	After     Memory `json:"memory_after"`
	Following Memory `json:"memory_following"`
	// RSSPerStream is (RSS - RSS before) / connected streams, bytes, the
	// larger of waiting and following; likewise GoPerStream for the growth
	// of heap in use plus goroutine stacks (from DEBUG_ADDR).
	RSSPerStream float64 `json:"rss_per_stream_bytes"`
	GoPerStream  float64 `json:"go_heap_stack_per_stream_bytes"`
	// The same two figures for each moment.
	RSSPerStreamWaiting   float64       `json:"rss_per_stream_waiting_bytes"`
	RSSPerStreamFollowing float64       `json:"rss_per_stream_following_bytes"`
	GoPerStreamWaiting    float64       `json:"go_per_stream_waiting_bytes"`
	GoPerStreamFollowing  float64       `json:"go_per_stream_following_bytes"`
	Delivered             int           `json:"delivered"`
	Missing               int           `json:"missing"`
	Delivery              stats.Summary `json:"-"`
	Notes                 []string      `json:"notes,omitempty"`
}

// Run opens the streams, reads memory, places the order and waits for it to
// reach every stream.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.Streams <= 0 {
		return nil, errors.New("ssecap: streams must be > 0")
	}
	if cfg.ConnectConcurrency <= 0 {
		cfg.ConnectConcurrency = 256
	}
	eventsURL, err := url.JoinPath(cfg.NotificationsURL, "events")
	if err != nil {
		return nil, fmt.Errorf("ssecap: notifications url: %w", err)
	}
	res := &Result{OrderID: NewOrderID(), Streams: cfg.Streams, ConnectErrors: map[string]int64{}, Examples: map[string]string{}}
	res.Before, res.Notes = readMemory(ctx, cfg, res.Notes)

	streamCtx, stopStreams := context.WithCancel(ctx)
	defer stopStreams()
	var (
		mu        sync.Mutex
		placedAt  atomic.Int64 // unix ns; 0 until the order is placed
		delivery  = stats.NewHistogram()
		delivered atomic.Int64
		ended     atomic.Int64 // streams whose wait for the status is over
		connected atomic.Int64
		wgConn    sync.WaitGroup
		wgAll     sync.WaitGroup
		allSeen   = make(chan struct{}, 1)
		retried   atomic.Int64
		slots     = make(chan struct{}, cfg.ConnectConcurrency)
	)
	fail := func(kind string, err error) {
		mu.Lock()
		defer mu.Unlock()
		res.ConnectErrors[kind]++
		if _, ok := res.Examples[kind]; !ok {
			res.Examples[kind] = err.Error()
		}
	}
	target := eventsURL + "?orderId=" + url.QueryEscape(res.OrderID)
	start := time.Now()
	for range cfg.Streams {
		wgConn.Add(1)
		wgAll.Add(1)
		slots <- struct{}{}
		go func() {
			defer wgAll.Done()
			body, err := openRetrying(streamCtx, cfg.HTTP, target, &retried)
			<-slots
			if err != nil {
				fail(errKind(err), err)
				wgConn.Done()
				return
			}
			defer body.Close()
			connected.Add(1)
			wgConn.Done()
			// Once the order is placed, the last stream to end its wait,
			// with the status or without, says so.
			endWait := func() {
				if ended.Add(1) == connected.Load() && placedAt.Load() > 0 {
					select {
					case allSeen <- struct{}{}:
					default:
					}
				}
			}
			if err := waitFinal(body); err != nil {
				if streamCtx.Err() == nil {
					fail("stream: "+errKind(err), err)
				}
				endWait()
				return
			}
			if at := placedAt.Load(); at > 0 {
				delivery.Record(time.Since(time.Unix(0, at)))
			}
			delivered.Add(1)
			endWait()
			<-streamCtx.Done() // stay open, following a known order, until memory is read
		}()
	}
	connecting := make(chan struct{})
	go func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				if cfg.Progress != nil {
					fmt.Fprintf(cfg.Progress, "sse: %d/%d streams open\n", connected.Load(), cfg.Streams)
				}
			case <-connecting:
				return
			}
		}
	}()
	wgConn.Wait()
	close(connecting)
	res.ConnectS = time.Since(start).Seconds()
	res.Connected = int(connected.Load())
	res.ConnectRetries = int(retried.Load())
	if cfg.Progress != nil {
		fmt.Fprintf(cfg.Progress, "sse: %d/%d streams open in %.1fs; settling %v before reading memory\n", res.Connected, cfg.Streams, res.ConnectS, cfg.Settle)
	}
	if res.Connected == 0 {
		return res, errors.New("ssecap: no stream could be opened")
	}
	select {
	case <-time.After(cfg.Settle):
	case <-ctx.Done():
		return res, ctx.Err()
	}
	res.After, res.Notes = readMemory(ctx, cfg, res.Notes)
	res.RSSPerStreamWaiting, res.GoPerStreamWaiting = perStream(res.Before, res.After, res.Connected)

	placedAt.Store(time.Now().UnixNano())
	if err := cfg.Place(ctx, res.OrderID); err != nil {
		return res, fmt.Errorf("ssecap: place order: %w", err)
	}
	if ended.Load() == connected.Load() { // every wait ended before the order was placed
		select {
		case allSeen <- struct{}{}:
		default:
		}
	}
	if cfg.Progress != nil {
		fmt.Fprintf(cfg.Progress, "sse: order %s placed; waiting for it on %d streams\n", res.OrderID, res.Connected)
	}
	timer := time.NewTimer(cfg.Timeout)
	defer timer.Stop()
	select {
	case <-allSeen:
	case <-timer.C:
	case <-ctx.Done():
	}
	res.Delivered = int(delivered.Load())
	res.Missing = res.Connected - res.Delivered
	res.Delivery = delivery.Summary()
	if res.Delivered > 0 {
		select {
		case <-time.After(cfg.Settle):
		case <-ctx.Done():
		}
		res.Following, res.Notes = readMemory(ctx, cfg, res.Notes)
		res.RSSPerStreamFollowing, res.GoPerStreamFollowing = perStream(res.Before, res.Following, res.Connected)
	}
	res.RSSPerStream = max(res.RSSPerStreamWaiting, res.RSSPerStreamFollowing)
	res.GoPerStream = max(res.GoPerStreamWaiting, res.GoPerStreamFollowing)
	stopStreams()
	wgAll.Wait()
	return res, nil
}

// perStream is the growth of RSS and of Go heap+stacks from before to
// after, per stream; 0 where a figure is missing.
func perStream(before, after Memory, streams int) (rss, goMem float64) {
	if before.RSSBytes > 0 && after.RSSBytes > 0 {
		rss = float64(after.RSSBytes-before.RSSBytes) / float64(streams)
	}
	if after.HeapInuseBytes > 0 {
		b := before.HeapInuseBytes + before.StackInuseBytes
		a := after.HeapInuseBytes + after.StackInuseBytes
		goMem = (float64(a) - float64(b)) / float64(streams)
	}
	return rss, goMem
}

// open starts one stream and returns its body once the response headers
// arrived, which notifications-api sends after it subscribed.
func open(ctx context.Context, client *http.Client, target string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("GET /events: %s", resp.Status)
	}
	return resp.Body, nil
}

// openRetrying is open, tried up to three times a second apart when the
// connection timed out or was refused: what a browser's EventSource does
// (retry: 1000), so a full accept queue on a busy machine is not counted as
// capacity missing.
func openRetrying(ctx context.Context, client *http.Client, target string, retried *atomic.Int64) (io.ReadCloser, error) {
	for attempt := 1; ; attempt++ {
		body, err := open(ctx, client, target)
		if err == nil || attempt == 3 || ctx.Err() != nil {
			return body, err
		}
		if k := errKind(err); k != "timeout" && k != "connection refused" {
			return nil, err
		}
		retried.Add(1)
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// errUnknownOrder is a stream that gave up waiting for the order.
var errUnknownOrder = errors.New(`stream ended with "unknown": the order's first status did not arrive within notifications-api's UNKNOWN_ORDER_WAIT`)

// waitFinal reads events until PAID or FAILED.
func waitFinal(body io.Reader) error {
	r := sse.NewReader(body, 512)
	for {
		ev, err := r.Next()
		if err != nil {
			return err
		}
		if ev.Type == "unknown" {
			return errUnknownOrder
		}
		// In place, as the order runner reads it: 19,000 streams parse
		// the status at once, on the cores notifications-api shares.
		if st, err := pipeline.StatusOf(ev.Data); err == nil && (st == pipeline.StatusPaid || st == pipeline.StatusFailed) {
			return nil
		}
	}
}

func errKind(err error) string {
	if errors.Is(err, errUnknownOrder) {
		return "unknown order"
	}
	msg := err.Error()
	for _, k := range []string{"connection refused", "connection reset", "too many open files", "cannot assign requested address", "timeout", "EOF"} {
		if strings.Contains(msg, k) {
			return k
		}
	}
	if strings.HasPrefix(msg, "GET /events: ") {
		return strings.TrimPrefix(msg, "GET /events: ")
	}
	return "other error"
}

// readMemory reads RSS from /proc when the pid is known, and the Go runtime
// figures from the service's debug endpoints when their address is known.
func readMemory(ctx context.Context, cfg Config, notes []string) (Memory, []string) {
	var m Memory
	if cfg.PID > 0 {
		rss, err := ProcRSS(cfg.PID)
		if err != nil {
			notes = append(notes, fmt.Sprintf("rss of pid %d: %v", cfg.PID, err))
		}
		m.RSSBytes = rss
	}
	if cfg.DebugURL == "" {
		return m, notes
	}
	ms, err := Memstats(ctx, cfg.HTTP, cfg.DebugURL)
	if err != nil {
		notes = append(notes, fmt.Sprintf("Go memory figures at %s: %v", cfg.DebugURL, err))
	}
	m.HeapInuseBytes, m.StackInuseBytes, m.SysBytes = ms.HeapInuse, ms.StackInuse, ms.Sys
	return m, notes
}

// ProcRSS returns VmRSS of pid in bytes, from /proc/<pid>/status.
func ProcRSS(pid int) (int64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return ParseVmRSS(f)
}

// ParseVmRSS finds the VmRSS line of a /proc/<pid>/status file.
func ParseVmRSS(r io.Reader) (int64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("unexpected VmRSS line %q", sc.Text())
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("VmRSS %q: %w", fields[0], err)
		}
		return kb * 1024, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no VmRSS line")
}

// MemStats are the runtime.MemStats fields the runner reads.
type MemStats struct {
	HeapInuse  uint64
	StackInuse uint64
	Sys        uint64
}

// Memstats reads the Go runtime's memory figures from a service's debug
// endpoints (DEBUG_ADDR; the service port serves none): the text heap
// profile, GET {base}/debug/pprof/heap?debug=1, ends with runtime.MemStats.
func Memstats(ctx context.Context, client *http.Client, base string) (MemStats, error) {
	u, err := url.JoinPath(base, "debug", "pprof", "heap")
	if err != nil {
		return MemStats{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u+"?debug=1", nil)
	if err != nil {
		return MemStats{}, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return MemStats{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return MemStats{}, fmt.Errorf("GET /debug/pprof/heap: %s", resp.Status)
	}
	return ParseHeapProfile(resp.Body)
}

// ParseHeapProfile reads the "# runtime.MemStats" lines at the end of a
// text heap profile: "# HeapInuse = N", "# Stack = inuse / sys", "# Sys = N".
func ParseHeapProfile(r io.Reader) (MemStats, error) {
	var m MemStats
	found := 0
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "# "), " = ")
		if !ok {
			continue
		}
		first, _, _ := strings.Cut(value, " ")
		n, err := strconv.ParseUint(first, 10, 64)
		if err != nil {
			continue
		}
		switch name {
		case "HeapInuse":
			m.HeapInuse, found = n, found+1
		case "Stack":
			m.StackInuse, found = n, found+1
		case "Sys":
			m.Sys, found = n, found+1
		}
	}
	if err := sc.Err(); err != nil {
		return m, err
	}
	if found < 3 {
		return m, errors.New("heap profile: no runtime.MemStats lines")
	}
	return m, nil
}

// NewOrderID returns a random (version 4) UUID, the form orders-api assigns.
func NewOrderID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
