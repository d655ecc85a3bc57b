package dashboards

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/metricnames"
	"github.com/tcp-verdict/tcp_verdict_exporter/mixin"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// jsonPath is the generated dashboard, kept at the top-level dashboards/.
const jsonPath = "../../dashboards/" + File

var update = flag.Bool("update", false, "rewrite dashboards/"+File+" from the taxonomy")

// The file in this folder is the generator's output, byte for byte.
func TestDashboardIsCurrent(t *testing.T) {
	want := JSON(mixin.Default())
	got, err := os.ReadFile(jsonPath)
	if err == nil && bytes.Equal(got, want) {
		return
	}
	if *update {
		if err := os.WriteFile(jsonPath, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("dashboards/%s differs from its generator (or is missing: %v); run: go test ./mixin/dashboards -update", File, err)
}

// The file is JSON Grafana can import: unique panel ids, panels inside the
// 24-column grid, every query with a refId and the datasource variable,
// every panel described, and the template variables it uses defined.
func TestDashboardIsWellFormed(t *testing.T) {
	var d map[string]any
	if err := json.Unmarshal(JSON(mixin.Default()), &d); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	for _, k := range []string{"uid", "title", "panels", "templating", "schemaVersion"} {
		if _, ok := d[k]; !ok {
			t.Errorf("dashboard lacks %q", k)
		}
	}
	vars := map[string]bool{"__rate_interval": true, "__range": true, "__all": true}
	for _, v := range d["templating"].(map[string]any)["list"].([]any) {
		vars[v.(map[string]any)["name"].(string)] = true
	}
	for _, want := range []string{"datasource", "job", "instance", "module", "vantage"} {
		if !vars[want] {
			t.Errorf("template variable %s missing", want)
		}
	}
	used := regexp.MustCompile(`\$\{?(\w+)`)
	ids := map[float64]bool{}
	for _, p := range d["panels"].([]any) {
		p := p.(map[string]any)
		title, _ := p["title"].(string)
		id := p["id"].(float64)
		if ids[id] {
			t.Errorf("panel %q: id %v used twice", title, id)
		}
		ids[id] = true
		g := p["gridPos"].(map[string]any)
		if g["x"].(float64)+g["w"].(float64) > 24 || g["h"].(float64) < 1 {
			t.Errorf("panel %q: gridPos %v outside the grid", title, g)
		}
		if p["type"] == "row" {
			continue
		}
		if desc, _ := p["description"].(string); desc == "" {
			t.Errorf("panel %q has no description", title)
		}
		targets, _ := p["targets"].([]any)
		if len(targets) == 0 {
			t.Errorf("panel %q has no query", title)
		}
		for _, tg := range targets {
			tg := tg.(map[string]any)
			if tg["refId"] == "" || tg["datasource"].(map[string]any)["uid"] != "${datasource}" {
				t.Errorf("panel %q: query %v lacks a refId or the datasource variable", title, tg)
			}
			for _, m := range used.FindAllStringSubmatch(tg["expr"].(string), -1) {
				if !vars[m[1]] {
					t.Errorf("panel %q uses undefined variable $%s", title, m[1])
				}
			}
		}
	}
}

// Every query selects only metrics the exporter (or Prometheus itself)
// emits, found by running the collectors.
func TestDashboardQueriesEmittedMetrics(t *testing.T) {
	emitted, err := metricnames.All()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range Queries(mixin.Default()) {
		names := metricnames.InPromQL(q.Expr)
		if len(names) == 0 {
			t.Errorf("panel %q: no metric in %q", q.Panel, q.Expr)
		}
		for _, n := range names {
			if !emitted[n] {
				t.Errorf("panel %q queries %s, which neither the exporter nor Prometheus emits", q.Panel, n)
			}
		}
	}
}

// The path-trace panel shows the last hop's TTL, address and reason, from
// series /probe emits only when a trace ran. metricnames.Probe's result
// carries a trace, so TestDashboardQueriesEmittedMetrics checks this
// panel's queries too; this test keeps the panel and that coverage, and
// says in its description when the panel has data.
func TestDashboardShowsTheLastHop(t *testing.T) {
	probe, err := metricnames.Probe()
	if err != nil {
		t.Fatal(err)
	}
	panel := newBuilder(mixin.Default()).lastHop()
	var queried []string
	for _, q := range Queries(mixin.Default()) {
		if q.Panel == panel.Title {
			queried = append(queried, metricnames.InPromQL(q.Expr)...)
		}
	}
	for _, want := range []string{"tcp_trace_last_hop", "tcp_trace_last_hop_info"} {
		if !slices.Contains(queried, want) {
			t.Errorf("panel %q does not query %s (it queries %v)", panel.Title, want, queried)
		}
		if !slices.Contains(probe, want) {
			t.Errorf("metricnames.Probe() lacks %s: its result no longer carries a trace, so the emitted-metrics check misses panel %q", want, panel.Title)
		}
	}
	for _, want := range []string{"`tcp.trace` enabled", string(verdict.Firewall), string(verdict.Unreachable)} {
		if !strings.Contains(panel.Description, want) {
			t.Errorf("panel %q: description does not say %q (when the panel has data)", panel.Title, want)
		}
	}
}

// The taxonomy is the dashboard's: every class mapped, coloured and
// described with its meaning, every reason's meaning in the evidence table.
func TestDashboardFollowsTheTaxonomy(t *testing.T) {
	out := string(JSON(mixin.Default()))
	for _, c := range verdict.Classes {
		if c.Class.Colour().Grafana == "" {
			t.Errorf("class %s has no colour", c.Class)
		}
		if !strings.Contains(out, jsonText(c.Meaning)) {
			t.Errorf("class %s's meaning is not in any panel description", c.Class)
		}
	}
	for _, r := range verdict.Reasons {
		if !strings.Contains(out, jsonText(string(r.Reason)+": "+r.Meaning)) {
			t.Errorf("reason %s's meaning is not mapped in the evidence table", r.Reason)
		}
	}
	expr := newBuilder(mixin.Default()).classIndexExpr()
	for i, c := range verdict.Classes[1:] {
		if !strings.Contains(expr, fmt.Sprintf(`class=%q} * %d`, c.Class, i+1)) {
			t.Errorf("the timeline's expression does not give %s its index %d: %s", c.Class, i+1, expr)
		}
	}
}

func jsonText(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		panic(err) // a string always encodes
	}
	return strings.Trim(strings.TrimSpace(b.String()), `"`)
}

// A config with other job selectors puts them in every query and variable
// of the dashboard, and no default selector is left.
func TestConfigChangesTheQueries(t *testing.T) {
	cfg, err := mixin.Parse([]byte("probe_selector: 'job=\"blackbox_tcp\"'\nexporter_selector: 'job=\"tve\"'\n"))
	if err != nil {
		t.Fatal(err)
	}
	def := mixin.Default()
	for _, q := range Queries(cfg) {
		if strings.HasPrefix(q.Expr, "ALERTS{") {
			continue // Prometheus's own series of the rules' alerts
		}
		if !strings.Contains(q.Expr, `{job="blackbox_tcp"`) && !strings.Contains(q.Expr, `{job="tve"`) {
			t.Errorf("panel %q: no job selector of the config in %q", q.Panel, q.Expr)
		}
	}
	out := string(JSON(cfg))
	for _, sel := range []string{def.ProbeSelector, def.ExporterSelector} {
		if strings.Contains(out, jsonText(sel)) {
			t.Errorf("the default selector %s is left in the dashboard", sel)
		}
	}
	for _, v := range New(cfg).Templating.List[1:] {
		if !strings.Contains(v.Definition, `{job="blackbox_tcp"`) && !strings.Contains(v.Definition, `{job="tve"`) {
			t.Errorf("variable %s: no job selector of the config in %q", v.Name, v.Definition)
		}
	}
}

// The vantage matrix colours a cell by its class for every class: the cell
// value the query builds (class, reason, responder joined by
// MatrixSeparator) matches exactly its class's mapping.
func TestVantageMatrixMapsEveryClass(t *testing.T) {
	var matrix *Panel
	for _, p := range New(mixin.Default()).Panels {
		if p.Title == "Verdict now: target × vantage" {
			matrix = &p
		}
	}
	if matrix == nil {
		t.Fatal("no vantage matrix panel")
	}
	if !strings.Contains(matrix.Targets[0].Expr, "label_join(tcp_verdict_info{") {
		t.Errorf("matrix query %q does not build the cell value from tcp_verdict_info", matrix.Targets[0].Expr)
	}
	mappings := matrix.FieldConfig.Defaults["mappings"].([]map[string]any)
	for _, r := range verdict.Reasons {
		cell := strings.Join([]string{string(r.Class), string(r.Reason), "192.0.2.1"}, MatrixSeparator)
		var got []string
		for _, m := range mappings {
			o := m["options"].(map[string]any)
			if regexp.MustCompile(o["pattern"].(string)).MatchString(cell) {
				got = append(got, o["result"].(map[string]any)["text"].(string))
			}
		}
		if len(got) != 1 || got[0] != string(r.Class) {
			t.Errorf("cell %q maps to %v, want exactly [%s]", cell, got, r.Class)
		}
	}
}
