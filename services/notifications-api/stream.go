package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/kafkakit/kit/services/platform/httpx"
	"github.com/kafkakit/kit/services/platform/tracing"
)

// sse writes Server-Sent Events to one client.
type sse struct {
	w  http.ResponseWriter
	rc *http.ResponseController
	// writeTimeout drops a client that stops reading, instead of letting it
	// hold a goroutine and buffers forever.
	writeTimeout time.Duration
	// sent counts the events written, when set.
	sent prometheus.Counter
}

func startSSE(w http.ResponseWriter, cfg streamConfig) (*sse, error) {
	writeTimeout := cfg.WriteTimeout
	s := &sse{w: w, rc: http.NewResponseController(w), writeTimeout: writeTimeout, sent: cfg.Sent}
	// The server's read timeout bounds receiving a request; a stream's
	// request is whole, and a read deadline left in place would end the
	// stream (the server cancels a request whose connection read fails).
	// net/http clears it too once a body is read; a stream does not rely on
	// that detail. Writes keep their own deadline, renewed per event.
	_ = s.rc.SetReadDeadline(time.Time{})
	_ = s.rc.SetWriteDeadline(time.Now().Add(writeTimeout))
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	// retry tells EventSource how soon to reconnect after a drop. No flush
	// here: follow flushes the headers, this and the history at once, a
	// write to the connection fewer per stream.
	if _, err := fmt.Fprint(w, "retry: 1000\n\n"); err != nil {
		return nil, err
	}
	return s, nil
}

// event writes one event; an empty id leaves the client's last event id as
// it was.
func (s *sse) event(id, event string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return err
	}
	_ = s.rc.SetWriteDeadline(time.Now().Add(s.writeTimeout))
	if id != "" {
		if _, err := fmt.Fprintf(s.w, "id: %s\n", id); err != nil {
			return err
		}
	}
	_, err = fmt.Fprintf(s.w, "event: %s\ndata: %s\n\n", event, b)
	if err == nil && s.sent != nil {
		s.sent.Inc()
	}
	return err
}

// heartbeat is a comment line: EventSource ignores it, proxies see traffic.
func (s *sse) heartbeat() error {
	_ = s.rc.SetWriteDeadline(time.Now().Add(s.writeTimeout))
	if _, err := fmt.Fprint(s.w, ": keep-alive\n\n"); err != nil {
		return err
	}
	return s.flush()
}

func (s *sse) flush() error { return s.rc.Flush() }

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
	if c.Tracing == nil {
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
		defer cancel()
		s, err := startSSE(w, cfg)
		if err != nil {
			return
		}
		var giveUp <-chan time.Time
		switch {
		case known:
		case cfg.giveUp != nil:
			giveUp = cfg.giveUp()
		default:
			t := time.NewTimer(cfg.UnknownOrderWait)
			defer t.Stop()
			giveUp = t.C
		}
		follow(r.Context(), s, news, cfg.Heartbeat, giveUp, func() bool {
			if history.Known(orderID) {
				return false // its first status arrived: follow it as any other
			}
			_ = s.event("", "unknown", unknownOrder{OrderID: orderID, Error: fmt.Sprintf(
				"no status of order %s arrived within %v: it may not exist, or be older than this service remembers", orderID, cfg.UnknownOrderWait)})
			_ = s.flush()
			return true
		}, func() error {
			statuses, spans := history.SinceTraced(orderID, int(last))
			for i, st := range statuses {
				last++
				if err := cfg.push(r.Context(), spans[i], func() error {
					return s.event(strconv.FormatInt(last, 10), "status", st)
				}); err != nil {
					return err
				}
			}
			return nil
		})
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
		s, err := startSSE(w, cfg)
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
