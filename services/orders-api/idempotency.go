package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/httpx"
)

// maxKeyLen bounds an Idempotency-Key.
const maxKeyLen = 255

// idempotencyKey returns the request's Idempotency-Key (IETF httpapi draft),
// "" when it has none. The draft makes the value a structured-field string
// ("…"); a bare token, as most clients send, is taken as it is.
func idempotencyKey(r *http.Request) (string, error) {
	values := r.Header.Values("Idempotency-Key")
	if len(values) == 0 {
		return "", nil
	}
	bad := &httpx.Error{Status: http.StatusBadRequest,
		Message: "Idempotency-Key must be one value of 1 to 255 printable ASCII characters"}
	if len(values) > 1 {
		return "", bad
	}
	key := values[0]
	if strings.HasPrefix(key, `"`) {
		unquoted, err := strconv.Unquote(key)
		if err != nil {
			return "", bad
		}
		key = unquoted
	}
	if key == "" || len(key) > maxKeyLen || strings.IndexFunc(key, func(c rune) bool { return c < 0x20 || c > 0x7e }) >= 0 {
		return "", bad
	}
	return key, nil
}

// requestHash identifies what a request asked for: the validated order
// before it gets its id and time, so the same order sent twice hashes the
// same whatever its JSON formatting.
func requestHash(o events.OrderCreated) string {
	b, _ := json.Marshal(struct {
		UserID   string        `json:"userId"`
		Items    []events.Item `json:"items"`
		Total    float64       `json:"total"`
		Currency string        `json:"currency"`
	}{o.UserID, o.Items, o.Total, o.Currency})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// inFlight holds the idempotency keys whose first request is being
// recorded right now by this instance.
type inFlight struct {
	mu   sync.Mutex
	keys map[string]struct{}
}

func newInFlight() *inFlight { return &inFlight{keys: map[string]struct{}{}} }

// acquire marks (user, key) in flight; false when it already is.
func (f *inFlight) acquire(user, key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := user + "\x00" + key
	if _, busy := f.keys[k]; busy {
		return false
	}
	f.keys[k] = struct{}{}
	return true
}

func (f *inFlight) release(user, key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.keys, user+"\x00"+key)
}
