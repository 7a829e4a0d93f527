// Package pipeline drives the order pipeline as the web page does: POST an
// order to orders-api, then follow that order's Server-Sent Events stream on
// notifications-api until it reaches a final status. It times each step from
// the order's intended send time.
package pipeline

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/kafkakit/kit/loadtest/internal/pace"
	"github.com/kafkakit/kit/loadtest/internal/sse"
)

// Statuses as notifications-api streams them.
const (
	StatusCreated = "CREATED"
	StatusPaid    = "PAID"
	StatusFailed  = "FAILED"
)

// Order is what the runner places. Total stays under the processor's payment
// limit (1000) so every order is expected to be PAID.
type Order struct {
	SKUs     []string
	Total    float64
	Currency string
	RunID    string // makes user ids of one run recognisable in the logs
}

// Client places orders and follows their streams.
type Client struct {
	orders  []string // POST targets, one per orders-api instance
	events  []string // GET targets without the query, one per notifications-api instance
	http    *http.Client
	order   Order
	timeout time.Duration
}

// NewClient returns a Client for the two APIs, each given by the base URLs
// of its instances: order n is placed on orders-api instance n mod their
// count and followed on notifications-api instance n mod theirs, as a
// round-robin load balancer would spread them. timeout bounds one order
// from its intended send time to its final status.
func NewClient(httpClient *http.Client, ordersURLs, notificationsURLs []string, order Order, timeout time.Duration) (*Client, error) {
	c := &Client{http: httpClient, order: order, timeout: timeout}
	if len(ordersURLs) == 0 || len(notificationsURLs) == 0 {
		return nil, errors.New("no orders-api or no notifications-api URL")
	}
	for _, u := range ordersURLs {
		o, err := url.JoinPath(u, "orders")
		if err != nil {
			return nil, fmt.Errorf("orders url: %w", err)
		}
		c.orders = append(c.orders, o)
	}
	for _, u := range notificationsURLs {
		e, err := url.JoinPath(u, "events")
		if err != nil {
			return nil, fmt.Errorf("notifications url: %w", err)
		}
		c.events = append(c.events, e)
	}
	if len(order.SKUs) == 0 {
		return nil, errors.New("order: no SKUs")
	}
	return c, nil
}

// Outcome is what one order went through. Durations are from the intended
// send time; zero means the step was not reached.
type Outcome struct {
	OrderID  string        // the id the 201 gave
	Accepted time.Duration // 201 received
	Created  time.Duration // CREATED seen on the stream
	Final    time.Duration // PAID or FAILED seen on the stream
	Status   string        // the final status
	ErrKind  string        // empty when the order reached a final status
	Err      error
}

type orderRequest struct {
	UserID   string     `json:"userId"`
	Items    []itemLine `json:"items"`
	Total    float64    `json:"total"`
	Currency string     `json:"currency"`
}

type itemLine struct {
	SKU string `json:"sku"`
	Qty int    `json:"qty"`
}

type orderResponse struct {
	OrderID string `json:"orderId"`
}

type statusData struct {
	Status string `json:"status"`
}

// Body returns the JSON body of order seq.
func (c *Client) Body(seq int) []byte {
	b, _ := json.Marshal(orderRequest{
		UserID:   c.order.RunID + "-user-" + strconv.Itoa(seq%1000),
		Items:    []itemLine{{SKU: c.order.SKUs[seq%len(c.order.SKUs)], Qty: 1}},
		Total:    c.order.Total,
		Currency: c.order.Currency,
	})
	return b
}

// Place runs one order to its final status, or until the timeout.
func (c *Client) Place(ctx context.Context, a pace.Arrival) Outcome {
	ctx, cancel := context.WithDeadline(ctx, a.Intended.Add(c.timeout))
	defer cancel()
	var o Outcome
	fail := func(kind string, err error) Outcome {
		o.ErrKind, o.Err = kind, err
		return o
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.orders[a.Seq%len(c.orders)], bytes.NewReader(c.Body(a.Seq)))
	if err != nil {
		return fail("post: request", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fail("post: "+netKind(err), err)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if err != nil {
		return fail("post: "+netKind(err), err)
	}
	if resp.StatusCode != http.StatusCreated {
		return fail("post: http "+strconv.Itoa(resp.StatusCode), fmt.Errorf("POST /orders: %s: %.200s", resp.Status, body))
	}
	o.Accepted = time.Since(a.Intended)
	var created orderResponse
	if err := json.Unmarshal(body, &created); err != nil || created.OrderID == "" {
		return fail("post: bad body", fmt.Errorf("POST /orders: 201 body %.200q: %v", body, err))
	}
	o.OrderID = created.OrderID
	return c.follow(ctx, a, created.OrderID, o)
}

// follow reads the order's stream until a final status.
func (c *Client) follow(ctx context.Context, a pace.Arrival, orderID string, o Outcome) Outcome {
	fail := func(kind string, err error) Outcome {
		o.ErrKind, o.Err = kind, err
		return o
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.events[a.Seq%len(c.events)]+"?orderId="+url.QueryEscape(orderID), nil)
	if err != nil {
		return fail("stream: request", err)
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, done, err := c.openStream(ctx, req)
	if err != nil {
		return fail("stream: "+netKind(err), err)
	}
	// Closing before the end drops the connection; the stream never ends
	// by itself, so it cannot go back to the pool anyway.
	defer done()
	if resp.StatusCode != http.StatusOK {
		return fail("stream: http "+strconv.Itoa(resp.StatusCode), fmt.Errorf("GET /events: %s", resp.Status))
	}
	r := readers.Get().(*sse.Reader)
	r.Reset(resp.Body)
	defer func() {
		r.Reset(nil) // let go of the body
		readers.Put(r)
	}()
	for {
		ev, err := r.Next()
		if err != nil {
			if ctx.Err() != nil { // the deadline closed the connection
				return fail("no final status within timeout", err)
			}
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return fail("stream: ended before final status", err)
			}
			return fail("stream: "+netKind(err), err)
		}
		if ev.Type != "status" && ev.Type != "message" {
			continue
		}
		status, err := StatusOf(ev.Data)
		if err != nil {
			return fail("stream: bad event", fmt.Errorf("event %s: %w", ev.ID, err))
		}
		switch status {
		case StatusCreated:
			if o.Created == 0 {
				o.Created = time.Since(a.Intended)
			}
		case StatusPaid, StatusFailed:
			o.Final = time.Since(a.Intended)
			o.Status = status
			return o
		}
	}
}

// openStream sends the stream's request on a connection of its own and
// reads the response head, without the transport's pool: a stream's
// connection never goes back to it, and the transport spent two goroutines
// (their stacks grown each time), two 4 KB buffers and its bookkeeping on
// every one. done closes the connection; ctx ending closes it too, which
// ends a read in progress. A client whose transport is not the runner's
// (tests) goes through it as before.
func (c *Client) openStream(ctx context.Context, req *http.Request) (resp *http.Response, done func(), err error) {
	t, ok := c.http.Transport.(*http.Transport)
	if !ok || t.DialContext == nil || req.URL.Scheme != "http" {
		resp, err := c.http.Do(req)
		if err != nil {
			return nil, nil, err
		}
		return resp, func() { resp.Body.Close() }, nil
	}
	addr := req.URL.Host
	if req.URL.Port() == "" {
		addr = net.JoinHostPort(req.URL.Hostname(), "80")
	}
	conn, err := t.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("GET %s: %w", req.URL, err)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	br := heads.Get().(*bufio.Reader)
	br.Reset(conn)
	done = func() {
		stop()
		conn.Close()
		br.Reset(nil)
		heads.Put(br)
	}
	if err := req.Write(conn); err != nil {
		done()
		return nil, nil, fmt.Errorf("GET %s: %w", req.URL, err)
	}
	if resp, err = http.ReadResponse(br, req); err != nil {
		done()
		return nil, nil, fmt.Errorf("GET %s: %w", req.URL, err)
	}
	return resp, done, nil
}

// heads are the read buffers of stream connections that ended.
var heads = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

// readers are the SSE readers of streams that ended, buffers and all: one
// order's stream after another reuses them.
var readers = sync.Pool{New: func() any { return sse.NewReader(nil, 0) }}

// statusPrefix is how notifications-api's encoder writes the status field.
var statusPrefix = []byte(`"status":"`)

// StatusOf returns the status of a status event's data: found in place when
// the data has the encoder's shape (no allocation: every order's stream
// carries three or four of them), decoded as JSON otherwise.
func StatusOf(data []byte) (string, error) {
	// An object as the encoder writes it: braces at both ends (a cut event
	// is caught), the field in place; anything else goes to the decoder.
	whole := len(data) > 1 && data[0] == '{' && data[len(data)-1] == '}'
	if i := bytes.Index(data, statusPrefix); i >= 0 && whole {
		rest := data[i+len(statusPrefix):]
		if j := bytes.IndexByte(rest, '"'); j >= 0 {
			for _, s := range []string{StatusCreated, "PROCESSING", StatusPaid, StatusFailed} {
				if string(rest[:j]) == s {
					return s, nil
				}
			}
			return string(rest[:j]), nil
		}
	}
	var st statusData
	if err := json.Unmarshal(data, &st); err != nil {
		return "", err
	}
	return st.Status, nil
}

// netKind names a transport error by its cause, so errors group into a few
// kinds instead of one per message.
func netKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "connection reset"
	case errors.Is(err, syscall.EADDRNOTAVAIL), errors.Is(err, syscall.EADDRINUSE):
		return "no free local port"
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return "too many open files"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	return "other error"
}

// TransportOptions size the HTTP transport for many concurrent requests.
type TransportOptions struct {
	// SourceIPs spreads outgoing connections over this many loopback source
	// addresses (127.0.0.1, 127.0.0.2, ...) so that tens of thousands of
	// connections do not run out of ephemeral ports on one. 0 or 1 leaves the
	// choice to the kernel.
	SourceIPs int
	// MaxIdlePerHost keeps this many idle connections per host for reuse.
	MaxIdlePerHost int
}

// NewHTTPClient returns one long-lived client for the whole run: no
// connection cap per host, a large idle pool and no overall timeout (each
// order carries its own deadline).
//
// Every order opens a connection of its own for its stream (a stream
// never ends by itself, so its connection never returns to the pool), and
// dialing was over a quarter of the runner's CPU: so a host name is
// resolved once, not per dial, and the connections carry no TCP
// keep-alive probes (three setsockopt calls each; a stream lives seconds,
// and notifications-api's heartbeats show a dead one).
func NewHTTPClient(o TransportOptions) *http.Client {
	var next atomic.Uint32
	var resolved sync.Map // "host:port" -> "ip:port"
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		d := net.Dialer{Timeout: 5 * time.Second, KeepAlive: -1}
		target := addr
		if ip, ok := resolved.Load(addr); ok {
			target = ip.(string)
		} else if a, err := net.ResolveTCPAddr(network, addr); err == nil && a.IP != nil {
			target = a.String()
			resolved.Store(addr, target)
		}
		if o.SourceIPs > 1 && isLoopback(target) {
			n := next.Add(1) % uint32(o.SourceIPs)
			d.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, byte((n+1)>>8), byte((n+1)&0xff))}
		}
		conn, err := d.DialContext(ctx, network, target)
		if err != nil && target != addr {
			resolved.Delete(addr) // resolve again next time: the name may point elsewhere now
		}
		return conn, err
	}
	idle := max(o.MaxIdlePerHost, 64)
	return &http.Client{Transport: &http.Transport{
		DialContext:           dial,
		MaxIdleConns:          idle * 4,
		MaxIdleConnsPerHost:   idle,
		MaxConnsPerHost:       0,
		IdleConnTimeout:       90 * time.Second,
		DisableCompression:    true,
		ResponseHeaderTimeout: 0, // the order's deadline bounds it
		ForceAttemptHTTP2:     false,
	}}
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback() && ip.To4() != nil
}
