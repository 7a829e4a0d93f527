package harness

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/kafkakit/kit/services/events"
)

// Client drives the services over HTTP, as a browser or a user's curl would.
type Client struct {
	HTTP *http.Client
	// URLs are the services' base URLs by name.
	URLs map[string]string
	// AdminToken is sent as a bearer token, for the admin endpoints
	// (POST /seed) of services that require one (ADMIN_TOKEN).
	AdminToken string
}

// Client returns a client for the stack's services (their first
// instances).
func (s *Stack) Client() *Client { return s.ClientOn(1) }

// ClientOn returns a client for instance n (from 1) of each service, or its
// last instance when it has fewer: ClientOn(2) reaches the second
// notifications-api of a stack that runs two.
func (s *Stack) ClientOn(n int) *Client {
	urls := map[string]string{}
	for name, list := range s.instances {
		urls[name] = list[min(max(n, 1), len(list))-1].url
	}
	// Spawned services inherit this process's environment, ADMIN_TOKEN
	// included; a running deployment is given the same token.
	return &Client{HTTP: &http.Client{Timeout: 30 * time.Second}, URLs: urls, AdminToken: os.Getenv("ADMIN_TOKEN")}
}

// Item is one line of an order request.
type Item struct {
	SKU string `json:"sku"`
	Qty int    `json:"qty"`
}

// OrderRequest is the body of POST /orders.
type OrderRequest struct {
	UserID   string  `json:"userId"`
	Items    []Item  `json:"items"`
	Total    float64 `json:"total"`
	Currency string  `json:"currency"`
}

// Response is an HTTP answer the tests look into.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// APIError is the JSON body of a 4xx or 5xx answer.
type APIError struct {
	Error  string `json:"error"`
	Fields []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"fields"`
}

// Problem decodes the error body; ok is false when there is none.
func (r Response) Problem() (e APIError, ok bool) {
	err := json.Unmarshal(r.Body, &e)
	return e, err == nil && e.Error != ""
}

// PlaceOrder posts an order and returns its id when the API answered 201.
func (c *Client) PlaceOrder(ctx context.Context, order OrderRequest) (string, Response, error) {
	return c.PlaceOrderWithKey(ctx, order, "")
}

// PlaceOrderWithKey posts an order with an Idempotency-Key ("" for none),
// as a client that may retry it does.
func (c *Client) PlaceOrderWithKey(ctx context.Context, order OrderRequest, idempotencyKey string) (string, Response, error) {
	body, err := json.Marshal(order)
	if err != nil {
		return "", Response{}, err
	}
	var header http.Header
	if idempotencyKey != "" {
		header = http.Header{"Idempotency-Key": {idempotencyKey}}
	}
	resp, err := c.PostWithHeader(ctx, OrdersAPI, "/orders", "application/json", body, header)
	if err != nil || resp.Status != http.StatusCreated {
		return "", resp, err
	}
	var created struct {
		OrderID string `json:"orderId"`
	}
	if err := json.Unmarshal(resp.Body, &created); err != nil || created.OrderID == "" {
		return "", resp, fmt.Errorf("201 without an orderId: %s", resp.Body)
	}
	return created.OrderID, resp, nil
}

// Post sends body with contentType to a service's path.
func (c *Client) Post(ctx context.Context, service, path, contentType string, body []byte) (Response, error) {
	return c.PostWithHeader(ctx, service, path, contentType, body, nil)
}

// PostWithHeader is Post with more request headers.
func (c *Client) PostWithHeader(ctx context.Context, service, path, contentType string, body []byte, header http.Header) (Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URLs[service]+path, bytes.NewReader(body))
	if err != nil {
		return Response{}, err
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return c.do(req)
}

// Get fetches a service's path.
func (c *Client) Get(ctx context.Context, service, path string) (Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URLs[service]+path, nil)
	if err != nil {
		return Response{}, err
	}
	return c.do(req)
}

func (c *Client) do(req *http.Request) (Response, error) {
	if c.AdminToken != "" && req.Header.Get("Authorization") == "" {
		req.Header.Set("Authorization", "Bearer "+c.AdminToken)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: body}, err
}

// Stock reads every SKU's quantity.
func (c *Client) Stock(ctx context.Context) (map[string]int, error) {
	resp, err := c.Get(ctx, StockService, "/stock")
	if err != nil {
		return nil, err
	}
	if resp.Status != http.StatusOK {
		return nil, fmt.Errorf("GET /stock: %d %s", resp.Status, resp.Body)
	}
	stock := map[string]int{}
	return stock, json.Unmarshal(resp.Body, &stock)
}

// Seed sets the quantities of SKUs.
func (c *Client) Seed(ctx context.Context, quantities map[string]int) error {
	body, _ := json.Marshal(quantities)
	resp, err := c.Post(ctx, StockService, "/seed", "application/json", body)
	if err != nil {
		return err
	}
	if resp.Status != http.StatusOK {
		return fmt.Errorf("POST /seed: %d %s", resp.Status, resp.Body)
	}
	return nil
}

// StockOutcome is what stock-service did with an order.
type StockOutcome struct {
	OrderID string `json:"orderId"`
	Result  string `json:"result"`
	Reason  string `json:"reason"`
}

// StockOutcome asks stock-service what became of an order; found is false
// while it has not processed the order yet.
func (c *Client) StockOutcome(ctx context.Context, orderID string) (out StockOutcome, found bool, err error) {
	resp, err := c.Get(ctx, StockService, "/orders/"+orderID)
	switch {
	case err != nil:
		return out, false, err
	case resp.Status == http.StatusNotFound:
		return out, false, nil
	case resp.Status != http.StatusOK:
		return out, false, fmt.Errorf("GET /orders/%s: %d %s", orderID, resp.Status, resp.Body)
	}
	return out, true, json.Unmarshal(resp.Body, &out)
}

// Event is one Server-Sent Event.
type Event struct {
	ID    string
	Event string
	Data  []byte
}

// Status decodes the event's data as an order status.
func (e Event) Status() (events.OrderStatus, error) {
	var s events.OrderStatus
	err := json.Unmarshal(e.Data, &s)
	return s, err
}

// EventStream is an open SSE connection.
type EventStream struct {
	// Header is the response's header.
	Header http.Header
	events chan Event
	done   chan error
	cancel context.CancelFunc
}

// FollowOrder opens the order's status stream, resuming after lastEventID
// when it is not "".
func (c *Client) FollowOrder(ctx context.Context, orderID, lastEventID string) (*EventStream, error) {
	return c.Stream(ctx, NotificationsAPI, "/events?orderId="+orderID, lastEventID)
}

// Stream opens an event stream at a service's path. It fails unless the
// service answers 200 with text/event-stream.
func (c *Client) Stream(ctx context.Context, service, path, lastEventID string) (*EventStream, error) {
	ctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URLs[service]+path, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	// No client timeout: the stream lives as long as ctx.
	resp, err := (&http.Client{Transport: c.HTTP.Transport}).Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		return nil, &StreamRefused{Status: resp.StatusCode, Body: body}
	}
	s := &EventStream{Header: resp.Header, events: make(chan Event, 64), done: make(chan error, 1), cancel: cancel}
	go func() {
		defer resp.Body.Close()
		defer close(s.events)
		s.done <- ReadEvents(resp.Body, func(e Event) error {
			select {
			case s.events <- e:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	return s, nil
}

// StreamRefused is a stream request the service answered with an error.
type StreamRefused struct {
	Status int
	Body   []byte
}

func (e *StreamRefused) Error() string { return fmt.Sprintf("stream refused: %d %s", e.Status, e.Body) }

// Next returns the next event, or an error when ctx ends or the stream closed.
func (s *EventStream) Next(ctx context.Context) (Event, error) {
	select {
	case e, ok := <-s.events:
		if !ok {
			return Event{}, fmt.Errorf("stream closed: %v", <-s.done)
		}
		return e, nil
	case <-ctx.Done():
		return Event{}, ctx.Err()
	}
}

// Close ends the stream.
func (s *EventStream) Close() { s.cancel() }

// ReadEvents parses a text/event-stream body and calls fn for each event
// (comments, used as heartbeats, are skipped) until the body ends or fn
// fails. It follows the WHATWG rules: data lines join with "\n", an event
// ends at a blank line, "event" defaults to "message".
func ReadEvents(r io.Reader, fn func(Event) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	var e Event
	var data [][]byte
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			if len(data) > 0 {
				e.Data = bytes.Join(data, []byte("\n"))
				if e.Event == "" {
					e.Event = "message"
				}
				if err := fn(e); err != nil {
					return err
				}
			}
			e, data = Event{}, nil
			continue
		}
		if line[0] == ':' {
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "id":
			e.ID = string(value)
		case "event":
			e.Event = string(value)
		case "data":
			data = append(data, append([]byte(nil), value...))
		}
	}
	return sc.Err()
}
