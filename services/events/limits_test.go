package events

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestShorten(t *testing.T) {
	tests := []struct {
		name, s string
		wantCut bool
	}{
		{"a short reason is kept", "out of stock: A has 0 left, the order asks for 1", false},
		{"exactly the bound is kept", strings.Repeat("a", MaxReasonBytes), false},
		{"one byte over is cut", strings.Repeat("a", MaxReasonBytes+1), true},
		{"a multi-byte rune across the bound is cut whole", strings.Repeat("a", MaxReasonBytes-4) + strings.Repeat("€", 10), true},
		{"a long reason is cut", strings.Repeat("é", 10*MaxReasonBytes), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Shorten(tt.s, MaxReasonBytes)
			if len(got) > MaxReasonBytes || !utf8.ValidString(got) {
				t.Errorf("got %d bytes (valid UTF-8 %v), want at most %d of valid UTF-8", len(got), utf8.ValidString(got), MaxReasonBytes)
			}
			if cut := got != tt.s; cut != tt.wantCut {
				t.Errorf("cut = %v, want %v", cut, tt.wantCut)
			}
			if tt.wantCut && (!strings.HasSuffix(got, "…") || !strings.HasPrefix(tt.s, strings.TrimSuffix(got, "…"))) {
				t.Errorf("got %q, want a prefix of the input ending in …", got)
			}
		})
	}
}
