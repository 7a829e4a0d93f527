package httpx

import "net/http"

// StatusWriter remembers the status a handler answered with, for the
// middleware that counts and traces requests. Unwrap lets
// http.ResponseController reach the connection beneath (flushes and
// deadlines of event streams).
type StatusWriter struct {
	http.ResponseWriter
	code int
}

func (w *StatusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *StatusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// FlushError is what http.ResponseController.Flush calls: it flushes the
// writer beneath and returns its error, which tells an event stream that
// its client has gone.
func (w *StatusWriter) FlushError() error {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Flush keeps the writer an http.Flusher for handlers that check.
func (w *StatusWriter) Flush() { _ = w.FlushError() }

func (w *StatusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Status is the answered code; a handler that wrote nothing answered 200.
func (w *StatusWriter) Status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}
