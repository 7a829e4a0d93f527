package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/kafkakit/kit/services/platform/metrics"
)

// metricsContract are the metrics every service exposes on /metrics, as
// the services' metrics package defines them (namespace kafkakit_, labels
// of low cardinality). The rules and the dashboard may use these and
// nothing else.
var metricsContract = metrics.Contract

// targetLabels are the labels Prometheus adds to every scraped series.
var targetLabels = []string{"job", "instance"}

// ruleFile is the Prometheus rule file format, as far as the kit uses it.
type ruleFile struct {
	Groups []struct {
		Name     string `json:"name"`
		Interval string `json:"interval,omitempty"`
		Rules    []struct {
			Record string            `json:"record"`
			Expr   string            `json:"expr"`
			Labels map[string]string `json:"labels,omitempty"`
		} `json:"rules"`
	} `json:"groups"`
}

// recordingRule is one rule of rules.yml with its name taken apart
// (level:metric:operations).
type recordingRule struct {
	record, expr       string
	level, metric, ops string
	labels             []string // the labels its series keep: the level's
}

var (
	recordName  = regexp.MustCompile(`^([a-z_]+):([a-z0-9_]+):([a-z0-9_]+)$`)
	byClause    = regexp.MustCompile(`\bby\s*\(([^)]*)\)`)
	metricRef   = regexp.MustCompile(`\bkafkakit_[a-z0-9_]+`)
	recordedRef = regexp.MustCompile(`\b[a-z_]+:kafkakit_[a-z0-9_]+:[a-z0-9_]+\b`)
	legendLabel = regexp.MustCompile(`\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}`)
	rangeWindow = regexp.MustCompile(`\[([0-9]+[smhd])\]`)
	quantileArg = regexp.MustCompile(`histogram_quantile\(\s*0\.([0-9]+)\s*,`)
)

func loadRules(t *testing.T) []recordingRule {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("prometheus", "rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var f ruleFile
	if err := unmarshalStrict(raw, &f); err != nil {
		t.Fatalf("prometheus/rules.yml: %v", err)
	}
	var out []recordingRule
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			rr := recordingRule{record: r.Record, expr: r.Expr}
			if m := recordName.FindStringSubmatch(r.Record); m != nil {
				rr.level, rr.metric, rr.ops = m[1], m[2], m[3]
				rr.labels = strings.Split(rr.level, "_")
			}
			out = append(out, rr)
		}
	}
	if len(out) == 0 {
		t.Fatal("prometheus/rules.yml records nothing")
	}
	return out
}

// Every recording rule reads one contract metric the way its type allows,
// keeps only labels that metric has, and is named level:metric:operations
// after what it keeps and does.
func TestRecordingRulesFollowTheMetricsContract(t *testing.T) {
	used := map[string]bool{}
	seen := map[string]bool{}
	for _, r := range loadRules(t) {
		if seen[r.record] {
			t.Errorf("%s is recorded twice", r.record)
		}
		seen[r.record] = true
		if r.level == "" {
			t.Errorf("record %q: want level:metric:operations (e.g. topic:kafkakit_messages_produced:rate1m)", r.record)
			continue
		}
		refs := slices.Compact(slices.Sorted(slices.Values(metricRef.FindAllString(r.expr, -1))))
		if len(refs) != 1 {
			t.Errorf("%s reads %v; want exactly one metric", r.record, refs)
			continue
		}
		ref := refs[0]
		found := false
		for _, m := range metricsContract {
			switch {
			case m.Kind == metrics.Histogram && ref == m.Name+"_bucket":
			case m.Kind != metrics.Histogram && ref == m.Name:
			default:
				continue
			}
			found = true
			used[m.Name] = true
			allowed := append(slices.Clone(m.Labels), targetLabels...)
			if m.Kind == metrics.Histogram {
				allowed = append(allowed, "le")
			}
			by := byClause.FindStringSubmatch(r.expr)
			if by == nil {
				t.Errorf("%s: %q aggregates without by (…); want the labels it keeps named", r.record, r.expr)
				break
			}
			var kept []string
			for _, l := range strings.Split(by[1], ",") {
				l = strings.TrimSpace(l)
				if !slices.Contains(allowed, l) {
					t.Errorf("%s: by (%s): %s has no label %q (has %v)", r.record, by[1], m.Name, l, allowed)
				}
				if l != "le" {
					kept = append(kept, l)
				}
			}
			if got := strings.Join(kept, "_"); got != r.level {
				t.Errorf("%s: level %q; want %q, the labels it keeps", r.record, r.level, got)
			}
			if want := strings.TrimSuffix(m.Name, "_total"); r.metric != want {
				t.Errorf("%s: metric part %q; want %q", r.record, r.metric, want)
			}
			checkOperations(t, r, string(m.Kind), ref)
		}
		if !found {
			t.Errorf("%s reads %s, which is not in the metrics contract (or is used against its type)", r.record, ref)
		}
	}
	for _, m := range metricsContract {
		if !used[m.Name] {
			t.Errorf("no recording rule reads %s; the dashboard would not show it", m.Name)
		}
	}
}

// checkOperations checks that a rule's operations part says what its
// expression does, and that counters are only rated and histograms only
// turned into quantiles.
func checkOperations(t *testing.T, r recordingRule, kind, ref string) {
	t.Helper()
	window := ""
	if m := rangeWindow.FindStringSubmatch(r.expr); m != nil {
		window = m[1]
	}
	switch kind {
	case "counter":
		if !strings.Contains(r.expr, "rate("+ref+"[") {
			t.Errorf("%s: counter %s outside rate(); its raw value only ever grows", r.record, ref)
		}
		if want := "rate" + window; r.ops != want {
			t.Errorf("%s: operations %q; want %q", r.record, r.ops, want)
		}
	case "histogram":
		q := quantileArg.FindStringSubmatch(r.expr)
		if q == nil || !strings.Contains(r.expr, "rate("+ref+"[") {
			t.Errorf("%s: histogram %s not as histogram_quantile(…, rate(…_bucket[…]))", r.record, ref)
			return
		}
		if want := "p" + q[1] + "_" + window; r.ops != want {
			t.Errorf("%s: operations %q; want %q", r.record, r.ops, want)
		}
	case "gauge":
		agg, _, _ := strings.Cut(strings.TrimSpace(r.expr), " ")
		if r.ops != agg {
			t.Errorf("%s: operations %q; want %q, its aggregation", r.record, r.ops, agg)
		}
	}
}

// dashboard is the part of Grafana's dashboard JSON the kit writes. Decoding
// refuses other fields, so a misspelt key fails here rather than being
// ignored by Grafana.
type dashboard struct {
	UID           string         `json:"uid"`
	Title         string         `json:"title"`
	Description   string         `json:"description"`
	Tags          []string       `json:"tags"`
	Timezone      string         `json:"timezone"`
	Editable      bool           `json:"editable"`
	GraphTooltip  int            `json:"graphTooltip"`
	Refresh       string         `json:"refresh"`
	SchemaVersion int            `json:"schemaVersion"`
	Version       int            `json:"version"`
	Time          map[string]any `json:"time"`
	Templating    map[string]any `json:"templating"`
	Annotations   map[string]any `json:"annotations"`
	Panels        []panel        `json:"panels"`
}

type panel struct {
	ID          int            `json:"id"`
	Type        string         `json:"type"`
	Title       string         `json:"title"`
	Description string         `json:"description"`
	Collapsed   bool           `json:"collapsed"`
	Datasource  *datasourceRef `json:"datasource"`
	GridPos     struct {
		H int `json:"h"`
		W int `json:"w"`
		X int `json:"x"`
		Y int `json:"y"`
	} `json:"gridPos"`
	Targets []struct {
		RefID        string         `json:"refId"`
		Datasource   *datasourceRef `json:"datasource"`
		Expr         string         `json:"expr"`
		LegendFormat string         `json:"legendFormat"`
	} `json:"targets"`
	FieldConfig map[string]any `json:"fieldConfig"`
	Options     map[string]any `json:"options"`
	Panels      []panel        `json:"panels"`
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// provisionedDatasource is the datasource Grafana is given.
func provisionedDatasource(t *testing.T) datasourceRef {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("grafana", "provisioning", "datasources", "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		APIVersion  int `json:"apiVersion"`
		Datasources []struct {
			Name      string         `json:"name"`
			UID       string         `json:"uid"`
			Type      string         `json:"type"`
			Access    string         `json:"access"`
			URL       string         `json:"url"`
			IsDefault bool           `json:"isDefault"`
			Editable  bool           `json:"editable"`
			JSONData  map[string]any `json:"jsonData"`
		} `json:"datasources"`
	}
	if err := unmarshalStrict(raw, &f); err != nil {
		t.Fatalf("grafana datasource provisioning: %v", err)
	}
	if len(f.Datasources) != 1 || f.Datasources[0].Type != "prometheus" || f.Datasources[0].UID == "" {
		t.Fatalf("grafana datasources %+v; want one prometheus datasource with a uid", f.Datasources)
	}
	return datasourceRef{Type: "prometheus", UID: f.Datasources[0].UID}
}

// The dashboard plots every recording rule, through the provisioned
// datasource, with legends made of labels its series have.
func TestDashboardPlotsTheRecordedSeries(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("grafana", "dashboards", "kafkakit.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	// JSON is YAML: the same strict, case-sensitive decoding as the manifests.
	if err := unmarshalStrict(raw, &d); err != nil {
		t.Fatalf("grafana/dashboards/kafkakit.json: %v", err)
	}
	if d.UID == "" || d.Title == "" {
		t.Errorf("dashboard uid %q title %q; want both", d.UID, d.Title)
	}
	ds := provisionedDatasource(t)
	rules := map[string]recordingRule{}
	for _, r := range loadRules(t) {
		rules[r.record] = r
	}
	plotted := map[string]bool{}
	ids := map[int]bool{}
	var walk func([]panel)
	walk = func(panels []panel) {
		for _, p := range panels {
			if ids[p.ID] {
				t.Errorf("panel %q: id %d is taken", p.Title, p.ID)
			}
			ids[p.ID] = true
			if p.GridPos.W < 1 || p.GridPos.X < 0 || p.GridPos.X+p.GridPos.W > 24 {
				t.Errorf("panel %q: gridPos %+v outside Grafana's 24 columns", p.Title, p.GridPos)
			}
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q: no query", p.Title)
			}
			for _, ref := range append([]*datasourceRef{p.Datasource}, func() []*datasourceRef {
				var out []*datasourceRef
				for _, tg := range p.Targets {
					out = append(out, tg.Datasource)
				}
				return out
			}()...) {
				if ref == nil || *ref != ds {
					t.Errorf("panel %q: datasource %+v; want the provisioned %+v", p.Title, ref, ds)
				}
			}
			for _, tg := range p.Targets {
				recorded := recordedRef.FindAllString(tg.Expr, -1)
				if len(recorded) == 0 {
					t.Errorf("panel %q: %q plots no recorded series; the dashboard reads rules.yml's", p.Title, tg.Expr)
				}
				var have []string
				for _, name := range recorded {
					r, ok := rules[name]
					if !ok {
						t.Errorf("panel %q: %s is not recorded by prometheus/rules.yml", p.Title, name)
						continue
					}
					plotted[name] = true
					have = append(have, r.labels...)
				}
				for _, m := range legendLabel.FindAllStringSubmatch(tg.LegendFormat, -1) {
					if !slices.Contains(have, m[1]) {
						t.Errorf("panel %q: legend {{%s}}, but %v keeps only %v", p.Title, m[1], recorded, have)
					}
				}
			}
		}
	}
	walk(d.Panels)
	for name := range rules {
		if !plotted[name] {
			t.Errorf("recording rule %s is on no panel", name)
		}
	}
}

// promtool validates the configuration and runs the rules' unit tests
// (rules.test.yml) when it is installed (Debian's prometheus package).
func TestPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skipf("SKIP promtool not on PATH: prometheus.yml and rules.yml are checked by the other tests only (apt-get install prometheus brings promtool)")
	}
	// Read what promtool will, so that `go test` reruns this test when one
	// of them changes: it does not see what a child process opens.
	for _, f := range []string{"prometheus.yml", "rules.yml", "rules.test.yml"} {
		if _, err := os.ReadFile(filepath.Join("prometheus", f)); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{
		{"check", "config", "prometheus.yml"},
		{"check", "rules", "rules.yml"},
		{"test", "rules", "rules.test.yml"},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = "prometheus"
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}
