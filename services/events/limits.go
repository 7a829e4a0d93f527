package events

import "unicode/utf8"

// MaxReasonBytes bounds the reason of a REJECTED stock reservation, and so
// of the FAILED status that carries it on: a reason says why, naming what
// was wrong, not all of it. Unbounded, an order of many short SKUs from
// another producer made an answer twice its size — over the broker's
// max.message.bytes, so its outbox could never send it.
const MaxReasonBytes = 2048

// Shorten returns s cut to at most maxBytes bytes (3 or more), ending in
// "…" when it was cut, and never in the middle of a UTF-8 sequence: for
// reasons (MaxReasonBytes) and the values they quote.
func Shorten(s string, maxBytes int) string {
	if len(s) <= maxBytes {
		return s
	}
	const more = "…"
	cut := max(maxBytes-len(more), 0)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + more
}
