// Package dashboards generates the Grafana dashboard that ships in the
// top-level dashboards/ folder from the verdict taxonomy: the classes' value mappings and colours,
// the reasons' meanings and the panels' descriptions all come from package
// verdict, so the dashboard never disagrees with the exporter; its job
// selectors come from the generator config (package mixin), which the alert
// rules read too.
//
// The one generator, mixin/cmd/generate, writes it to the top-level
// dashboards/ (the design card's name); regenerate after changing the
// taxonomy or this package:
//
//	go run ./mixin/cmd/generate
package dashboards

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tcp-verdict/tcp_verdict_exporter/mixin"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// File is the generated dashboard's name in the top-level dashboards/.
const File = "tcp_verdict.json"

// UID is the dashboard's stable Grafana UID.
const UID = "tcp-verdict"

// builder makes the panels of one config.
type builder struct {
	cfg mixin.Config
	// The config's selectors and the template variables. Probe panels filter by
	// all four; a probe series has a module label when the scrape config copies
	// __param_module into it (as README.md, "Scrape config", does), a vantage
	// label when the scrape config or the probing Prometheus's external_labels
	// give it one (docs/vantages.md, "Vantages: probing from several places"),
	// and `.*` also matches a missing label.
	probeSel, exporterSel string
}

func newBuilder(cfg mixin.Config) builder {
	return builder{cfg: cfg,
		probeSel:    cfg.Probe(`job=~"$job"`, `instance=~"$instance"`, `module=~"$module"`, `vantage=~"$vantage"`),
		exporterSel: cfg.ExporterSel(`module=~"$module"`),
	}
}

// Dashboard is the part of Grafana's dashboard model this file uses.
type Dashboard struct {
	UID           string      `json:"uid"`
	Title         string      `json:"title"`
	Description   string      `json:"description"`
	Tags          []string    `json:"tags"`
	Editable      bool        `json:"editable"`
	GraphTooltip  int         `json:"graphTooltip"`
	Refresh       string      `json:"refresh"`
	SchemaVersion int         `json:"schemaVersion"`
	Time          TimeRange   `json:"time"`
	Timezone      string      `json:"timezone"`
	Templating    Templating  `json:"templating"`
	Annotations   Annotations `json:"annotations"`
	Links         []Link      `json:"links"`
	Panels        []Panel     `json:"panels"`
	Version       int         `json:"version"`
}

// TimeRange is the dashboard's default time range.
type TimeRange struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Templating holds the template variables.
type Templating struct {
	List []Variable `json:"list"`
}

// Variable is one template variable.
type Variable struct {
	Name       string      `json:"name"`
	Label      string      `json:"label"`
	Type       string      `json:"type"`
	Query      any         `json:"query"`
	Datasource *Datasource `json:"datasource,omitempty"`
	Definition string      `json:"definition,omitempty"`
	Refresh    int         `json:"refresh,omitempty"`
	IncludeAll bool        `json:"includeAll"`
	Multi      bool        `json:"multi"`
	AllValue   string      `json:"allValue,omitempty"`
	Current    any         `json:"current"`
	Sort       int         `json:"sort,omitempty"`
	Hide       int         `json:"hide"`
}

// Annotations are the dashboard's annotation queries.
type Annotations struct {
	List []map[string]any `json:"list"`
}

// Link is a dashboard link.
type Link struct {
	Title string `json:"title"`
	Type  string `json:"type"`
	URL   string `json:"url"`
}

// Datasource names a data source (here the $datasource variable).
type Datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

var prometheusDS = &Datasource{Type: "prometheus", UID: "${datasource}"}

// Panel is one panel or row.
type Panel struct {
	ID              int              `json:"id"`
	Type            string           `json:"type"`
	Title           string           `json:"title"`
	Description     string           `json:"description,omitempty"`
	GridPos         GridPos          `json:"gridPos"`
	Datasource      *Datasource      `json:"datasource,omitempty"`
	Targets         []Target         `json:"targets,omitempty"`
	FieldConfig     *FieldConfig     `json:"fieldConfig,omitempty"`
	Options         map[string]any   `json:"options,omitempty"`
	Transformations []map[string]any `json:"transformations,omitempty"`
	Collapsed       *bool            `json:"collapsed,omitempty"`
	Panels          []Panel          `json:"panels,omitempty"` // rows only
}

// GridPos places a panel on the 24-column grid.
type GridPos struct {
	H int `json:"h"`
	W int `json:"w"`
	X int `json:"x"`
	Y int `json:"y"`
}

// Target is one PromQL query of a panel.
type Target struct {
	RefID        string      `json:"refId"`
	Datasource   *Datasource `json:"datasource"`
	Expr         string      `json:"expr"`
	LegendFormat string      `json:"legendFormat,omitempty"`
	Instant      bool        `json:"instant,omitempty"`
	Range        bool        `json:"range,omitempty"`
	Format       string      `json:"format,omitempty"`
}

// FieldConfig holds a panel's field defaults and overrides.
type FieldConfig struct {
	Defaults  map[string]any `json:"defaults"`
	Overrides []Override     `json:"overrides"`
}

// Override changes the properties of matching fields.
type Override struct {
	Matcher    map[string]any   `json:"matcher"`
	Properties []map[string]any `json:"properties"`
}

// Query is one panel's PromQL query, for tests that run them.
type Query struct {
	Panel, Expr string
	Instant     bool
}

// Queries lists every query of the dashboard.
func Queries(cfg mixin.Config) []Query {
	var qs []Query
	for _, p := range New(cfg).Panels {
		for _, t := range p.Targets {
			qs = append(qs, Query{Panel: p.Title, Expr: t.Expr, Instant: t.Instant})
		}
	}
	return qs
}

// JSON renders the dashboard as the file Grafana imports.
func JSON(cfg mixin.Config) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(New(cfg)); err != nil {
		panic(err) // only plain values are encoded
	}
	return b.Bytes()
}

// layout places panels left to right in rows of 24 columns.
type layout struct {
	y, x, rowH int
	id         int
	panels     []Panel
}

func (l *layout) row(title string) {
	l.newline()
	l.id++
	collapsed := false
	l.panels = append(l.panels, Panel{ID: l.id, Type: "row", Title: title, Collapsed: &collapsed,
		GridPos: GridPos{H: 1, W: 24, X: 0, Y: l.y}})
	l.y++
}

func (l *layout) newline() {
	l.y += l.rowH
	l.x, l.rowH = 0, 0
}

func (l *layout) add(w, h int, p Panel) {
	if l.x+w > 24 {
		l.newline()
	}
	l.id++
	p.ID = l.id
	p.GridPos = GridPos{H: h, W: w, X: l.x, Y: l.y}
	p.Datasource = prometheusDS
	for i := range p.Targets {
		p.Targets[i].RefID = string(rune('A' + i))
		p.Targets[i].Datasource = prometheusDS
	}
	l.x += w
	if h > l.rowH {
		l.rowH = h
	}
	l.panels = append(l.panels, p)
}

// New builds the dashboard.
func New(cfg mixin.Config) Dashboard {
	g := newBuilder(cfg)
	var l layout
	l.row("Verdicts")
	l.add(24, 4, g.targetsByVerdict())
	l.add(24, 8, g.vantageMatrix())
	l.add(24, 9, g.verdictTimeline())
	l.add(14, 9, g.evidenceTable())
	l.add(10, 9, activeAlerts())
	l.add(24, 7, g.lastHop())
	l.add(24, 7, g.hostCheck())
	l.add(24, 7, g.addressTable())
	l.add(12, 7, g.intermittentTable())
	l.add(12, 7, g.attemptsOverTime())
	l.row("Segmentation")
	l.add(4, 8, g.expectationsNotHeld())
	l.add(20, 8, g.segmentationTable())
	l.row("Timing")
	l.add(12, 8, g.phaseDurations())
	l.add(12, 8, g.probeDuration())
	l.add(24, 7, g.synRetransmits())
	l.row("Success")
	l.add(16, 7, g.successRatio())
	l.add(8, 7, g.successOverRange())
	l.row("Exporter health")
	l.add(12, 7, g.probesRate())
	l.add(4, 7, g.exporterUp())
	l.add(4, 7, g.configReload())
	l.add(4, 7, g.scrapesFailing())
	l.add(8, 7, g.conntrackFill())

	return Dashboard{
		UID:   UID,
		Title: "TCP verdicts",
		Description: "Why a TCP port cannot be reached and who has to fix it, from tcp_verdict_exporter. " +
			"Generated from verdict/taxonomy.go (go run ./mixin/cmd/generate).",
		Tags:          []string{"tcp_verdict", "blackbox"},
		Editable:      true,
		GraphTooltip:  1,
		Refresh:       "30s",
		SchemaVersion: 39,
		Time:          TimeRange{From: "now-6h", To: "now"},
		Timezone:      "browser",
		Templating:    Templating{List: g.variables()},
		Annotations: Annotations{List: []map[string]any{{
			"builtIn": 1, "datasource": map[string]any{"type": "grafana", "uid": "-- Grafana --"},
			"enable": true, "hide": true, "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts", "type": "dashboard",
		}}},
		Links:   []Link{{Title: "Verdict table", Type: "link", URL: "https://github.com/tcp-verdict/tcp_verdict_exporter#the-verdicts"}},
		Panels:  l.panels,
		Version: 1,
	}
}

func (g builder) variables() []Variable {
	all := map[string]any{"selected": true, "text": []string{"All"}, "value": []string{"$__all"}}
	labelValues := func(name, label, query string) Variable {
		return Variable{Name: name, Label: label, Type: "query", Datasource: prometheusDS,
			Query:      map[string]any{"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
			Definition: query, Refresh: 2, IncludeAll: true, Multi: true, AllValue: ".*", Current: all, Sort: 1}
	}
	return []Variable{
		{Name: "datasource", Label: "Data source", Type: "datasource", Query: "prometheus",
			Current: map[string]any{}},
		labelValues("job", "Job", fmt.Sprintf("label_values(tcp_verdict{%s}, job)", g.cfg.Probe())),
		labelValues("instance", "Target", fmt.Sprintf("label_values(tcp_verdict{%s}, instance)", g.cfg.Probe(`job=~"$job"`))),
		labelValues("module", "Module", fmt.Sprintf("label_values(tcp_verdict_exporter_probes_total{%s}, module)", g.cfg.ExporterSel())),
		labelValues("vantage", "Vantage", fmt.Sprintf("label_values(tcp_verdict{%s}, vantage)", g.cfg.Probe(`job=~"$job"`))),
	}
}

// classList describes every class for a panel description, in Markdown.
func classList() string {
	var b strings.Builder
	for _, c := range verdict.Classes {
		fmt.Fprintf(&b, "- **%s**: %s. Who fixes it: %s", c.Class, c.Meaning, c.Owner)
		if c.Team != "" {
			fmt.Fprintf(&b, " (alert `%s`, team `%s`)", mixin.AlertName(c.Class), c.Team)
		}
		b.WriteString(".\n")
	}
	return b.String()
}

// reasonList describes every reason, in Markdown.
func reasonList() string {
	var b strings.Builder
	for _, r := range verdict.Reasons {
		fmt.Fprintf(&b, "- **%s** (%s): %s\n", r.Reason, r.Class, r.Text())
	}
	return b.String()
}

// classMappings maps a class name, or with byIndex its position in the
// taxonomy, to the class's name and colour.
func classMappings(byIndex bool, text func(verdict.ClassInfo) string) []map[string]any {
	opts := map[string]any{}
	for i, c := range verdict.Classes {
		key := string(c.Class)
		if byIndex {
			key = fmt.Sprint(i)
		}
		opts[key] = map[string]any{"text": text(c), "color": c.Class.Colour().Grafana, "index": i}
	}
	return []map[string]any{{"type": "value", "options": opts}}
}

func className(c verdict.ClassInfo) string { return string(c.Class) }

// classOverrides colour series named after a class.
func classOverrides() []Override {
	var o []Override
	for _, c := range verdict.Classes {
		o = append(o, Override{
			Matcher:    map[string]any{"id": "byName", "options": string(c.Class)},
			Properties: []map[string]any{{"id": "color", "value": map[string]any{"mode": "fixed", "fixedColor": c.Class.Colour().Grafana}}},
		})
	}
	return o
}

// classIndexExpr is the class's position in the taxonomy, per target: the
// state set weighted by index and summed (connected is 0), so one series
// per target can carry the verdict through value mappings.
func (g builder) classIndexExpr() string {
	var terms []string
	for i, c := range verdict.Classes {
		if i == 0 {
			continue
		}
		terms = append(terms, fmt.Sprintf("tcp_verdict{%s,class=%q} * %d", g.probeSel, c.Class, i))
	}
	return "sum by (job, instance, vantage) (\n  " + strings.Join(terms, "\n  or ") + "\n)"
}

func (g builder) targetsByVerdict() Panel {
	return Panel{Type: "stat", Title: "Targets by verdict",
		Description: "How many targets have each verdict now.\n\n" + classList(),
		Targets:     []Target{{Expr: fmt.Sprintf("sum by (class) (tcp_verdict{%s})", g.probeSel), LegendFormat: "{{class}}", Instant: true}},
		FieldConfig: &FieldConfig{
			Defaults:  map[string]any{"color": map[string]any{"mode": "fixed", "fixedColor": "text"}, "unit": "none", "decimals": 0},
			Overrides: classOverrides(),
		},
		Options: map[string]any{"colorMode": "background", "graphMode": "none", "textMode": "value_and_name",
			"justifyMode": "center", "reduceOptions": map[string]any{"calcs": []string{"lastNotNull"}, "fields": "", "values": false}},
	}
}

func (g builder) verdictTimeline() Panel {
	return Panel{Type: "state-timeline", Title: "Verdict per target and vantage",
		Description: "The verdict of every probe of each target over time, one row per target and vantage (docs/vantages.md): which sites, since when. A gap means no probe answered (see Exporter health).\n\n" + classList(),
		Targets:     []Target{{Expr: g.classIndexExpr(), LegendFormat: "{{instance}} {{vantage}}", Range: true}},
		FieldConfig: &FieldConfig{
			Defaults: map[string]any{
				"color":    map[string]any{"mode": "fixed", "fixedColor": "text"},
				"mappings": classMappings(true, className),
				"custom":   map[string]any{"fillOpacity": 80, "lineWidth": 0},
			},
			Overrides: []Override{},
		},
		Options: map[string]any{"showValue": "auto", "mergeValues": true, "rowHeight": 0.9, "alignValue": "left",
			"legend": map[string]any{"showLegend": true, "displayMode": "list", "placement": "bottom"}},
	}
}

// MatrixSeparator joins class, reason and responder into the value of a
// cell of the vantage matrix.
const MatrixSeparator = " / "

// vantageMatrix is the verdict now of each target (rows) from each vantage
// (columns). A cell's value is "class / reason / responder"; it shows the
// class in its colour, and the whole value on hover (cell inspect).
func (g builder) vantageMatrix() Panel {
	var mappings []map[string]any
	for i, c := range verdict.Classes {
		mappings = append(mappings, map[string]any{"type": "regex", "options": map[string]any{
			"pattern": "^" + string(c.Class) + MatrixSeparator + ".*",
			"result":  map[string]any{"text": string(c.Class), "color": c.Class.Colour().Grafana, "index": i},
		}})
	}
	return Panel{Type: "table", Title: "Verdict now: target × vantage",
		Description: fmt.Sprintf("The verdict of each target (rows) from each vantage (columns), in its class's colour; hover a cell for the reason and the responder (class / reason / responder). "+
			"A target connected from some vantages and failing from others with %s, %s or %s is blocked on the path from the failing vantage (alert %s); "+
			"failing from every vantage, the fault is at the target (its class's alert, once). Without a vantage label there is one column.\n\n%s",
			verdict.Refused, verdict.Firewall, verdict.Unreachable, mixin.PathBlocked, classList()),
		Targets: []Target{{Expr: fmt.Sprintf("label_join(tcp_verdict_info{%s}, \"verdict\", %q, \"class\", \"reason\", \"responder\")", g.probeSel, MatrixSeparator),
			Instant: true, Format: "table"}},
		FieldConfig: &FieldConfig{
			Defaults: map[string]any{"mappings": mappings, "custom": map[string]any{"inspect": true, "align": "center",
				"cellOptions": map[string]any{"type": "color-background"}}},
			Overrides: []Override{{Matcher: map[string]any{"id": "byName", "options": "instance"},
				Properties: []map[string]any{{"id": "custom.cellOptions", "value": map[string]any{"type": "auto"}}, {"id": "custom.align", "value": "left"}}}},
		},
		Options: map[string]any{"showHeader": true, "sortBy": []map[string]any{{"displayName": "instance"}}},
		Transformations: []map[string]any{{"id": "groupingToMatrix", "options": map[string]any{
			"columnField": "vantage", "rowField": "instance", "valueField": "verdict"}}},
	}
}

func (g builder) evidenceTable() Panel {
	reasonOpts := map[string]any{}
	for i, r := range verdict.Reasons {
		reasonOpts[string(r.Reason)] = map[string]any{"text": fmt.Sprintf("%s: %s", r.Reason, r.Meaning), "index": i}
	}
	byName := func(name string, props ...map[string]any) Override {
		return Override{Matcher: map[string]any{"id": "byName", "options": name}, Properties: props}
	}
	return Panel{Type: "table", Title: "Evidence now: reason, responder, who fixes it",
		Description: "The latest verdict of each target with the address dialled, its reason (in nmap's --reason words) and the responder: the target itself, or the router whose ICMP error stopped the connection; empty when nothing answered.\n\n" + reasonList(),
		Targets:     []Target{{Expr: fmt.Sprintf("tcp_verdict_info{%s}", g.probeSel), Instant: true, Format: "table"}},
		FieldConfig: &FieldConfig{
			Defaults: map[string]any{"custom": map[string]any{"filterable": true}},
			Overrides: []Override{
				classColumn(),
				byName("reason", map[string]any{"id": "mappings", "value": []map[string]any{{"type": "value", "options": reasonOpts}}}),
			},
		},
		Options: map[string]any{"showHeader": true, "sortBy": []map[string]any{{"displayName": "class", "desc": true}}},
		Transformations: []map[string]any{{"id": "organize", "options": map[string]any{
			"excludeByName": map[string]any{"Time": true, "Value": true, "__name__": true},
			"indexByName":   map[string]any{"instance": 0, "vantage": 1, "address": 2, "class": 3, "reason": 4, "responder": 5, "job": 6, "module": 7},
		}}},
	}
}

// classColumn shows a table's class column in the class's colour, with
// who fixes it.
func classColumn() Override {
	return Override{Matcher: map[string]any{"id": "byName", "options": "class"}, Properties: []map[string]any{
		{"id": "mappings", "value": classMappings(false, func(c verdict.ClassInfo) string {
			if c.Team == "" {
				return string(c.Class)
			}
			return fmt.Sprintf("%s (%s)", c.Class, c.Owner)
		})},
		{"id": "custom.cellOptions", "value": map[string]any{"type": "color-text"}},
	}}
}

// lastHop is the path trace's answer per target: the last hop that
// answered and what it said. The TTL comes from tcp_trace_last_hop, the
// address and reason from tcp_trace_last_hop_info, joined on all their
// other labels.
func (g builder) lastHop() Panel {
	return Panel{Type: "table", Title: "Path trace: last hop that answered",
		Description: fmt.Sprintf("Where the SYN was last seen, per target: the TTL of the last hop that answered the path trace, its address and what it said. "+
			"Only for modules with `tcp.trace` enabled, and only on probes whose verdict is %s or %s (not %s or %s: this host's own evidence needs no trace); "+
			"other targets are not listed, and a target leaves the table once its probes stop tracing.\n\n"+
			"What the hop said: **%s** from a router on the way (nothing answered after it: the SYN is dropped there or just beyond); "+
			"a reject such as **%s** (that hop stops the SYN); **%s** or **%s** when the target itself answered the trace. "+
			"TTL 0 and no address: no hop answered at all. "+
			"A router that sends no time-exceeded, or rate-limits it, looks like a silent hop, so this is where the SYN was last *heard of*.",
			verdict.Firewall, verdict.Unreachable, verdict.LocalProhibited, verdict.NoRoute,
			verdict.TimeExceeded, verdict.AdminProhibited, verdict.SynAck, verdict.ConnRefused),
		Targets: []Target{{Expr: fmt.Sprintf("tcp_trace_last_hop{%s}\n  * ignoring (address, reason) group_left (address, reason)\n  tcp_trace_last_hop_info{%s}", g.probeSel, g.probeSel),
			Instant: true, Format: "table"}},
		FieldConfig: &FieldConfig{
			Defaults: map[string]any{"custom": map[string]any{"filterable": true}},
			Overrides: []Override{{
				Matcher: map[string]any{"id": "byName", "options": "Value"},
				Properties: []map[string]any{
					{"id": "displayName", "value": "last hop (TTL)"},
					{"id": "decimals", "value": 0},
					{"id": "mappings", "value": []map[string]any{{"type": "value", "options": map[string]any{
						"0": map[string]any{"text": "none answered", "index": 0}}}}},
				},
			}},
		},
		Options: map[string]any{"showHeader": true, "sortBy": []map[string]any{{"displayName": "instance"}}},
		Transformations: []map[string]any{{"id": "organize", "options": map[string]any{
			"excludeByName": map[string]any{"Time": true},
			"indexByName":   map[string]any{"instance": 0, "Value": 1, "address": 2, "reason": 3, "job": 4, "module": 5},
			"renameByName":  map[string]any{"reason": "what it said"},
		}}},
	}
}

func activeAlerts() Panel {
	return Panel{Type: "table", Title: "Firing alerts and their team",
		Description: "The shipped alert rules (mixin/alerts/tcp_verdict.rules.yml) that fire now, with the `team` label Alertmanager routes on. " +
			"A verdict alert fires once its class has lasted its `for:`; connected targets never alert.",
		Targets:     []Target{{Expr: `ALERTS{alertname=~"TCPVerdict.*",alertstate="firing"}`, Instant: true, Format: "table"}},
		FieldConfig: &FieldConfig{Defaults: map[string]any{"custom": map[string]any{"filterable": true}}, Overrides: []Override{}},
		Transformations: []map[string]any{{"id": "organize", "options": map[string]any{
			"excludeByName": map[string]any{"Time": true, "Value": true, "__name__": true, "alertstate": true},
			"indexByName":   map[string]any{"alertname": 0, "team": 1, "severity": 2, "instance": 3, "vantage": 4, "reason": 5, "responder": 6},
		}}},
	}
}

func (g builder) phaseDurations() Panel {
	return Panel{Type: "timeseries", Title: "Phase durations",
		Description: "How long each phase of the probe took: resolve (DNS), connect (the handshake, or until the ICMP error or the deadline), hold (how long the session was watched after the handshake; short when the peer closed it), plus tls and query when the module uses them, and trace when a path trace ran (tcp.trace).",
		Targets:     []Target{{Expr: fmt.Sprintf("tcp_phase_duration_seconds{%s}", g.probeSel), LegendFormat: "{{instance}} {{phase}}", Range: true}},
		FieldConfig: &FieldConfig{Defaults: map[string]any{"unit": "s", "min": 0}, Overrides: []Override{}},
	}
}

func (g builder) probeDuration() Panel {
	return Panel{Type: "timeseries", Title: "Probe duration",
		Description: "How long the whole probe took. A firewall that drops silently (firewall, no-response) takes the module's timeout.",
		Targets:     []Target{{Expr: fmt.Sprintf("probe_duration_seconds{%s}", g.probeSel), LegendFormat: "{{instance}}", Range: true}},
		FieldConfig: &FieldConfig{Defaults: map[string]any{"unit": "s", "min": 0}, Overrides: []Override{}},
	}
}

func (g builder) successRatio() Panel {
	return Panel{Type: "timeseries", Title: "Probe success ratio",
		Description: "Share of successful probes (probe_success: connected, the session survived the hold and every expectation was met), per target.",
		Targets: []Target{{Expr: fmt.Sprintf("avg by (job, instance) (avg_over_time(probe_success{%s}[$__rate_interval]))", g.probeSel),
			LegendFormat: "{{instance}}", Range: true}},
		FieldConfig: &FieldConfig{Defaults: map[string]any{"unit": "percentunit", "min": 0, "max": 1}, Overrides: []Override{}},
	}
}

func (g builder) successOverRange() Panel {
	return Panel{Type: "bargauge", Title: "Success over the time range",
		Description: "Share of successful probes per target over the dashboard's time range.",
		Targets: []Target{{Expr: fmt.Sprintf("avg by (job, instance) (avg_over_time(probe_success{%s}[$__range]))", g.probeSel),
			LegendFormat: "{{instance}}", Instant: true}},
		FieldConfig: &FieldConfig{Defaults: map[string]any{"unit": "percentunit", "min": 0, "max": 1,
			"thresholds": map[string]any{"mode": "absolute", "steps": []map[string]any{
				{"color": "red", "value": nil}, {"color": "orange", "value": 0.9}, {"color": "green", "value": 0.99}}}},
			Overrides: []Override{}},
		Options: map[string]any{"displayMode": "basic", "orientation": "horizontal",
			"reduceOptions": map[string]any{"calcs": []string{"lastNotNull"}, "fields": "", "values": false}},
	}
}

func (g builder) probesRate() Panel {
	return Panel{Type: "timeseries", Title: "Probes per second by module and verdict",
		Description: "tcp_verdict_exporter_probes_total from the exporter's /metrics: every probe it ran, by module and class. " +
			"A class of error means the exporter's own host failed: " + verdict.Error.Info().Meaning + ".",
		Targets: []Target{{Expr: fmt.Sprintf("sum by (module, class) (rate(tcp_verdict_exporter_probes_total{%s}[$__rate_interval]))", g.exporterSel),
			LegendFormat: "{{class}} ({{module}})", Range: true}},
		FieldConfig: &FieldConfig{Defaults: map[string]any{"unit": "reqps", "min": 0}, Overrides: []Override{}},
	}
}

// upDown maps 1 and 0 to words and colours.
func upDown(one, zero string) []map[string]any {
	return []map[string]any{{"type": "value", "options": map[string]any{
		"1": map[string]any{"text": one, "color": "green", "index": 0},
		"0": map[string]any{"text": zero, "color": "red", "index": 1},
	}}}
}

func (g builder) exporterUp() Panel {
	return Panel{Type: "stat", Title: "Exporter up",
		Description: "Whether Prometheus can scrape each exporter's /metrics (alert " + mixin.ExporterDown + ").",
		Targets: []Target{{Expr: fmt.Sprintf("up{%s}", g.cfg.ExporterSel()),
			LegendFormat: "{{instance}}", Instant: true}},
		FieldConfig: &FieldConfig{Defaults: map[string]any{"mappings": upDown("up", "down"), "color": map[string]any{"mode": "thresholds"},
			"thresholds": map[string]any{"mode": "absolute", "steps": []map[string]any{{"color": "red", "value": nil}, {"color": "green", "value": 1}}}},
			Overrides: []Override{}},
		Options: map[string]any{"colorMode": "background", "graphMode": "none", "textMode": "value_and_name",
			"reduceOptions": map[string]any{"calcs": []string{"lastNotNull"}, "fields": "", "values": false}},
	}
}

func (g builder) configReload() Panel {
	return Panel{Type: "stat", Title: "Last config reload",
		Description: "tcp_verdict_exporter_config_last_reload_successful: a failed reload keeps the running configuration (alert " + mixin.ExporterConfigReloadFailed + ").",
		Targets:     []Target{{Expr: fmt.Sprintf("tcp_verdict_exporter_config_last_reload_successful{%s}", g.cfg.ExporterSel()), LegendFormat: "{{instance}}", Instant: true}},
		FieldConfig: &FieldConfig{Defaults: map[string]any{"mappings": upDown("ok", "failed"), "color": map[string]any{"mode": "thresholds"},
			"thresholds": map[string]any{"mode": "absolute", "steps": []map[string]any{{"color": "red", "value": nil}, {"color": "green", "value": 1}}}},
			Overrides: []Override{}},
		Options: map[string]any{"colorMode": "background", "graphMode": "none", "textMode": "value_and_name",
			"reduceOptions": map[string]any{"calcs": []string{"lastNotNull"}, "fields": "", "values": false}},
	}
}

func (g builder) scrapesFailing() Panel {
	return Panel{Type: "stat", Title: "Probe scrapes failing",
		Description: "Targets whose /probe scrape gets no answer from the exporter: no verdict at all, so their state is unknown (alert " + mixin.ProbeScrapeFailed + ").",
		Targets:     []Target{{Expr: fmt.Sprintf("count(up{%s} == 0) or vector(0)", g.cfg.Probe(`job=~"$job"`)), Instant: true}},
		FieldConfig: &FieldConfig{Defaults: map[string]any{"unit": "none", "color": map[string]any{"mode": "thresholds"},
			"thresholds": map[string]any{"mode": "absolute", "steps": []map[string]any{{"color": "green", "value": nil}, {"color": "red", "value": 1}}}},
			Overrides: []Override{}},
		Options: map[string]any{"colorMode": "background", "graphMode": "none",
			"reduceOptions": map[string]any{"calcs": []string{"lastNotNull"}, "fields": "", "values": false}},
	}
}

// The segmentation view: probes with an expected verdict (docs/expectations.md).

// SegmentationTitle is the segmentation table's title.
const SegmentationTitle = "Segmentation: expected vs found"

// expectedJoin is every probe with an expectation, valued 1 when it held
// and 0 when not, with what was found (class, reason, responder) beside
// the expectation.
func (g builder) expectedJoin() string {
	return fmt.Sprintf("tcp_verdict_expected{%s}\n  * on (job, instance, module, vantage) group_left (class, reason, responder)\ntcp_verdict_info{%s}", g.probeSel, g.probeSel)
}

func (g builder) expectationsNotHeld() Panel {
	return Panel{Type: "stat", Title: "Expectations not held",
		Description: fmt.Sprintf("Probes whose verdict is not the expected one, per vantage: a breach (alert %s, team %s) or another mismatch (alert %s).",
			mixin.UnexpectedlyReachable, mixin.SecurityTeam, mixin.Unexpected),
		Targets: []Target{{Expr: fmt.Sprintf("count(tcp_verdict_expected{%s} == 0) or vector(0)", g.probeSel), Instant: true}},
		FieldConfig: &FieldConfig{Defaults: map[string]any{"unit": "none", "color": map[string]any{"mode": "thresholds"},
			"thresholds": map[string]any{"mode": "absolute", "steps": []map[string]any{{"color": "green", "value": nil}, {"color": "red", "value": 1}}}},
			Overrides: []Override{}},
		Options: map[string]any{"colorMode": "background", "graphMode": "none",
			"reduceOptions": map[string]any{"calcs": []string{"lastNotNull"}, "fields": "", "values": false}},
	}
}

func (g builder) segmentationTable() Panel {
	var words []string
	for _, a := range verdict.Aliases {
		words = append(words, fmt.Sprintf("**%s** = %s (%s)", a.Name, verdict.ExpectationOf(a.Classes...), a.Meaning))
	}
	byName := func(name string, props ...map[string]any) Override {
		return Override{Matcher: map[string]any{"id": "byName", "options": name}, Properties: props}
	}
	return Panel{Type: "table", Title: SegmentationTitle,
		Description: "Every probe with an expected verdict (the probe's expect parameter or its module's expect), per target and vantage: what was expected, what was found and whether it held, breaches first. " +
			"Expectations differ per vantage: the DMZ must not reach what the app tier must.\n\n" + strings.Join(words, "; ") + ".",
		Targets: []Target{{Expr: g.expectedJoin(), Instant: true, Format: "table"}},
		FieldConfig: &FieldConfig{
			Defaults: map[string]any{"custom": map[string]any{"filterable": true}},
			Overrides: []Override{
				classColumn(),
				byName("Value", map[string]any{"id": "displayName", "value": "held"},
					map[string]any{"id": "mappings", "value": upDown("held", "NOT HELD")},
					map[string]any{"id": "custom.cellOptions", "value": map[string]any{"type": "color-background"}}),
				byName("expectation", map[string]any{"id": "displayName", "value": "expected"}),
				byName("class", map[string]any{"id": "displayName", "value": "found"}),
			},
		},
		// Value 0 (not held) sorts first.
		Options: map[string]any{"showHeader": true, "sortBy": []map[string]any{{"displayName": "held", "desc": false}}},
		Transformations: []map[string]any{{"id": "organize", "options": map[string]any{
			"excludeByName": map[string]any{"Time": true, "__name__": true},
			"indexByName":   map[string]any{"Value": 0, "instance": 1, "vantage": 2, "expectation": 3, "class": 4, "reason": 5, "responder": 6, "module": 7, "job": 8},
		}}},
	}
}

// hostCheck is what the control ports (tcp.control_ports) told per
// target: whether the host answered at all, and from how many hops it and
// the probed port's RST did (docs/host-evidence.md).
func (g builder) hostCheck() Panel {
	return Panel{Type: "table", Title: "Host check: who really answered",
		Description: fmt.Sprintf("Only for modules with `tcp.control_ports`, on probes whose connect was refused or silent. "+
			"**host up** is 1 when the host answered a control port, 0 when none did (then the verdict is %s/%s: the host is down, or every packet to it is dropped). "+
			"After a refused connect, **host hops** is the TTL from which the host answers a control port and **RST hops** the TTL from which the probed port's RST comes back: "+
			"fewer RST hops than host hops means a hop on the path forged the RST (%s/%s, the responder is that hop); the same count leaves %s, which hop counts cannot tell from a firewall at the host's last router or on the host itself. "+
			"0 hops: not measured, or nothing answered.",
			verdict.Unreachable, verdict.HostSilent, verdict.Firewall, verdict.ForgedReset, verdict.Refused),
		Targets: []Target{
			{Expr: fmt.Sprintf("tcp_host_up{%s}", g.probeSel), Instant: true, Format: "table"},
			{Expr: fmt.Sprintf("tcp_host_hops{%s}", g.probeSel), Instant: true, Format: "table"},
			{Expr: fmt.Sprintf("tcp_reset_hops{%s}", g.probeSel), Instant: true, Format: "table"},
		},
		FieldConfig: &FieldConfig{
			Defaults: map[string]any{"custom": map[string]any{"filterable": true}, "decimals": 0},
			Overrides: []Override{{
				Matcher:    map[string]any{"id": "byName", "options": "host up"},
				Properties: []map[string]any{{"id": "mappings", "value": upDown("up", "silent")}, {"id": "custom.cellOptions", "value": map[string]any{"type": "color-text"}}},
			}},
		},
		Options: map[string]any{"showHeader": true, "sortBy": []map[string]any{{"displayName": "instance"}}},
		Transformations: []map[string]any{
			{"id": "merge", "options": map[string]any{}},
			{"id": "organize", "options": map[string]any{
				"excludeByName": map[string]any{"Time": true},
				"indexByName":   map[string]any{"instance": 0, "Value #A": 1, "Value #B": 2, "Value #C": 3, "job": 4, "module": 5},
				"renameByName":  map[string]any{"Value #A": "host up", "Value #B": "host hops", "Value #C": "RST hops"},
			}},
		},
	}
}

// conntrackFill is how full each exporter host's conntrack table is: at
// full, its kernel drops new SYNs and silent probes become its own error.
func (g builder) conntrackFill() Panel {
	return Panel{Type: "stat", Title: "Conntrack table fill",
		Description: fmt.Sprintf("How full the connection tracking table of each exporter's host is (tcp_verdict_exporter_conntrack_entries over its limit). "+
			"Every probe leaves an entry for about two minutes; at 100%% the kernel drops new SYNs before they leave and silent probes say %s/%s instead of blaming the network. "+
			"Alert %s fires from %.0f%%. Empty without connection tracking.",
			verdict.Error, verdict.LocalError, mixin.ExporterConntrackFilling, mixin.ConntrackFillAlert*100),
		Targets: []Target{{Expr: fmt.Sprintf("tcp_verdict_exporter_conntrack_entries{%s}\n  / tcp_verdict_exporter_conntrack_entries_limit{%s}", g.cfg.ExporterSel(), g.cfg.ExporterSel()),
			LegendFormat: "{{instance}}", Instant: true}},
		FieldConfig: &FieldConfig{Defaults: map[string]any{"unit": "percentunit", "min": 0, "max": 1, "color": map[string]any{"mode": "thresholds"},
			"thresholds": map[string]any{"mode": "absolute", "steps": []map[string]any{{"color": "green", "value": nil}, {"color": "red", "value": mixin.ConntrackFillAlert}}}},
			Overrides: []Override{}},
		Options: map[string]any{"colorMode": "background", "graphMode": "area", "textMode": "value_and_name",
			"reduceOptions": map[string]any{"calcs": []string{"lastNotNull"}, "fields": "", "values": false}},
	}
}
