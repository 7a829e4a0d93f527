// Package sse reads a text/event-stream as a browser's EventSource does: ids,
// event types, multi-line data and comments, one event at a time, without
// buffering the stream.
package sse

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// Event is one dispatched server-sent event.
type Event struct {
	// ID is the last event id seen on the stream, as EventSource keeps it.
	ID []byte
	// Type is the event field, "message" when the event named none.
	Type string
	// Data is the event's data lines joined by "\n".
	Data []byte
}

// Reader parses events from a stream in place: one buffer per stream, no
// allocation per event once the buffers have grown to the stream's event
// size (a load runner reads every order's stream). ID and Data of a
// returned Event are only valid until the next call to Next; copy them to
// keep them.
type Reader struct {
	br       *bufio.Reader
	lastID   []byte
	typ      string
	data     []byte
	hasData  bool
	line     []byte
	comments int
}

// NewReader returns a Reader over r with a read buffer of size bytes (4096
// when size <= 0).
func NewReader(r io.Reader, size int) *Reader {
	if size <= 0 {
		size = 4096
	}
	return &Reader{br: bufio.NewReaderSize(r, size)}
}

// Reset makes r read a new stream from src, keeping its buffers: a runner
// that follows thousands of streams one after another reuses its readers.
func (r *Reader) Reset(src io.Reader) {
	r.br.Reset(src)
	r.lastID, r.typ, r.data, r.hasData, r.line, r.comments = r.lastID[:0], "", r.data[:0], false, r.line[:0], 0
}

// Comments is the number of comment lines (heartbeats) read so far.
func (r *Reader) Comments() int { return r.comments }

// Next returns the next event. It returns io.EOF when the stream ends; an
// event not terminated by a blank line before the end is discarded, as the
// specification requires.
func (r *Reader) Next() (Event, error) {
	for {
		line, err := r.readLine()
		if err != nil {
			return Event{}, err
		}
		if len(line) == 0 {
			if !r.hasData {
				r.typ = ""
				continue
			}
			ev := Event{ID: r.lastID, Type: r.typ, Data: r.data}
			if ev.Type == "" {
				ev.Type = "message"
			}
			if n := len(ev.Data); n > 0 && ev.Data[n-1] == '\n' {
				ev.Data = ev.Data[:n-1]
			}
			r.data = r.data[:0]
			r.hasData = false
			r.typ = ""
			return ev, nil
		}
		r.field(line)
	}
}

// readLine returns one line without its terminator (LF or CRLF). The slice is
// valid until the next call. A last line without a terminator is dropped with
// the io.EOF: no blank line can follow it to dispatch anything.
func (r *Reader) readLine() ([]byte, error) {
	b, err := r.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		r.line = append(r.line[:0], b...)
		for errors.Is(err, bufio.ErrBufferFull) {
			b, err = r.br.ReadSlice('\n')
			r.line = append(r.line, b...)
		}
		b = r.line
	}
	if err != nil {
		return nil, err
	}
	b = b[:len(b)-1]
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b, nil
}

var (
	fieldData  = []byte("data")
	fieldEvent = []byte("event")
	fieldID    = []byte("id")
)

func (r *Reader) field(line []byte) {
	if line[0] == ':' {
		r.comments++
		return
	}
	name, value := line, []byte(nil)
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		name, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch {
	case bytes.Equal(name, fieldData):
		r.data = append(r.data, value...)
		r.data = append(r.data, '\n')
		r.hasData = true
	case bytes.Equal(name, fieldEvent):
		r.typ = eventType(value)
	case bytes.Equal(name, fieldID):
		if bytes.IndexByte(value, 0) < 0 {
			r.lastID = append(r.lastID[:0], value...)
		}
	}
	// retry and unknown fields are ignored: the runner never reconnects.
}

// knownTypes are the event types the kit sends: naming one allocates nothing.
var knownTypes = []string{"status", "unknown", "record", "message"}

func eventType(value []byte) string {
	for _, t := range knownTypes {
		if string(value) == t { // compiled without a conversion
			return t
		}
	}
	return string(value)
}
