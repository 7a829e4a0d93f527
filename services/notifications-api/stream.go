package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/kafkakit/kit/services/platform/httpx"
	"github.com/kafkakit/kit/services/platform/tracing"
)

// sse writes Server-Sent Events to one client. Events gather in buf and
// go out together at flush: one write to the connection per wake-up.
//
// On HTTP/1 the stream takes its connection from net/http (detach): an
// idle stream then costs two small goroutines and its socket, not the
// handler's goroutine with its deep stack, net/http's 4 KB read and 6 KB
// of write buffers and its background reader, which together made up most
// of the ~28 KB a stream cost. HTTP/2 cannot hand a connection over; there
// the stream is written through the ResponseWriter as before.
type sse struct {
	w  http.ResponseWriter
	rc *http.ResponseController
	// conn is the connection when detached; nil while net/http owns it.
	conn net.Conn
	buf  []byte
	// writeTimeout drops a client that stops reading, instead of letting it
	// hold a goroutine and buffers forever.
	writeTimeout time.Duration
	// sent counts the events written, when set.
	sent prometheus.Counter
}

// startSSE answers r with an event stream: detached (see sse) where the
// connection can be taken over, through w otherwise. Nothing is written to
// the client before the first flush.
func startSSE(w http.ResponseWriter, r *http.Request, cfg streamConfig) (*sse, error) {
	s := &sse{w: w, rc: http.NewResponseController(w), writeTimeout: cfg.WriteTimeout, sent: cfg.Sent}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	if r.ProtoMajor == 1 && r.Method == http.MethodGet && !cfg.keepConn {
		if conn, _, err := s.rc.Hijack(); err == nil {
			// The body runs until the connection closes: no length, no
			// chunks, and the connection is not reused (as before: a
			// stream never ended by itself, so its connection never went
			// back to a pool).
			h.Set("Connection", "close")
			h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
			// What is left of net/http's side of the connection (its
			// buffers, the response) must not stay reachable from here.
			s.conn, s.w, s.rc = conn, nil, nil
			s.buf = append(s.buf, "HTTP/1.1 200 OK\r\n"...)
			b := bytes.NewBuffer(s.buf)
			_ = h.Write(b) // a bytes.Buffer does not fail
			s.buf = append(b.Bytes(), "\r\n"...)
			s.buf = append(s.buf, "retry: 1000\n\n"...)
			return s, nil
		}
	}
	// The server's read timeout bounds receiving a request; a stream's
	// request is whole, and a read deadline left in place would end the
	// stream (the server cancels a request whose connection read fails).
	// net/http clears it too once a body is read; a stream does not rely on
	// that detail. Writes keep their own deadline, renewed per flush.
	_ = s.rc.SetReadDeadline(time.Time{})
	h.Set("Connection", "keep-alive")
	w.WriteHeader(http.StatusOK)
	// retry tells EventSource how soon to reconnect after a drop. No flush
	// here: follow flushes the headers, this and the history at once, a
	// write to the connection fewer per stream.
	s.buf = append(s.buf, "retry: 1000\n\n"...)
	return s, nil
}

// event adds one event; an empty id leaves the client's last event id as it
// was.
func (s *sse) event(id, event string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return err
	}
	s.encoded(id, event, b)
	return nil
}

// encoded adds one event whose data is already JSON: a status is encoded
// once, when it arrives, for every stream that follows its order.
func (s *sse) encoded(id, event string, data []byte) {
	if id != "" {
		s.buf = append(s.buf, "id: "...)
		s.buf = append(s.buf, id...)
		s.buf = append(s.buf, '\n')
	}
	s.buf = append(s.buf, "event: "...)
	s.buf = append(s.buf, event...)
	s.buf = append(s.buf, "\ndata: "...)
	s.buf = append(s.buf, data...)
	s.buf = append(s.buf, "\n\n"...)
	if s.sent != nil {
		s.sent.Inc()
	}
}

// heartbeat is a comment line: EventSource ignores it, proxies see traffic.
func (s *sse) heartbeat() error {
	s.buf = append(s.buf, ": keep-alive\n\n"...)
	return s.flush()
}

// flush writes what gathered since the last flush, within writeTimeout.
func (s *sse) flush() error {
	if s.conn != nil {
		if len(s.buf) == 0 {
			return nil
		}
		_ = s.conn.SetWriteDeadline(time.Now().Add(s.writeTimeout))
		_, err := s.conn.Write(s.buf)
		s.release()
		return err
	}
	_ = s.rc.SetWriteDeadline(time.Now().Add(s.writeTimeout))
	if len(s.buf) > 0 {
		if _, err := s.w.Write(s.buf); err != nil {
			return err
		}
		s.release()
	}
	return s.rc.Flush()
}

// release lets buf go once written: an idle stream keeps no buffer, and
// the next event's (a few hundred bytes, seconds or minutes later) is
// allocated when it comes.
func (s *sse) release() { s.buf = nil }

// detached runs the rest of a detached stream on goroutines of its own, so
// the handler can return: follow on one, and on the other a read that
// notices the client leaving (nothing else arrives on an event stream's
// connection) or, through ctx, the server shutting down. end runs once the
// stream is over, the connection closed.
func (s *sse) detached(ctx context.Context, follow func(context.Context), end func()) {
	ctx, cancel := context.WithCancel(ctx)
	stopOnShutdown := context.AfterFunc(ctx, func() { _ = s.conn.Close() })
	go func() {
		var b [64]byte
		for {
			if _, err := s.conn.Read(b[:]); err != nil {
				cancel()
				return
			}
		}
	}()
	go func() {
		defer end()
		defer stopOnShutdown()
		defer s.conn.Close()
		defer cancel()
		follow(ctx)
	}()
}

// shutdowns hands each server's detached streams a context that ends when
// the server shuts down: net/http neither closes nor waits for connections
// it handed over (http.Server.RegisterOnShutdown).
var shutdowns sync.Map // *http.Server -> context.Context

// serverContext is the context of r's server (see shutdowns), one that never
// ends when r came from no http.Server.
func serverContext(r *http.Request) context.Context {
	srv, ok := r.Context().Value(http.ServerContextKey).(*http.Server)
	if !ok {
		return context.Background()
	}
	if ctx, ok := shutdowns.Load(srv); ok {
		return ctx.(context.Context)
	}
	ctx, cancel := context.WithCancel(context.Background())
	got, loaded := shutdowns.LoadOrStore(srv, ctx)
	if loaded {
		cancel()
		return got.(context.Context)
	}
	srv.RegisterOnShutdown(func() {
		cancel()
		shutdowns.Delete(srv)
	})
	return ctx
}

// lastEventID is where a reconnecting client resumes: the Last-Event-ID
// header EventSource sends, or a lastEventId query parameter for clients
// that cannot set headers.
func lastEventID(r *http.Request) (int64, error) {
	v := r.Header.Get("Last-Event-ID")
	if v == "" {
		v = r.URL.Query().Get("lastEventId")
	}
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, httpx.Errorf(http.StatusBadRequest, "Last-Event-ID must be a non-negative whole number, got %q", v)
	}
	return n, nil
}

// streamConfig is what every stream handler shares.
type streamConfig struct {
	Heartbeat    time.Duration
	WriteTimeout time.Duration
	// UnknownOrderWait is how long a stream waits for the first status of
	// an order the service has not seen before it gives up.
	UnknownOrderWait time.Duration
	// giveUp, when set, replaces the UnknownOrderWait timer (tests).
	giveUp func() <-chan time.Time
	// keepConn leaves the connection to net/http (see sse): the event
	// flow's streams are few, and admin views.
	keepConn bool
	// Sent, when set, counts the events written (kafkakit_sse_events_sent_total).
	Sent prometheus.Counter
	// Tracing, when set, puts each status pushed to a browser in a span,
	// a child of the span its record was read in: the order's trace ends
	// at the browser.
	Tracing *tracing.Tracing
}

// push writes a status read in span read, as a span of its own when
// tracing is on.
func (c streamConfig) push(ctx context.Context, read trace.SpanContext, write func() error) error {
	parent := read
	if !parent.IsValid() {
		parent = trace.SpanContextFromContext(ctx)
	}
	// Under a parent that is not sampled, the kit's samplers (ParentBased,
	// tracing.Setup) drop the span before recording anything: starting it
	// anyway cost every stream's goroutine a stack twice the size (4 -> 8
	// KB, the SDK's Start is deep) the moment a status went out to all of
	// them (BenchmarkIdleStreams).
	if c.Tracing == nil || (parent.IsValid() && !parent.IsSampled()) {
		return write()
	}
	_, span := c.Tracing.StartSend(ctx, read, "sse push orders.status")
	err := write()
	tracing.End(span, err)
	return err
}

// unknownOrder is the data of the final "unknown" event.
type unknownOrder struct {
	OrderID string `json:"orderId"`
	Error   string `json:"error"`
}

// handleOrderEvents streams one order's statuses: it subscribes first, then
// sends the statuses seen so far after Last-Event-ID, then live ones, so a
// client that connects after the order was paid still sees its whole story
// and one that reconnects gets exactly what it missed. A stream for an order
// with no status yet waits UnknownOrderWait for the first one, then ends
// with an "unknown" event (no id), which a page takes as "stop following".
func handleOrderEvents(log *slog.Logger, history *History, cfg streamConfig) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		orderID := r.URL.Query().Get("orderId")
		if orderID == "" {
			httpx.WriteError(w, r, log, httpx.Errorf(http.StatusBadRequest, "orderId query parameter is required"))
			return
		}
		if _, err := uuid.Parse(orderID); err != nil {
			httpx.WriteError(w, r, log, httpx.Errorf(http.StatusBadRequest, "orderId must be a UUID, got %q", orderID))
			return
		}
		last, err := lastEventID(r)
		if err != nil {
			httpx.WriteError(w, r, log, err)
			return
		}
		news, known, cancel, err := history.Subscribe(orderID)
		if err != nil { // errTooManyUnknown
			httpx.WriteError(w, r, log, &httpx.Error{Status: http.StatusServiceUnavailable, RetryAfter: retryAfterSeconds,
				Message: "too many streams wait for orders this service has not seen; retry later"})
			return
		}
		s, err := startSSE(w, r, cfg)
		if err != nil {
			cancel()
			return
		}
		var giveUp <-chan time.Time
		stopGiveUp := func() {}
		switch {
		case known:
		case cfg.giveUp != nil:
			giveUp = cfg.giveUp()
		default:
			t := time.NewTimer(cfg.UnknownOrderWait)
			stopGiveUp = func() { t.Stop() }
			giveUp = t.C
		}
		run := func(ctx context.Context) {
			follow(ctx, s, news, cfg.Heartbeat, giveUp, func() bool {
				if history.Known(orderID) {
					return false // its first status arrived: follow it as any other
				}
				_ = s.event("", "unknown", unknownOrder{OrderID: orderID, Error: fmt.Sprintf(
					"no status of order %s arrived within %v: it may not exist, or be older than this service remembers", orderID, cfg.UnknownOrderWait)})
				_ = s.flush()
				return true
			}, func() error {
				statuses, spans := history.SinceEncoded(orderID, int(last))
				for i, data := range statuses {
					last++
					if err := cfg.push(ctx, spans[i], func() error {
						s.encoded(strconv.FormatInt(last, 10), "status", data)
						return nil
					}); err != nil {
						return err
					}
				}
				return nil
			})
		}
		end := func() { stopGiveUp(); cancel() }
		if s.conn == nil {
			defer end()
			run(r.Context())
			return
		}
		// The stream outlives the handler: its place under the limits and
		// its trace context go with it; the request's context ends when
		// the handler returns.
		release := keepSlot(r)
		traced := trace.SpanContextFromContext(r.Context())
		s.detached(serverContext(r), func(ctx context.Context) {
			run(trace.ContextWithSpanContext(ctx, traced))
		}, func() { end(); release() })
	})
}

// handleFlow streams the recent and live records of the kit's topics,
// optionally only those of one order, for the page's event-flow view. All
// records, every user's orders, is an admin view (httpx.CheckAdmin).
func handleFlow(log *slog.Logger, flow *Flow, cfg streamConfig) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		orderID := r.URL.Query().Get("orderId")
		if orderID != "" {
			if _, err := uuid.Parse(orderID); err != nil {
				httpx.WriteError(w, r, log, httpx.Errorf(http.StatusBadRequest, "orderId must be a UUID, got %q", orderID))
				return
			}
		} else if !httpx.CheckAdmin(w, r) {
			return
		}
		next, err := lastEventID(r)
		if err != nil {
			httpx.WriteError(w, r, log, err)
			return
		}
		news, cancel := flow.Subscribe()
		defer cancel()
		s, err := startSSE(w, r, streamConfig{WriteTimeout: cfg.WriteTimeout, Sent: cfg.Sent, keepConn: true})
		if err != nil {
			return
		}
		follow(r.Context(), s, news, cfg.Heartbeat, nil, nil, func() error {
			records, upTo := flow.Since(next, orderID)
			next = upTo
			for _, rec := range records {
				// ids are 1-based sequence numbers, so Last-Event-ID is the next to send
				if err := s.event(strconv.FormatInt(rec.Seq+1, 10), "record", rec); err != nil {
					return err
				}
			}
			return nil
		})
	})
}

// follow sends what is new each time news arrives, and a heartbeat when the
// stream was idle, until the client leaves, a write fails or the server
// shuts down. When giveUp fires, ends decides whether the stream ends there.
func follow(ctx context.Context, s *sse, news <-chan struct{}, heartbeat time.Duration, giveUp <-chan time.Time, ends func() bool, send func() error) {
	idle := time.NewTicker(heartbeat)
	defer idle.Stop()
	for {
		if err := send(); err != nil {
			return
		}
		if err := s.flush(); err != nil {
			return
		}
		select {
		case <-news:
		case <-idle.C:
			if err := s.heartbeat(); err != nil {
				return
			}
			continue
		case <-giveUp:
			if ends() {
				return
			}
			giveUp = nil
		case <-ctx.Done():
			return
		}
	}
}
