package events

import (
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
)

func TestReadHistoryWantsVersionsFromOneWithoutGaps(t *testing.T) {
	file := &fstest.MapFile{Data: []byte(`{}`)}
	tests := []struct {
		name    string
		files   []string
		want    int    // versions read
		wantErr string // "" for none
	}{
		{name: "one version", files: []string{"v1.json"}, want: 1},
		{name: "versions sort by number, not by name", files: []string{"v1.json", "v2.json", "v10.json", "v3.json", "v4.json", "v5.json", "v6.json", "v7.json", "v8.json", "v9.json"}, want: 10},
		{name: "a gap", files: []string{"v1.json", "v3.json"}, wantErr: "v2.json is missing"},
		{name: "no v1", files: []string{"v2.json"}, wantErr: "v1.json is missing"},
		{name: "v0", files: []string{"v0.json", "v1.json"}, wantErr: `unexpected "v0.json"`},
		{name: "leading zero", files: []string{"v01.json"}, wantErr: `unexpected "v01.json"`},
		{name: "a stray file", files: []string{"v1.json", "notes.txt"}, wantErr: `unexpected "notes.txt"`},
		{name: "the schema's own name", files: []string{"orders.status.schema.json"}, wantErr: "unexpected"},
		{name: "empty", files: nil, wantErr: "no versions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{"h/s-value": &fstest.MapFile{Mode: fs.ModeDir | 0o755}} // the directory, even when empty
			for _, f := range tt.files {
				fsys["h/s-value/"+f] = file
			}
			got, err := readHistory(fsys, "h/s-value")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("readHistory(%v) error = %v, want one containing %q", tt.files, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("readHistory(%v): %v", tt.files, err)
			}
			if len(got) != tt.want {
				t.Fatalf("readHistory(%v) = %d versions, want %d", tt.files, len(got), tt.want)
			}
			for i, v := range got {
				if v.Version != i+1 {
					t.Errorf("version %d is numbered %d", i+1, v.Version)
				}
			}
		})
	}
}
