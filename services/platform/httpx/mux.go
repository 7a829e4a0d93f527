package httpx

import (
	"fmt"
	"net/http"
)

// API returns a service's routes behind CORS, with the router's own answers
// (404 for an unknown path, 405 with Allow for a known path and another
// method) as JSON errors like every other, so a client never has to parse
// text/plain. Every NewServer chains its middleware (Chain) around API(mux).
func API(mux *http.ServeMux) http.Handler {
	return CORS(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The pattern is empty only when the mux answers itself: not found,
		// method not allowed, or a redirect to the cleaned path.
		if h, pattern := mux.Handler(r); pattern == "" {
			h.ServeHTTP(&routerErrorWriter{ResponseWriter: w, r: r}, r)
			return
		}
		mux.ServeHTTP(w, r)
	}))
}

// routerErrorWriter turns the mux's plain-text 404 and 405 into JSON and
// lets anything else (a redirect) through.
type routerErrorWriter struct {
	http.ResponseWriter
	r        *http.Request
	replaced bool
}

func (w *routerErrorWriter) WriteHeader(status int) {
	var msg string
	switch status {
	case http.StatusNotFound:
		msg = fmt.Sprintf("no such endpoint: %s %s", w.r.Method, w.r.URL.Path)
	case http.StatusMethodNotAllowed:
		msg = fmt.Sprintf("%s is not allowed on %s; allowed: %s", w.r.Method, w.r.URL.Path, w.Header().Get("Allow"))
	default:
		w.ResponseWriter.WriteHeader(status)
		return
	}
	w.replaced = true
	w.Header().Del("X-Content-Type-Options")
	Encode(w.ResponseWriter, status, Errorf(status, "%s", msg))
}

func (w *routerErrorWriter) Write(b []byte) (int, error) {
	if w.replaced {
		return len(b), nil // the plain-text body the JSON replaced
	}
	return w.ResponseWriter.Write(b)
}

// Chain returns h behind middleware, listed outermost first: a request
// passes them in the order written, and the last one hands it to h.
// NewServer ends with one Chain, so every service's middleware is read in
// one place, in the order it runs.
func Chain(h http.Handler, middleware ...func(http.Handler) http.Handler) http.Handler {
	for i := len(middleware) - 1; i >= 0; i-- {
		h = middleware[i](h)
	}
	return h
}
