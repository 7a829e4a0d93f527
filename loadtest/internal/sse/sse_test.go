package sse

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

type gotEvent struct {
	ID, Type, Data string
}

func readAll(t *testing.T, stream string, size int) ([]gotEvent, int) {
	t.Helper()
	r := NewReader(strings.NewReader(stream), size)
	var got []gotEvent
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			return got, r.Comments()
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		got = append(got, gotEvent{string(ev.ID), ev.Type, string(ev.Data)})
	}
}

func TestReader(t *testing.T) {
	tests := []struct {
		name         string
		stream       string
		size         int
		want         []gotEvent
		wantComments int
	}{
		{
			name:   "status event as notifications-api sends it",
			stream: "id: 1\nevent: status\ndata: {\"status\":\"CREATED\"}\n\n",
			want:   []gotEvent{{"1", "status", `{"status":"CREATED"}`}},
		},
		{
			name:   "history then live, ids carried",
			stream: "id: 1\nevent: status\ndata: a\n\nid: 2\nevent: status\ndata: b\n\n",
			want:   []gotEvent{{"1", "status", "a"}, {"2", "status", "b"}},
		},
		{
			name:   "event without type is a message and keeps the last id",
			stream: "id: 7\ndata: x\n\ndata: y\n\n",
			want:   []gotEvent{{"7", "message", "x"}, {"7", "message", "y"}},
		},
		{
			name:   "multi-line data is joined by newlines",
			stream: "data: one\ndata: two\ndata:three\n\n",
			want:   []gotEvent{{"", "message", "one\ntwo\nthree"}},
		},
		{
			name:         "heartbeat comments are counted, not dispatched",
			stream:       ": ping\n\n:\n\ndata: z\n\n: ping\n",
			want:         []gotEvent{{"", "message", "z"}},
			wantComments: 3,
		},
		{
			name:   "CRLF line endings",
			stream: "id: 3\r\nevent: status\r\ndata: crlf\r\n\r\n",
			want:   []gotEvent{{"3", "status", "crlf"}},
		},
		{
			name:   "event type without data is not dispatched and does not leak",
			stream: "event: status\n\ndata: d\n\n",
			want:   []gotEvent{{"", "message", "d"}},
		},
		{
			name:   "unterminated last event is discarded",
			stream: "data: done\n\ndata: partial\n",
			want:   []gotEvent{{"", "message", "done"}},
		},
		{
			name:   "only the first space after the colon is stripped",
			stream: "data:  two spaces\n\n",
			want:   []gotEvent{{"", "message", " two spaces"}},
		},
		{
			name:   "field without colon has an empty value",
			stream: "data\n\n",
			want:   []gotEvent{{"", "message", ""}},
		},
		{
			name:   "lines longer than the buffer",
			stream: "data: " + strings.Repeat("x", 100) + "\n\n",
			size:   16,
			want:   []gotEvent{{"", "message", strings.Repeat("x", 100)}},
		},
		{
			name:   "retry and unknown fields are ignored",
			stream: "retry: 100\nfoo: bar\ndata: k\n\n",
			want:   []gotEvent{{"", "message", "k"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, comments := readAll(t, tt.stream, tt.size)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("events: got %q, want %q", got, tt.want)
			}
			if comments != tt.wantComments {
				t.Errorf("comments: got %d, want %d", comments, tt.wantComments)
			}
		})
	}
}

// BenchmarkReader parses the stream of one order, as the runner does for every
// order it places.
func BenchmarkReader(b *testing.B) {
	one := "id: 1\nevent: status\ndata: {\"orderId\":\"0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0\",\"status\":\"CREATED\",\"updatedAt\":\"2025-01-01T00:00:00Z\"}\n\n" +
		": keep-alive\n\n" +
		"id: 2\nevent: status\ndata: {\"orderId\":\"0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0\",\"status\":\"PROCESSING\",\"updatedAt\":\"2025-01-01T00:00:00Z\"}\n\n" +
		"id: 3\nevent: status\ndata: {\"orderId\":\"0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0\",\"status\":\"PAID\",\"updatedAt\":\"2025-01-01T00:00:00Z\"}\n\n"
	src := strings.NewReader(one)
	b.SetBytes(int64(len(one)))
	b.ReportAllocs()
	for b.Loop() {
		src.Reset(one)
		r := NewReader(src, 0)
		for {
			if _, err := r.Next(); err != nil {
				break
			}
		}
	}
}
