package metrics

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kafkakit/kit/services/platform/httpx"
)

// Unmatched is the route of a request the router had no pattern for (its
// own 404, 405 or redirect): one series for all of them, whatever the path.
const Unmatched = "unmatched"

// routeSeries are one route's series: its duration, bound once, and a
// counter per status code, bound on the code's first use.
type routeSeries struct {
	route    string
	requests *prometheus.CounterVec
	duration prometheus.Observer
	codes    [600]atomic.Pointer[prometheus.Counter]
}

func (s *routeSeries) count(code int) {
	if code < 100 || code >= len(s.codes) {
		code = http.StatusInternalServerError
	}
	c := s.codes[code].Load()
	if c == nil {
		counter := s.requests.WithLabelValues(s.route, strconv.Itoa(code))
		s.codes[code].CompareAndSwap(nil, &counter)
		c = s.codes[code].Load()
	}
	(*c).Inc()
}

// HTTP returns next with every request counted in
// kafkakit_http_requests_total{route,code} and timed in
// kafkakit_http_request_duration_seconds{route}. route is the pattern of
// the net/http ServeMux that next ends in ("POST /orders"), never the raw
// path, so ids in paths do not become series. The mux records the pattern
// on the request it was given, so nothing between this and the mux may
// replace the request (r.WithContext): httpx.API(mux) does not.
func (m *Metrics) HTTP(next http.Handler) http.Handler {
	routes := newBound(func(route string) *routeSeries {
		return &routeSeries{route: route, requests: m.requests, duration: m.duration.WithLabelValues(route)}
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		began := time.Now()
		sw := &httpx.StatusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		route := r.Pattern
		if route == "" {
			route = Unmatched
		}
		s := routes.get(route)
		s.duration.Observe(time.Since(began).Seconds())
		s.count(sw.Status())
	})
}
