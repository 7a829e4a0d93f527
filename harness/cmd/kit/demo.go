package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kafkakit/kit/harness"
	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/httpx"
)

// demoStock is what `kit up` seeds so the page works on first load: a few
// SKUs, one nearly sold out so "out of stock" is one order away.
var demoStock = map[string]int{
	"BOOK-1":       25,
	"MUG-1":        40,
	"TSHIRT-M":     12,
	"STICKER-PACK": 100,
	"LAST-ONE":     1,
}

// seeder is the part of harness.Client seeding uses.
type seeder interface {
	Seed(ctx context.Context, quantities map[string]int) error
}

// seedDemoStock sets the demo stock through stock-service's POST /seed
// and reports whether it did; a failure is printed, not fatal, since the
// kit is still useful without it.
func seedDemoStock(ctx context.Context, s seeder, stderr io.Writer) bool {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := s.Seed(ctx, demoStock); err != nil {
		fmt.Fprintf(stderr, "kit: could not seed the demo stock (the page will show none): %v\n", err)
		return false
	}
	return true
}

// printTry prints what to try once the kit is up. seeded says whether the
// demo stock is there.
// url is a service's base URL (Stack.URL).
func printTry(w io.Writer, url func(service string) string, seeded bool) {
	ordersURL, notifyURL, stockURL := url(harness.OrdersAPI), url(harness.NotificationsAPI), url(harness.StockService)
	order := func(sku string, qty int, total float64) string {
		return fmt.Sprintf(`curl -s -XPOST %s/orders -H 'Content-Type: application/json' -d '{"userId":"ada","items":[{"sku":%q,"qty":%d}],"total":%g,"currency":"EUR"}'`,
			ordersURL, sku, qty, total)
	}
	fmt.Fprintf(w, "\nTry:\n")
	if seeded {
		fmt.Fprintf(w, "  demo stock:")
		for _, sku := range slices.Sorted(maps.Keys(demoStock)) {
			fmt.Fprintf(w, " %s=%d", sku, demoStock[sku])
		}
		fmt.Fprintln(w, "   (kit up -seed=false starts empty)")
	} else {
		fmt.Fprintf(w, "  seed stock:        curl -s -XPOST %s/seed -H 'Content-Type: application/json' -d '{\"BOOK-1\": 10}'\n", stockURL)
	}
	fmt.Fprintf(w, "  an order:          %s\n", order("BOOK-1", 2, 42.5))
	if seeded {
		fmt.Fprintf(w, "  out of stock:      %s\n", order("LAST-ONE", 2, 19.9))
	}
	fmt.Fprintf(w, "  payment declined:  %s\n", order("BOOK-1", 1, 1500))
	fmt.Fprintf(w, "  follow an order:   curl -N '%s/events?orderId=<the orderId>'\n", notifyURL)
	// The commands are spelled as the lessons in docs/learn spell them:
	// kit, on the PATH from bin/, which make up builds.
	fmt.Fprintf(w, "  a dead letter:     kit produce %s 'not an order'; kit dlq list %[1]s\n", events.TopicOrdersCreated)
	fmt.Fprintf(w, "  look inside:       kit groups -watch   (and: kit topics; kit tail %s -from earliest)\n", events.TopicOrdersStatus)
	fmt.Fprintf(w, "  kit is bin/kit:    export PATH=\"$PWD/bin:$PATH\" at the repository's root (or go run ./harness/cmd/kit)\n")
	fmt.Fprintf(w, "\nCtrl-C stops everything.\n\n")
}

// demoAPI is what the page server answers besides the page itself, under
// /kit/: the page's "send a malformed record" button.
func demoAPI(p *producer) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /kit/demo/malformed", localOnly(handleMalformed(p)))
	mux.Handle("/kit/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/kit/demo/malformed" {
			w.Header().Set("Allow", http.MethodPost)
			httpx.Encode(w, http.StatusMethodNotAllowed, httpx.Errorf(http.StatusMethodNotAllowed, "%s is POST only", r.URL.Path))
			return
		}
		httpx.Encode(w, http.StatusNotFound, httpx.Errorf(http.StatusNotFound, "no %s %s here", r.Method, r.URL.Path))
	}))
	return mux
}

// malformedAnswer is the body of a 202 from POST /kit/demo/malformed:
// where the record landed.
type malformedAnswer struct {
	Topic     string `json:"topic"`
	Partition int    `json:"partition"`
	Offset    int64  `json:"offset"`
	Key       string `json:"key"`
}

// handleMalformed produces one record to orders.created that is not an
// order, so the page can show it being dead-lettered.
func handleMalformed(p *producer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b [8]byte
		_, _ = rand.Read(b[:])
		key := "malformed-" + hex.EncodeToString(b[:])
		value := fmt.Sprintf("this is not an order: sent by the page's malformed-record button at %s", time.Now().UTC().Format(time.RFC3339))
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		got, err := p.Produce(ctx, kafka.Message{Topic: events.TopicOrdersCreated, Key: []byte(key), Value: []byte(value)})
		if err != nil {
			w.Header().Set("Retry-After", "1")
			httpx.Encode(w, http.StatusServiceUnavailable, httpx.Errorf(http.StatusServiceUnavailable, "the broker did not take the record: %v", err))
			return
		}
		httpx.Encode(w, http.StatusAccepted, malformedAnswer{Topic: got.Topic, Partition: got.Partition, Offset: got.Offset, Key: key})
	})
}

// localOnly answers only requests from this machine, made to a local name
// (not a DNS-rebinding page), and from a local page when a browser says
// where the request comes from (not a cross-site form post).
func localOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		ip := net.ParseIP(host)
		switch {
		case err != nil || ip == nil || !ip.IsLoopback():
			httpx.Encode(w, http.StatusForbidden, httpx.Errorf(http.StatusForbidden, "only clients on this machine may send demo records"))
		case !localName(r.Host):
			httpx.Encode(w, http.StatusForbidden, httpx.Errorf(http.StatusForbidden, "Host %q is not this machine's: use localhost or 127.0.0.1", r.Host))
		case r.Header.Get("Origin") != "" && !localOrigin(r.Header.Get("Origin")):
			httpx.Encode(w, http.StatusForbidden, httpx.Errorf(http.StatusForbidden, "requests from pages at %s may not send demo records", r.Header.Get("Origin")))
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// localName reports whether a Host header names this machine.
func localName(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func localOrigin(origin string) bool {
	u, err := url.Parse(origin)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && localName(u.Host)
}
