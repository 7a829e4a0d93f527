// Package httpx holds the HTTP conventions every service shares: one
// encode/decode pair, JSON errors mapped to status codes in one place (the
// router's own 404 and 405 included), CORS for local development origins,
// the guards at the edge (Host allow-list, admin endpoints) and the health
// endpoints.
package httpx

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
)

// Error is a problem the client can act on: it becomes an HTTP status and a
// JSON body {"error": Message, "fields": [...]}.
type Error struct {
	Status  int          `json:"-"`
	Message string       `json:"error"`
	Fields  []FieldError `json:"fields,omitempty"`
	// RetryAfter, in seconds, is sent as Retry-After when set.
	RetryAfter int `json:"-"`
}

// FieldError names one invalid field, as a path such as "items[0].qty".
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with status and a formatted message.
func Errorf(status int, format string, args ...any) *Error {
	return &Error{Status: status, Message: fmt.Sprintf(format, args...)}
}

// Encode writes v as JSON with status, setting Content-Type first. It does
// not escape <, > and &: the body is JSON, never HTML, and a message such as
// "must be >= 1" should read as written.
func Encode(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// WriteError answers err: an *Error as itself, anything else as a 500 that
// is logged, since only then is it the service's fault.
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var e *Error
	if !errors.As(err, &e) {
		log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		e = &Error{Status: http.StatusInternalServerError, Message: "internal error"}
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(e.RetryAfter))
	}
	Encode(w, e.Status, e)
}

// MaxBody is the largest request body a service reads.
const MaxBody = 1 << 20

// Decode reads a JSON request body into v. It answers 415 for a content type
// that is not JSON, 413 for a body over MaxBody, 408 for a body that did not
// arrive within the server's read timeout, and 400 for malformed JSON,
// unknown fields, trailing data or a body that could not be read.
func Decode(w http.ResponseWriter, r *http.Request, v any) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return Errorf(http.StatusUnsupportedMediaType, "Content-Type must be application/json, got %q", r.Header.Get("Content-Type"))
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooLarge *http.MaxBytesError
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &tooLarge):
			return Errorf(http.StatusRequestEntityTooLarge, "request body is larger than %d bytes", MaxBody)
		case errors.As(err, &typeErr):
			return &Error{Status: http.StatusUnprocessableEntity, Message: "invalid fields",
				Fields: []FieldError{{Field: typeErr.Field, Message: fmt.Sprintf("must be a %s", jsonKind(typeErr.Type.Kind().String()))}}}
		case errors.Is(err, os.ErrDeadlineExceeded):
			return Errorf(http.StatusRequestTimeout, "request body not received within the read timeout")
		case isReadError(err):
			// The connection's error names addresses; the client needs none of it.
			return Errorf(http.StatusBadRequest, "request body could not be read")
		default:
			return Errorf(http.StatusBadRequest, "malformed JSON body: %v", err)
		}
	}
	if dec.More() {
		return Errorf(http.StatusBadRequest, "malformed JSON body: unexpected data after the JSON value")
	}
	return nil
}

// isReadError reports whether err came from the connection rather than from
// the JSON in it.
func isReadError(err error) bool {
	var netErr net.Error
	var opErr *net.OpError
	return errors.As(err, &netErr) || errors.As(err, &opErr) || errors.Is(err, net.ErrClosed)
}

func jsonKind(goKind string) string {
	switch {
	case strings.HasPrefix(goKind, "int"), strings.HasPrefix(goKind, "uint"):
		return "whole number"
	case strings.HasPrefix(goKind, "float"):
		return "number"
	case goKind == "slice":
		return "list"
	case goKind == "struct", goKind == "map":
		return "object"
	default:
		return goKind
	}
}

// CORS lets pages served from local development origins (localhost,
// 127.0.0.1, any port) call the service from a browser.
func CORS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if origin := r.Header.Get("Origin"); localOrigin(origin) {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Add("Vary", "Origin")
			h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Content-Type, Last-Event-ID, Idempotency-Key")
			h.Set("Access-Control-Expose-Headers", "Retry-After, Idempotent-Replayed")
			h.Set("Access-Control-Max-Age", "600")
			if r.Method == http.MethodOptions {
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func localOrigin(origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	switch u.Hostname() {
	case "localhost", "127.0.0.1", "::1":
		return true
	}
	return false
}

// Number parses raw as a JSON number. Strings ("2"), null and an absent
// field are not numbers, so a request cannot slip a quantity past
// validation as text.
func Number(raw []byte) (float64, bool) {
	s := strings.TrimSpace(string(raw))
	if s == "" || (s[0] != '-' && (s[0] < '0' || s[0] > '9')) {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}
