package deploy

import (
	"encoding/json"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// documentedMetrics reads METRICS.md: the metrics of the main table (name →
// its "present" column) and the derived series of recording rules.
func documentedMetrics(t *testing.T) (metrics map[string]string, derived map[string]bool) {
	t.Helper()
	b, err := os.ReadFile("METRICS.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("^\\| `(gwanje[_:][a-z0-9_:]+)` \\|(.*)$")
	metrics, derived = map[string]string{}, map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		m := row.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if strings.Contains(m[1], ":") {
			derived[m[1]] = true
			continue
		}
		cols := strings.Split(m[2], "|")
		if len(cols) < 5 {
			t.Fatalf("METRICS.md: row of %s has %d columns, want 6", m[1], len(cols)+1)
		}
		if _, dup := metrics[m[1]]; dup {
			t.Fatalf("METRICS.md: %s listed twice", m[1])
		}
		metrics[m[1]] = strings.TrimSpace(cols[3])
	}
	if len(metrics) < 40 || len(derived) == 0 {
		t.Fatalf("METRICS.md: only %d metrics and %d derived series found", len(metrics), len(derived))
	}
	return metrics, derived
}

// promParser is Prometheus's own PromQL parser, as its rule loader uses it.
var promParser = parser.NewParser(parser.Options{})

// metricNames returns the metric names an expression selects.
func metricNames(t *testing.T, where, expr string) []string {
	t.Helper()
	e, err := promParser.ParseExpr(expr)
	if err != nil {
		t.Fatalf("%s: %q does not parse: %v", where, expr, err)
	}
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			if vs.Name == "" {
				t.Errorf("%s: %q selects without a metric name", where, expr)
			}
			names = append(names, vs.Name)
		}
		return nil
	})
	return names
}

// checkNames fails for a name that is neither documented (a histogram's
// _bucket, _sum and _count series count as the histogram) nor a derived
// series nor Prometheus's own up.
func checkNames(t *testing.T, where string, names []string, metrics map[string]string, derived map[string]bool) {
	t.Helper()
	for _, n := range names {
		base := n
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(n, suf); ok {
				if _, doc := metrics[b]; doc {
					base = b
				}
			}
		}
		if _, ok := metrics[base]; ok || derived[n] || n == "up" {
			continue
		}
		t.Errorf("%s: metric %s is not in METRICS.md", where, n)
	}
}

// TestDashboardAndRules checks the alert and recording rules with
// Prometheus's own rule loader (what promtool check rules runs) and the
// dashboard's queries with its PromQL parser, and that both name only
// metrics METRICS.md lists (or the rules' own derived series).
func TestDashboardAndRules(t *testing.T) {
	metrics, derived := documentedMetrics(t)

	groups, errs := rulefmt.ParseFile("prometheus/rules.yml", false, model.UTF8Validation, promParser, slog.New(slog.DiscardHandler))
	for _, err := range errs {
		t.Errorf("rules: %v", err)
	}
	if groups == nil {
		t.FailNow()
	}
	alerts, records := map[string]bool{}, map[string]bool{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			where := "rules " + g.Name + "/" + r.Alert + r.Record
			checkNames(t, where, metricNames(t, where, r.Expr), metrics, derived)
			if r.Record != "" {
				records[r.Record] = true
			}
			if r.Alert != "" {
				alerts[r.Alert] = true
				if r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
					t.Errorf("%s: needs a severity label and a summary", where)
				}
			}
		}
	}
	for d := range derived {
		if !records[d] {
			t.Errorf("METRICS.md lists %s but no recording rule makes it", d)
		}
	}
	// What the issue asks the rules to watch.
	for _, a := range []string{"GwanjeCameraOffline", "GwanjeRecordingGap", "GwanjeStorageRunwayUnderAWeek",
		"GwanjeAuditOutboxLag", "GwanjeAuditCheckpointStale", "GwanjeFailedLoginsSpike"} {
		if !alerts[a] {
			t.Errorf("rules: no alert %s", a)
		}
	}

	b, err := os.ReadFile("grafana/gwanje.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID    string  `json:"uid"`
		Title  string  `json:"title"`
		Panels []panel `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	if dash.UID == "" || dash.Title == "" {
		t.Fatal("dashboard: no uid or title")
	}
	queries := 0
	rows := map[string]bool{}
	var walk func(ps []panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if p.Type == "row" {
				rows[p.Title] = true
			}
			for _, tg := range p.Targets {
				where := "dashboard panel " + p.Title
				checkNames(t, where, metricNames(t, where, tg.Expr), metrics, derived)
				queries++
			}
			walk(p.Panels)
		}
	}
	walk(dash.Panels)
	if queries < 20 {
		t.Errorf("dashboard: only %d queries", queries)
	}
	for _, r := range []string{"Cameras", "Recording", "Storage runway", "Viewers", "Audit and access"} {
		if !rows[r] {
			t.Errorf("dashboard: no row %q", r)
		}
	}
}

type panel struct {
	Type    string `json:"type"`
	Title   string `json:"title"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}
