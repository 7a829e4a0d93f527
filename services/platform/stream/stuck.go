package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"
)

// Stuck is a readiness check: nil unless a record has kept failing for
// longer than StuckAfter, or its partition's uncommitted window filled up
// behind it. The error names topic, partition, offset, how long and the
// kind of failure, e.g. "orders.created/1 at offset 42: retrying for 1m3s:
// database is locked (SQLITE_BUSY)" — never the record's key or value nor
// the handler's own words, which name the record (see failureKind); the
// whole error is in the log.
func (c *Consumer) Stuck(context.Context) error {
	g := c.currentGen()
	if g == nil {
		return nil
	}
	if problems := g.stuck(time.Now()); len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// failureKind describes err for a readiness body by the kind of failure
// its type says it is, in fixed words: a handler's error text names the
// record it failed on (an order id, a SKU), a readiness body is open to
// anyone who reaches the port, and an order id unlocks that order's
// /events. Operators read the whole error in the log.
func failureKind(err error) string {
	var dl deadLetterError
	if errors.As(err, &dl) {
		return "dead-lettering failed: " + failureKind(dl.err)
	}
	var (
		ke    kafka.Error
		state interface{ SQLState() string } // PostgreSQL's (pgconn.PgError)
		coded interface{ Code() int }
		errno syscall.Errno
		netE  net.Error
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded): // before net.Error, which it satisfies
		return "timed out"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.As(err, &ke): // before net.Error, which it satisfies too
		return "broker: " + ke.Title()
	case errors.As(err, &state):
		// The code only: a message can quote the value it refused.
		return "database error (SQLSTATE " + state.SQLState() + ")"
	case errors.As(err, &coded) && fmt.Sprintf("%T", coded) == "*sqlite.Error":
		// Known by name rather than imported: the SQLite driver is large,
		// and a consumer without a database (orders-processor) would carry it.
		return sqliteKind(coded.Code())
	case errors.As(err, &errno):
		return errno.Error() // the C library's fixed words: "connection refused"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed"
	case errors.As(err, &netE):
		if netE.Timeout() {
			return "network timeout"
		}
		return "network error"
	}
	return "the handler failed (the error is in the service log)"
}

// sqliteKind names an SQLite result code in sqlite3_errstr's words.
func sqliteKind(code int) string {
	switch code & 0xff { // the primary result code
	case 5:
		return "database is locked (SQLITE_BUSY)"
	case 6:
		return "database table is locked (SQLITE_LOCKED)"
	case 8:
		return "attempt to write a readonly database (SQLITE_READONLY)"
	case 10:
		return "disk I/O error (SQLITE_IOERR)"
	case 11:
		return "database disk image is malformed (SQLITE_CORRUPT)"
	case 13:
		return "database or disk is full (SQLITE_FULL)"
	case 14:
		return "unable to open database file (SQLITE_CANTOPEN)"
	}
	return fmt.Sprintf("database error (SQLite result code %d)", code)
}

// failing and settled keep the records failing transiently in their
// partition's bookkeeping, for Stuck (retry's failures).
func (g *genRun) failing(m kafka.Message, f failure) {
	g.mu.Lock()
	g.parts[topicPartition{m.Topic, m.Partition}].failing[m.Offset] = f
	g.mu.Unlock()
}

func (g *genRun) settled(m kafka.Message) {
	g.mu.Lock()
	delete(g.parts[topicPartition{m.Topic, m.Partition}].failing, m.Offset)
	g.mu.Unlock()
}

// stuck names each partition whose oldest failing record has failed for
// longer than StuckAfter, or whose window is full behind a failing record.
func (g *genRun) stuck(now time.Time) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var problems []string
	for _, p := range g.sortedPartsLocked() {
		if p.denied != "" {
			// A refusal is no outage that passes: reported at once.
			problems = append(problems, fmt.Sprintf("%s/%d: fetch refused: %s (nothing fetched, nothing committed)",
				p.tp.topic, p.tp.partition, p.denied))
		}
		if len(p.failing) == 0 {
			continue
		}
		oldest := int64(-1)
		for off := range p.failing {
			if oldest < 0 || off < oldest {
				oldest = off
			}
		}
		f := p.failing[oldest]
		full := len(p.pending) >= g.c.cfg.MaxUncommitted
		if now.Sub(f.since) < g.c.cfg.StuckAfter && !full {
			continue
		}
		s := fmt.Sprintf("%s/%d at offset %d: retrying for %s: %s", p.tp.topic, p.tp.partition, oldest,
			roundDuration(now.Sub(f.since)), failureKind(f.err))
		if n := len(p.failing) - 1; n > 0 {
			s += fmt.Sprintf(" (and %d more failing records)", n)
		}
		if full {
			s += fmt.Sprintf(" (window of %d uncommitted records full: fetching paused)", g.c.cfg.MaxUncommitted)
		}
		problems = append(problems, s)
	}
	return problems
}

// noteDenied records whether p's fetch is refused by an ACL: nothing of
// it is fetched, so nothing is committed, and Stuck says which grant is
// missing.
func (g *genRun) noteDenied(p *partition, denied string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	p.denied = denied
}

// tracked counts the entries of p's bookkeeping: the window, and the
// finished and failing records within it.
func (g *genRun) tracked(tp topicPartition) (pending, done, failing int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	p := g.parts[tp]
	return len(p.pending), len(p.done), len(p.failing)
}
