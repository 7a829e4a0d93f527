package main

import (
	"bytes"
	"context"
	"maps"
	"strings"
	"testing"

	"github.com/kafkakit/kit/harness"
)

func TestUpInstances(t *testing.T) {
	for _, tc := range []struct {
		scale   int
		list    string
		want    map[string]int
		wantErr string
	}{
		{scale: 1, want: map[string]int{"orders-api": 1, "orders-processor": 1, "notifications-api": 1, "stock-service": 1}},
		{scale: 2, want: map[string]int{"orders-api": 2, "orders-processor": 2, "notifications-api": 2, "stock-service": 2}},
		{scale: 2, list: "orders-processor=3,stock-service=1",
			want: map[string]int{"orders-api": 2, "orders-processor": 3, "notifications-api": 2, "stock-service": 1}},
		{scale: 0, wantErr: "-scale 0: want 1 to 9"},
		{scale: 10, wantErr: "-scale 10: want 1 to 9"},
		{scale: 1, list: "orders-processor=many", wantErr: `-instances: instances "orders-processor=many": "many" is not a whole number`},
		{scale: 1, list: "kafka=3", wantErr: `"kafka": no such service`},
	} {
		got, err := upInstances(tc.scale, tc.list)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("upInstances(%d, %q) = %v, %v; want an error containing %q", tc.scale, tc.list, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !maps.Equal(got, tc.want) {
			t.Errorf("upInstances(%d, %q) = %v, %v; want %v", tc.scale, tc.list, got, err, tc.want)
		}
	}
}

// TestUpRefusesBadInstancesBeforeStarting: a bad -instances or -scale is an
// error naming the flag, before any port is checked or process started.
func TestUpRefusesBadInstancesBeforeStarting(t *testing.T) {
	for _, args := range [][]string{
		{"up", "-instances", "orders-processor=0"},
		{"up", "-instances", "orders-processor"},
		{"up", "-scale", "0"},
	} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), args, func(string) string { return "" }, &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), args[1]) {
			t.Errorf("run(%q) = %v, want an error naming %s", args, err, args[1])
		}
		if strings.Contains(stdout.String(), "starting") {
			t.Errorf("run(%q) started something: %s", args, stdout.String())
		}
	}
}

func TestSQLiteWarning(t *testing.T) {
	for _, tc := range []struct {
		opts harness.Options
		want string // "" for no warning
	}{
		{harness.Options{Instances: map[string]int{"orders-processor": 3}}, ""},
		{harness.Options{Instances: map[string]int{"stock-service": 2, "orders-api": 2}}, "orders-api (2), stock-service (2) on SQLite"},
		{harness.Options{DB: "postgres", Instances: map[string]int{"stock-service": 2}}, ""},
	} {
		var w bytes.Buffer
		sqliteWarning(&w, tc.opts)
		if (tc.want == "") != (w.Len() == 0) || !strings.Contains(w.String(), tc.want) {
			t.Errorf("sqliteWarning(%v) = %q, want %q", tc.opts.Instances, w.String(), tc.want)
		}
	}
}

// TestUpPrometheusNeedsTheBinary: -prometheus (or PROMETHEUS=1) without a
// prometheus binary fails with one line saying how to install it, before
// anything starts.
func TestUpPrometheusNeedsTheBinary(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	for _, tc := range []struct {
		args []string
		env  map[string]string
	}{
		{[]string{"up", "-prometheus"}, nil},
		{[]string{"up"}, map[string]string{"PROMETHEUS": "1"}},
	} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), tc.args, func(k string) string { return tc.env[k] }, &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), "make setup-prometheus") {
			t.Errorf("run(%q, %v) = %v, want an error saying to run make setup-prometheus", tc.args, tc.env, err)
		}
		if strings.Contains(stdout.String(), "starting") {
			t.Errorf("run(%q) started something: %s", tc.args, stdout.String())
		}
	}
}
