package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/segmentio/kafka-go"

	"github.com/kafkakit/kit/services/events"
)

// deadLettered is what deadLetter returns for a record it set aside: not
// a failure to retry, and not the handler's success either (observe counts
// it apart). It does not unwrap to its cause, which is Permanent: nothing
// outside may dead-letter it again.
type deadLettered struct{ cause error }

func (e deadLettered) Error() string { return "dead-lettered: " + e.cause.Error() }

// setAside reports whether err says the record was dead-lettered, and why.
// Its error target lives here, so the path of a record applied at once
// allocates none.
func setAside(err error) (cause error, ok bool) {
	if err == nil {
		return nil, false
	}
	var dl deadLettered
	if errors.As(err, &dl) {
		return dl.cause, true
	}
	return nil, false
}

// deadLetterError is a record that could not be set aside on its
// dead-letter topic; Stuck says so.
type deadLetterError struct {
	topic string
	err   error
}

func (e deadLetterError) Error() string { return "dead-letter to " + e.topic + ": " + e.err.Error() }
func (e deadLetterError) Unwrap() error { return e.err }

// deadLetter writes a record whose handler failed with a Permanent error
// to <topic>.dlq through w, with the cause and its origin (group among
// them) in headers, so the partition moves on and an operator can replay it
// later; it returns deadLettered then. Other errors pass through. A copy
// that cannot be written — no writer, a broker that refuses it — returns
// deadLetterError, a transient failure: the record waits, retried, and
// Stuck says why.
func deadLetter(w messageWriter, group string, log *slog.Logger) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, m kafka.Message) error {
			err := next(ctx, m)
			switch {
			case err == nil || !IsPermanent(err):
				return err
			case w == nil:
				return deadLetterError{events.DLQ(m.Topic), fmt.Errorf("no dead-letter writer for %w", err)}
			}
			if dlqErr := writeDeadLetter(ctx, w, log, m, dlqCopy(m, err, group)); dlqErr != nil {
				return dlqErr
			}
			return deadLettered{cause: err}
		}
	}
}

// writeDeadLetter writes whole, the dead-letter copy of m. A copy the broker
// refuses as too large — a record near the topic's max.message.bytes is,
// once the headers are added — is never tried again as it is: smaller copies
// follow, the value cut to fit (see truncatedCopy), so the partition moves
// on and the copy still names where the whole record lies. Only when even a
// copy without its value is refused (a dead-letter topic that takes no
// record at all) does it return the error.
func writeDeadLetter(ctx context.Context, w messageWriter, log *slog.Logger, m, whole kafka.Message) error {
	topic := whole.Topic
	switch err := w.WriteMessages(ctx, whole); {
	case err == nil:
		return nil
	case !tooLarge(err):
		return deadLetterError{topic, err}
	}
	// The source topic took the record, so a copy no larger than it fits
	// a dead-letter topic with the same limit; one with a smaller limit
	// gets halves until a copy fits. The slack covers the framing of the
	// added headers.
	empty := truncatedCopy(whole, m, 0)
	keep := min(len(m.Value), recordSize(m)-recordSize(empty)-16*len(empty.Headers))
	for {
		keep = max(keep, 0)
		cut := truncatedCopy(whole, m, keep)
		err := w.WriteMessages(ctx, cut)
		if err == nil {
			log.Error("record dead-lettered truncated", "dlq", topic, "topic", m.Topic, "partition", m.Partition,
				"offset", m.Offset, "key", string(m.Key), "valueBytes", len(m.Value), "keptBytes", len(cut.Value))
			return nil
		}
		if !tooLarge(err) || keep == 0 {
			return deadLetterError{topic, err}
		}
		keep /= 2
	}
}

// dlqCopy is m as its dead-letter topic gets it: the original key, value
// and headers, and the cause and origin in dlq.* headers.
func dlqCopy(m kafka.Message, cause error, group string) kafka.Message {
	return kafka.Message{
		Topic: events.DLQ(m.Topic),
		Key:   m.Key,
		Value: m.Value,
		Time:  time.Now(), // when it was set aside
		Headers: append(append([]kafka.Header(nil), m.Headers...),
			kafka.Header{Key: events.HeaderDLQError, Value: []byte(cause.Error())},
			kafka.Header{Key: events.HeaderDLQSourceTopic, Value: []byte(m.Topic)},
			kafka.Header{Key: events.HeaderDLQSourcePartition, Value: []byte(strconv.Itoa(m.Partition))},
			kafka.Header{Key: events.HeaderDLQSourceOffset, Value: []byte(strconv.FormatInt(m.Offset, 10))},
			kafka.Header{Key: events.HeaderDLQConsumerGroup, Value: []byte(group)},
		),
	}
}

// maxDLQErrorBytes bounds the cause a truncated copy carries: an error
// message can quote the value it refused.
const maxDLQErrorBytes = 1024

// truncatedCopy is whole, the dead-letter copy of m, with m's value cut to
// at most keep bytes (between UTF-8 characters, so the copy stays
// readable), the cause cut to maxDLQErrorBytes, and headers saying it was
// truncated and how large the value was.
func truncatedCopy(whole, m kafka.Message, keep int) kafka.Message {
	cut := whole
	cut.Value = m.Value[:utf8Floor(m.Value, min(keep, len(m.Value)))]
	cut.Headers = make([]kafka.Header, 0, len(whole.Headers)+2)
	for _, h := range whole.Headers {
		if h.Key == events.HeaderDLQError && len(h.Value) > maxDLQErrorBytes {
			n := utf8Floor(h.Value, maxDLQErrorBytes-len("…"))
			h.Value = append(h.Value[:n:n], "…"...) // a copy: the whole copy's header stays as it was
		}
		cut.Headers = append(cut.Headers, h)
	}
	cut.Headers = append(cut.Headers,
		kafka.Header{Key: events.HeaderDLQTruncated, Value: []byte("true")},
		kafka.Header{Key: events.HeaderDLQOriginalSize, Value: []byte(strconv.Itoa(len(m.Value)))})
	return cut
}

// utf8Floor is the largest n' <= n at which b can be cut without splitting
// a UTF-8 character (n itself for bytes that are not UTF-8 text).
func utf8Floor(b []byte, n int) int {
	for i := n; i > 0 && i > n-utf8.UTFMax; i-- {
		if i == len(b) || utf8.RuneStart(b[i]) {
			return i
		}
	}
	return n
}

// recordSize is what a record weighs against a broker's size limit, less
// the framing: its key, value and headers.
func recordSize(m kafka.Message) int {
	n := len(m.Key) + len(m.Value)
	for _, h := range m.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}

// tooLarge reports whether the broker refused a produce for its size.
func tooLarge(err error) bool {
	return errors.Is(err, kafka.MessageSizeTooLarge) || errors.Is(err, kafka.RecordListTooLarge)
}
