// Package alerts generates, from the verdict taxonomy, the Prometheus
// alerting rules that ship in this folder, their promtool unit tests and an
// example Alertmanager routing tree. Nothing here spells a class, a reason, a
// meaning or a team: they all come from package verdict; alert names,
// selectors, `for` and severities come from the generator config (package
// mixin).
//
// The one generator, mixin/cmd/generate, writes them; regenerate the
// committed files after changing the taxonomy or this package:
//
//	go run ./mixin/cmd/generate
//
// or write them for another config with its --config and --out.
package alerts

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/tcp-verdict/tcp_verdict_exporter/mixin"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// The generated files, in this folder (mixin/alerts/).
const (
	RulesFile        = "tcp_verdict.rules.yml"
	TestsFile        = "tcp_verdict.tests.yml"
	AlertmanagerFile = "alertmanager.example.yml"
)

// GroupName is the rule group every alert is in.
const GroupName = "tcp_verdict"

// ExampleWebhookBase starts every receiver URL in the example Alertmanager
// config: a team's receiver is ExampleWebhookBase + its slug.
const ExampleWebhookBase = "http://alert-receiver.example/team/"

// ProbingHost replaces %s in the taxonomy's Ask sentences: a rule does not
// know the probing host's address.
const ProbingHost = "the exporter's host"

// Rule is one Prometheus alerting rule.
type Rule struct {
	Alert       string      `yaml:"alert"`
	Expr        string      `yaml:"expr"`
	For         string      `yaml:"for"`
	Labels      Labels      `yaml:"labels"`
	Annotations Annotations `yaml:"annotations"`
}

// Labels are the labels a rule adds to its alerts.
type Labels struct {
	Severity string `yaml:"severity"`
	Team     string `yaml:"team"`
}

// Annotations are a rule's annotation templates.
type Annotations struct {
	Summary     string `yaml:"summary"`
	Description string `yaml:"description"`
	// Set only when the generator's config has the URL.
	RunbookURL   string `yaml:"runbook_url,omitempty"`
	DashboardURL string `yaml:"dashboard_url,omitempty"`
}

// Teams lists every team slug once, in class order, then the security
// team of the expectation alerts.
func Teams() []string {
	var teams []string
	seen := map[string]bool{}
	for _, c := range mixin.Failing() {
		if !seen[c.Team] {
			seen[c.Team] = true
			teams = append(teams, c.Team)
		}
	}
	return append(teams, mixin.SecurityTeam)
}

// ExporterTeam is the team that runs the exporter: the one of its own
// `error` class.
func ExporterTeam() string { return verdict.Error.Info().Team }

// ask is the taxonomy's "ask ..." sentence for a class, for a reader who
// does not know the probing host's address.
func ask(c verdict.ClassInfo) string { return "ask " + c.AskFor(ProbingHost) }

// withURLs adds the config's runbook and dashboard URLs to an alert's
// annotations.
func withURLs(cfg mixin.Config, alert string, a Annotations) Annotations {
	a.RunbookURL, a.DashboardURL = cfg.Runbook(alert), cfg.DashboardURL
	return a
}

// unknownReason is the description's fallback for a reason a newer exporter
// knows and these rules do not.
const unknownReason = "a reason these rules do not know; see the verdict table of the exporter's README."

// ProbeKey are the labels that name one probe: the job, the target
// (instance), the module and the vantage it was made from. The evidence
// join matches on them (and class), so labels tcp_verdict_info has beyond
// reason and responder never break its one-to-one matching.
const ProbeKey = "job, instance, module, vantage"

// evidenceJoin is the per-vantage verdict of the classes the matcher selects,
// with tcp_verdict_info's reason and responder copied onto it, for probes
// without an expected verdict (UnlessExpectation).
func evidenceJoin(cfg mixin.Config, classMatcher string) string {
	return fmt.Sprintf("(tcp_verdict{%s} == 1)\n"+
		"    * on (%s, class) group_left (reason, responder)\n"+
		"  tcp_verdict_info{%s}\n"+
		"  %s", cfg.Probe(classMatcher), ProbeKey, cfg.Probe(classMatcher), UnlessExpectation(cfg))
}

// UnlessExpectation drops, from a per-probe vector, the probes that have an
// expected verdict: every alert about a verdict (a class, a path blocked
// from some vantages, a verdict that comes and goes) ends its per-vantage
// selection with it, for such a probe is judged by the expectation alerts
// alone. An expected verdict pages nobody; an unexpected one pages once,
// as unexpected (docs/expectations.md, "Alerts").
func UnlessExpectation(cfg mixin.Config) string {
	return fmt.Sprintf("unless on (%s) tcp_verdict_expected{%s}", ProbeKey, cfg.Probe())
}

// UnlessUnexpected drops the probes whose verdict was not the expected
// one: alerts about what happens beyond the verdict (the session failing
// an expectation, some addresses of a name failing) use it, so that a
// breach pages as one, while such a fault of a verdict that was expected
// (a reachable service answering wrongly) still pages.
func UnlessUnexpected(cfg mixin.Config) string {
	return fmt.Sprintf("unless on (%s) (tcp_verdict_expected{%s} == 0)", ProbeKey, cfg.Probe())
}

// Template snippets that read other series at evaluation time. targetSel
// sets $sel to the alert's labels except those in skip, as PromQL matchers
// each followed by a comma: the labels that name the target, whatever
// labels the scrape config gives it.
func targetSel(skip ...string) string {
	q := make([]string, len(skip))
	for i, s := range skip {
		q[i] = fmt.Sprintf("%q", s)
	}
	return `{{- $sel := "" }}{{ range $k, $v := $labels }}{{ if not (eq $k ` + strings.Join(q, " ") +
		`) }}{{ $sel = printf "%s%s=%q," $sel $k $v }}{{ end }}{{ end }}`
}

// vantageList sets variable name to the `vantage` labels, comma-separated
// and sorted, of the series query returns ("" when none has one: a
// deployment without vantages).
func vantageList(name, query string) string {
	return `{{- $` + name + ` := "" }}{{ range sortByLabel "vantage" (query (` + query + `)) }}{{ with .Labels.vantage }}` +
		`{{ if $` + name + ` }}{{ $` + name + ` = printf "%s, %s" $` + name + ` . }}{{ else }}{{ $` + name + ` = . }}{{ end }}{{ end }}{{ end -}}`
}

// reasonEvidence is a template chain that prints the evidence text of the
// alert's reason, for the reasons of the given classes.
func reasonEvidence(classes ...verdict.Class) string {
	var d strings.Builder
	first := true
	for _, r := range verdict.Reasons {
		if !slices.Contains(classes, r.Class) {
			continue
		}
		open := "{{- else if"
		if first {
			open, first = "{{ if", false
		}
		fmt.Fprintf(&d, "%s eq $labels.reason %q -}}\n  %s\n", open, r.Reason, template(r.Text()))
	}
	fmt.Fprintf(&d, "{{- else -}}\n  %s\n{{- end }}", unknownReason)
	return d.String()
}

// ClassRule is the alerting rule of one failing class, one alert per
// target and evidence however many vantages probe it. The state set says
// the class; tcp_verdict_info of the same probe adds reason and responder,
// so the annotations can name the evidence and who produced it. The address
// dialled is not copied into the alert: a name whose DNS rotates its
// addresses would change the alert's labels, and so restart its `for`, on
// every probe. Counting without `vantage` makes the vantages that see the
// same evidence one alert whose value is their number; the description
// lists them. For a class of mixin.PathClasses the alert is held back while
// any vantage connects to the target: that is PathBlockedRule's case.
// Without a vantage label (one exporter) this is one alert per failing
// probe, as it always was.
func ClassRule(cfg mixin.Config, c verdict.ClassInfo) Rule {
	class := fmt.Sprintf("class=%q", c.Class)
	expr := fmt.Sprintf("count without (vantage) (\n  %s\n)", unlessMixed(cfg, evidenceJoin(cfg, class)))
	if mixin.IsPathClass(c.Class) {
		expr += fmt.Sprintf("\nunless ignoring (vantage, class, reason, responder)\n  (tcp_verdict{%s} == 1)",
			cfg.Probe(fmt.Sprintf("class=%q", verdict.Connected)))
	}

	var d strings.Builder
	d.WriteString(targetSel("class", "reason", "responder"))
	// The vantages that see the evidence, less those that expected a
	// verdict: the alert leaves them out (UnlessExpectation), so does its
	// list.
	d.WriteString(vantageList("from", `printf "tcp_verdict_info{%sclass=%q,reason=%q,responder=%q} unless on (`+ProbeKey+`) tcp_verdict_expected" $sel $labels.class $labels.reason $labels.responder`))
	fmt.Fprintf(&d, "Probe of {{ $labels.instance }} (job {{ $labels.job }}){{ with $from }} from vantages {{ . }}{{ end }}: %s, reason {{ $labels.reason }}{{ with $labels.responder }} from {{ . }}{{ end }}.\n", c.Class)
	d.WriteString(evidence(c))
	fmt.Fprintf(&d, "Who fixes it: %s; %s.", template(c.Owner), template(ask(c)))

	name, policy := mixin.AlertName(c.Class), cfg.Class(c.Class)
	return Rule{
		Alert:  name,
		Expr:   expr,
		For:    policy.For,
		Labels: Labels{Severity: policy.Severity, Team: c.Team},
		Annotations: withURLs(cfg, name, Annotations{
			Summary:     fmt.Sprintf("{{ $labels.instance }}: %s: %s", c.Class, template(c.Meaning)),
			Description: d.String(),
		}),
	}
}

// evidence is the description's "Evidence: ..." line, the text of the
// alert's $labels.reason among the class's reasons.
func evidence(c verdict.ClassInfo) string {
	return "Evidence: " + reasonEvidence(c.Class) + "\n"
}

// PartialRule is the alert for some addresses of a name failing with class
// c while the target connects: a module with tcp.addresses "all" gives one
// tcp_address_verdict_info per address, and the verdict is connected when
// any address connects, so the class's own alert stays silent. It fires
// once per failing address (the address is a stable label: it is the
// name's), goes to the class's team, and waits and pages as the config's
// partial_addresses says: clients that walk the address list still connect.
func PartialRule(cfg mixin.Config, c verdict.ClassInfo) Rule {
	expr := fmt.Sprintf("tcp_address_verdict_info{%s}\n"+
		"  and ignoring (address, class, reason, responder)\n"+
		"(tcp_verdict{%s} == 1)\n"+
		"  %s", cfg.Probe(fmt.Sprintf("class=%q", c.Class)), cfg.Probe(fmt.Sprintf("class=%q", verdict.Connected)), UnlessUnexpected(cfg))
	var d strings.Builder
	fmt.Fprintf(&d, "Probe of {{ $labels.instance }} (job {{ $labels.job }}): the target connects, but its address {{ $labels.address }} is %s, reason {{ $labels.reason }}{{ with $labels.responder }} from {{ . }}{{ end }}.\n", c.Class)
	d.WriteString(evidence(c))
	fmt.Fprintf(&d, "Clients that try this address first and give up, or only this one, fail: %s.\n", template(c.Meaning))
	fmt.Fprintf(&d, "Who fixes it: %s; %s.", template(c.Owner), template(ask(c)))
	name, policy := mixin.PartialAlertName(c.Class), cfg.PartialAddresses
	return Rule{
		Alert:  name,
		Expr:   expr,
		For:    policy.For,
		Labels: Labels{Severity: policy.Severity, Team: c.Team},
		Annotations: withURLs(cfg, name, Annotations{
			Summary:     fmt.Sprintf("{{ $labels.instance }}: address {{ $labels.address }} is %s while the target connects", c.Class),
			Description: d.String(),
		}),
	}
}

// PathBlockedMeaning is what TCPVerdictPathBlocked says the split means.
const PathBlockedMeaning = "the service is up, so the fault is on the path from this vantage to the target"

// PathBlockedRule fires for a probe that fails with a class of
// mixin.PathClasses while another vantage connects to the same target:
// one alert per failing vantage, labelled with it, to the team of the
// network classes. The target is whatever labels the two probes share once
// vantage, class, reason and responder are set aside. The description
// names the vantages where it works (a query at evaluation time).
func PathBlockedRule(cfg mixin.Config) Rule {
	var classes []string
	var path []verdict.Class
	for _, c := range mixin.PathClasses() {
		classes = append(classes, string(c.Class))
		path = append(path, c.Class)
	}
	matcher := fmt.Sprintf("class=~%q", strings.Join(classes, "|"))
	expr := fmt.Sprintf("%s\nand ignoring (vantage, class, reason, responder)\n  (tcp_verdict{%s} == 1)",
		unlessMixed(cfg, evidenceJoin(cfg, matcher)), cfg.Probe(fmt.Sprintf("class=%q", verdict.Connected)))
	network := verdict.Firewall.Info()
	template(network.Ask)

	var d strings.Builder
	d.WriteString(targetSel("vantage", "class", "reason", "responder"))
	d.WriteString(vantageList("ok", fmt.Sprintf(`printf "tcp_verdict{%%sclass=%%q} == 1" $sel %q`, verdict.Connected)))
	d.WriteString("Probe of {{ $labels.instance }} (job {{ $labels.job }}) from vantage {{ $labels.vantage }}: {{ $labels.class }}, reason {{ $labels.reason }}{{ with $labels.responder }} from {{ . }}{{ end }}.\n")
	d.WriteString("Evidence: ")
	d.WriteString(reasonEvidence(path...))
	fmt.Fprintf(&d, "\nConnected from vantages {{ $ok }}: %s.\n", PathBlockedMeaning)
	fmt.Fprintf(&d, "Who fixes it: %s; ask %s.", template(network.Owner), network.AskFor("vantage {{ $labels.vantage }}"))

	policy := cfg.PathBlocked
	return Rule{
		Alert:  mixin.PathBlocked,
		Expr:   expr,
		For:    policy.For,
		Labels: Labels{Severity: policy.Severity, Team: network.Team},
		Annotations: withURLs(cfg, mixin.PathBlocked, Annotations{
			Summary:     "{{ $labels.instance }}: {{ $labels.class }} from vantage {{ $labels.vantage }}, connected from others: the path is blocked",
			Description: d.String(),
		}),
	}
}

// What ExpectationRule's annotations say, chosen by the alert's value
// (probe_failed_due_to_regex): an expectation that was not met, or another
// failure of the session after the connection, most likely TLS.
const (
	ExpectationSummary = "the service's answer does not meet the module's expectation"
	ExpectationText    = "A query_response expectation (expect or expect_bytes) was not met: the service answered something else, or nothing before the probe's timeout"
	SessionSummary     = "the session failed after connecting, most likely TLS"
	SessionText        = "No expectation failed, so the session did: most likely the TLS handshake (certificate, TLS version or cipher), else sending a query_response line, or TLS settings of the module that the exporter cannot load"
)

// causeLine renders, in an annotation, the probe's failure cause from
// tcp_session_failure_info (its phase and bounded cause, as the table of
// (docs/verdicts.md, "TLS modules") lists them), so the alert says why without the debug
// page. It queries the series of the alert's own probe: the same job and
// instance, and module when the alert has one; nothing when there is none.
const causeLine = `{{ $sel := printf "job=%q,instance=%q" $labels.job $labels.instance }}` +
	`{{ with $labels.module }}{{ $sel = printf "%s,module=%q" $sel . }}{{ end }}` +
	`{{ range printf "tcp_session_failure_info{%s}" $sel | query }}` +
	"Failure cause: {{ .Labels.cause }} (phase {{ .Labels.phase }}).\n{{ end }}"

// ExpectationRule fires for a probe whose verdict is connected but that
// failed: probe_success is 0 although the port is open and the service let
// the client in. A failing class (closed_by_peer after an `expect`, say)
// has its own alert, so this one requires the connected state. The state
// set has a `class` label the probe_* series lack, so its side of the match
// ignores it; every other label (job, instance, module, ...) matches one
// probe to one probe. The alert's value is probe_failed_due_to_regex, which
// the annotations read to tell an expectation (1) from anything else, such
// as a TLS failure (0).
//
// It goes to the team of closed_by_peer, the service's support team: TCP
// worked and the service accepted the connection, so what failed is the
// service's own answer (its banner, protocol or certificate), which is what
// that team owns, as it owns the service refusing a client after accept.
// It waits and pages like that class too. When the module's expectation is
// what is wrong, the description points at whoever runs the exporter.
func ExpectationRule(cfg mixin.Config) Rule {
	expr := fmt.Sprintf("probe_failed_due_to_regex{%s}\n"+
		"  and (probe_success{%s} == 0)\n"+
		"  and ignoring (class) (tcp_verdict{%s} == 1)\n"+
		"  %s", cfg.Probe(), cfg.Probe(), cfg.Probe(fmt.Sprintf("class=%q", verdict.Connected)), UnlessUnexpected(cfg))
	service := verdict.ClosedByPeer.Info()
	exporter := verdict.Error.Info()
	policy := cfg.Class(service.Class)
	return Rule{
		Alert:  mixin.ExpectationFailed,
		Expr:   expr,
		For:    policy.For,
		Labels: Labels{Severity: policy.Severity, Team: service.Team},
		Annotations: withURLs(cfg, mixin.ExpectationFailed, Annotations{
			Summary: fmt.Sprintf("{{ $labels.instance }}: %s, but {{ if $value }}%s{{ else }}%s{{ end }}",
				verdict.Connected, ExpectationSummary, SessionSummary),
			Description: fmt.Sprintf("Probe of {{ $labels.instance }} (job {{ $labels.job }}{{ with $labels.module }}, module {{ . }}{{ end }}): %s, yet the probe failed.\n"+
				"{{ if $value }}%s{{ else }}%s{{ end }}.\n%s"+
				"The probe with &debug=true shows what the service sent and why the probe failed.\n"+
				"Who fixes it: %s, if the service's answer or certificate changed; %s, if the module's expectation or TLS settings are wrong.",
				verdict.Connected, template(ExpectationText), template(SessionText), causeLine, template(service.Owner), template(exporter.Owner)),
		}),
	}
}

// template guards taxonomy text put into an annotation template: it must not
// contain template actions.
func template(s string) string {
	if strings.Contains(s, "{{") || strings.Contains(s, "}}") {
		panic(fmt.Sprintf("alerts: taxonomy text %q contains a template delimiter", s))
	}
	return s
}

// ExporterRules are the alerts about the exporter itself. They find the
// exporter's jobs by the config's selectors: the exporter's /metrics job
// and the probe jobs.
func ExporterRules(cfg mixin.Config) []Rule {
	team := ExporterTeam()
	owner := template(verdict.Error.Info().Owner)
	rule := func(name, expr string, a Annotations) Rule {
		p := cfg.Exporter(name)
		return Rule{Alert: name, Expr: expr, For: p.For, Labels: Labels{Severity: p.Severity, Team: team}, Annotations: withURLs(cfg, name, a)}
	}
	return []Rule{
		rule(mixin.ExporterDown, fmt.Sprintf("up{%s} == 0", cfg.ExporterSel()), Annotations{
			Summary: "tcp_verdict_exporter {{ $labels.instance }} is down",
			Description: "Prometheus cannot scrape the exporter's own metrics at {{ $labels.instance }} (job {{ $labels.job }}).\n" +
				"While it is down no target it probes has a verdict, so no verdict alert can fire.\n" +
				"Who fixes it: " + owner + ".",
		}),
		rule(mixin.ExporterConfigReloadFailed, fmt.Sprintf("tcp_verdict_exporter_config_last_reload_successful{%s} == 0", cfg.ExporterSel()), Annotations{
			Summary: "tcp_verdict_exporter {{ $labels.instance }}: configuration reload failed",
			Description: "The last reload of the module file of the exporter at {{ $labels.instance }} (job {{ $labels.job }}) failed; it keeps probing with the configuration it had.\n" +
				"The exporter's log names the key and line (or run it with --config.check).\n" +
				"Who fixes it: " + owner + ".",
		}),
		rule(mixin.ProbeScrapeFailed, fmt.Sprintf("up{%s} == 0", cfg.Probe()), Annotations{
			Summary: "{{ $labels.instance }}: no verdict, the probe scrape fails",
			Description: "Prometheus gets no answer from the exporter for the probe of {{ $labels.instance }} (job {{ $labels.job }}): the exporter is down or unreachable, or the probe outlasts the scrape timeout.\n" +
				"A failed probe is still an answer (with its verdict); this is the exporter not answering at all, so the target's state is unknown.\n" +
				"Who fixes it: " + owner + ".",
		}),
		rule(mixin.ProbesAbsent, fmt.Sprintf("absent(tcp_verdict{%s})", cfg.Probe()), Annotations{
			Summary: "No TCP verdict at all: probes are not running",
			Description: "Prometheus has no tcp_verdict series: no probe job scrapes the exporter's /probe, the job lost its targets, or every probe scrape fails.\n" +
				"No verdict alert can fire until probes run again.\n" +
				"Who fixes it: " + owner + ".",
		}),
		rule(mixin.ExporterConntrackFilling, fmt.Sprintf("tcp_verdict_exporter_conntrack_entries{%s}\n  / tcp_verdict_exporter_conntrack_entries_limit{%s}\n> %g",
			cfg.ExporterSel(), cfg.ExporterSel(), mixin.ConntrackFillAlert), Annotations{
			Summary: "tcp_verdict_exporter {{ $labels.instance }}: its host's conntrack table is {{ $value | humanizePercentage }} full",
			Description: "The connection tracking table of the host that runs the exporter at {{ $labels.instance }} (job {{ $labels.job }}) is {{ $value | humanizePercentage }} full.\n" +
				"When it is full, that host's kernel drops new SYNs before they leave: every silent probe then says error/local-error, and nothing about the network.\n" +
				"Every probe leaves an entry for about two minutes (entries ≈ probes per second × the kernel's timeouts): raise net.netfilter.nf_conntrack_max, exempt the probes from tracking, or probe less often.\n" +
				"Who fixes it: " + owner + ".",
		}),
	}
}

// Rules is every alerting rule: the verdict classes first, in class order,
// then a path blocked from some vantages, then the failed expectation of a
// connected target, then some addresses of a connected target failing, by
// class, then the expectation alerts (a breach, then an unexpected verdict
// by found class), then exporter health.
func Rules(cfg mixin.Config) []Rule {
	var rules []Rule
	for _, c := range mixin.Failing() {
		rules = append(rules, ClassRule(cfg, c))
	}
	rules = append(rules, PathBlockedRule(cfg), IntermittentRule(cfg), ExpectationRule(cfg))
	for _, c := range mixin.PartialFailing() {
		rules = append(rules, PartialRule(cfg, c))
	}
	rules = append(rules, UnexpectedlyReachableRule(cfg))
	for _, c := range verdict.Classes {
		rules = append(rules, UnexpectedRule(cfg, c))
	}
	return append(rules, ExporterRules(cfg)...)
}

// generatedBy starts every generated file's header.
const generatedBy = "# Generated from verdict/taxonomy.go by mixin/alerts/alerts.go: go run ./mixin/cmd/generate\n"

const header = generatedBy +
	"# Do not edit by hand; mixin/README.md explains the design.\n"

// RulesYAML renders the rule file Prometheus loads (rule_files).
func RulesYAML(cfg mixin.Config) []byte {
	type group struct {
		Name  string `yaml:"name"`
		Rules []Rule `yaml:"rules"`
	}
	type file struct {
		Groups []group `yaml:"groups"`
	}
	return render(file{Groups: []group{{Name: GroupName, Rules: Rules(cfg)}}})
}

// AlertmanagerYAML renders an example Alertmanager config that routes every
// alert to its team's receiver by the `team` label. Replace the webhook URLs
// (or the receivers) with your own.
func AlertmanagerYAML() []byte {
	type webhook struct {
		URL string `yaml:"url"`
	}
	type receiver struct {
		Name     string    `yaml:"name"`
		Webhooks []webhook `yaml:"webhook_configs,omitempty"`
	}
	type route struct {
		Receiver       string   `yaml:"receiver"`
		Matchers       []string `yaml:"matchers,omitempty"`
		GroupBy        []string `yaml:"group_by,omitempty,flow"`
		GroupWait      string   `yaml:"group_wait,omitempty"`
		GroupInterval  string   `yaml:"group_interval,omitempty"`
		RepeatInterval string   `yaml:"repeat_interval,omitempty"`
		Routes         []route  `yaml:"routes,omitempty"`
	}
	type file struct {
		Route     route      `yaml:"route"`
		Receivers []receiver `yaml:"receivers"`
	}
	f := file{
		Route: route{
			Receiver:       "default",
			GroupBy:        []string{"alertname", "team"},
			GroupWait:      "30s",
			GroupInterval:  "5m",
			RepeatInterval: "4h",
		},
		// Alerts without a team (none of ours) end here, unsent.
		Receivers: []receiver{{Name: "default"}},
	}
	for _, t := range Teams() {
		f.Route.Routes = append(f.Route.Routes, route{Receiver: t, Matchers: []string{fmt.Sprintf("team=%q", t)}})
		f.Receivers = append(f.Receivers, receiver{Name: t, Webhooks: []webhook{{URL: ExampleWebhookBase + t}}})
	}
	return renderWith(exampleHeader, f)
}

const exampleHeader = generatedBy +
	"# An example to copy and adapt: one receiver per team of the `team` label the\n" +
	"# tcp_verdict alerts carry. Replace the webhook URLs with your own receivers.\n"

func render(v any) []byte { return renderWith(header, v) }

func renderWith(header string, v any) []byte {
	var b bytes.Buffer
	b.WriteString(header)
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		panic(err) // only plain structs of strings are encoded
	}
	if err := enc.Close(); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// MarkdownTable renders the rules as the table mixin/README.md shows.
func MarkdownTable(cfg mixin.Config) string {
	var b strings.Builder
	b.WriteString("| alert | fires when | `for` | `severity` | `team` |\n")
	b.WriteString("|---|---|---|---|---|\n")
	classOf := map[string]verdict.ClassInfo{}
	for _, c := range mixin.Failing() {
		classOf[mixin.AlertName(c.Class)] = c
	}
	partialOf := map[string]verdict.ClassInfo{}
	for _, c := range mixin.PartialFailing() {
		partialOf[mixin.PartialAlertName(c.Class)] = c
	}
	unexpected := 0 // Rules has one Unexpected rule per class, in class order
	for _, r := range Rules(cfg) {
		when := "`" + strings.Join(strings.Fields(r.Expr), " ") + "`"
		if c, ok := classOf[r.Alert]; ok {
			when = fmt.Sprintf("the verdict is `%s`: %s", c.Class, c.Meaning)
		}
		if r.Alert == mixin.PathBlocked {
			var classes []string
			for _, c := range mixin.PathClasses() {
				classes = append(classes, "`"+string(c.Class)+"`")
			}
			when = fmt.Sprintf("the verdict is %s from one vantage and `%s` from another: %s", strings.Join(classes, ", "), verdict.Connected, PathBlockedMeaning)
		}
		if r.Alert == mixin.Intermittent {
			when = "the attempts of one probe (`tcp.attempts` > 1) end in more than one class: " + verdict.Intermittent().Meaning + "; the failing class's own alert is held back"
		}
		if c, ok := partialOf[r.Alert]; ok {
			when = fmt.Sprintf("the target connects, but an address of its name (`tcp.addresses: all`) is `%s`", c.Class)
		}
		if r.Alert == mixin.UnexpectedlyReachable {
			when = fmt.Sprintf("the probe expects only classes outside `%s` (e.g. `%s`) and finds one of %s: %s", verdict.AliasReachable, verdict.AliasBlocked, backquoted(reachableClasses()), BreachMeaning)
		}
		if r.Alert == mixin.Unexpected {
			when = fmt.Sprintf("the probe expects other classes and finds `%s`, and it is no breach", verdict.Classes[unexpected].Class)
			unexpected++
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | `%s` |\n", r.Alert, strings.ReplaceAll(when, "|", "\\|"), r.For, r.Labels.Severity, r.Labels.Team)
	}
	return b.String()
}

// BreachMeaning is what TCPVerdictUnexpectedlyReachable says a breach is.
const BreachMeaning = "a segmentation breach: the SYN reached a TCP stack on a path that must be blocked"

// reachableClasses are the classes of the `reachable` alias, whose SYN
// reached the target's TCP stack.
func reachableClasses() []verdict.Class { return verdict.AliasClasses(verdict.AliasReachable) }

func backquoted(cs []verdict.Class) string {
	q := make([]string, len(cs))
	for i, c := range cs {
		q[i] = "`" + string(c) + "`"
	}
	return strings.Join(q, ", ")
}

// reachableRegexp matches an expectation label (tcp_verdict_expected's
// canonical class list) that names a reachable class: PromQL anchors it.
func reachableRegexp() string {
	names := make([]string, 0, 3)
	for _, c := range reachableClasses() {
		names = append(names, string(c))
	}
	return "(.*,)?(" + strings.Join(names, "|") + ")(,.*)?"
}

// unexpectedJoin is the per-vantage probes whose verdict was not expected,
// with the expectation matcher given, and whose class the matcher selects:
// tcp_verdict_expected (labelled with the expectation) plus the verdict's
// evidence from tcp_verdict_info (class, reason and responder; each is 1,
// so the alert's value is 1).
func unexpectedJoin(cfg mixin.Config, expectationMatcher, classMatcher string) string {
	return fmt.Sprintf("  (tcp_verdict_expected{%s} == 0)\n"+
		"+ on (%s) group_left (class, reason, responder)\n"+
		"  tcp_verdict_info{%s}", cfg.Probe(expectationMatcher), ProbeKey, cfg.Probe(classMatcher))
}

// expectationHead is the first line of the expectation alerts'
// descriptions: the probe, what was expected and what was found.
const expectationHead = "Probe of {{ $labels.instance }} (job {{ $labels.job }}{{ with $labels.module }}, module {{ . }}{{ end }}){{ with $labels.vantage }} from vantage {{ . }}{{ end }}: " +
	"expected {{ $labels.expectation }}, found {{ $labels.class }}, reason {{ $labels.reason }}{{ with $labels.responder }} from {{ . }}{{ end }}.\n"

// UnexpectedlyReachableRule fires, per vantage, for a probe that expected
// only classes whose SYN never reaches a listening stack (blocked, or a
// DNS failure) and found a reachable class: connected, closed_by_peer, or
// refused, for a refused host is reachable and only its port is closed. It
// goes to the security team.
func UnexpectedlyReachableRule(cfg mixin.Config) Rule {
	reach := reachableClasses()
	names := make([]string, len(reach))
	for i, c := range reach {
		names[i] = string(c)
	}
	expr := unexpectedJoin(cfg, fmt.Sprintf("expectation!~%q", reachableRegexp()), fmt.Sprintf("class=~%q", strings.Join(names, "|")))
	var d strings.Builder
	d.WriteString(expectationHead)
	d.WriteString("Evidence: ")
	d.WriteString(reasonEvidence(reach...))
	fmt.Fprintf(&d, "\nThis is %s.\n", BreachMeaning)
	fmt.Fprintf(&d, "Who fixes it: %s; find the firewall or policy change that opened the path from {{ with $labels.vantage }}vantage {{ . }}{{ else }}%s{{ end }}, and close it.", mixin.SecurityOwner, ProbingHost)
	policy := cfg.UnexpectedlyReachable
	return Rule{
		Alert:  mixin.UnexpectedlyReachable,
		Expr:   expr,
		For:    policy.For,
		Labels: Labels{Severity: policy.Severity, Team: mixin.SecurityTeam},
		Annotations: withURLs(cfg, mixin.UnexpectedlyReachable, Annotations{
			Summary:     "{{ $labels.instance }}: reachable ({{ $labels.class }}){{ with $labels.vantage }} from vantage {{ . }}{{ end }}, expected {{ $labels.expectation }}: segmentation breach",
			Description: d.String(),
		}),
	}
}

// UnexpectedRule fires, per vantage, for a probe whose verdict is class c
// although other classes were expected, and that is no breach
// (UnexpectedlyReachableRule): for a reachable c, the expectation names a
// reachable class too. It goes to c's team, waits and pages as c's own
// alert; connected has no team: a connection where other reachable classes
// were expected (a port that must stay shut answers) goes to the security
// team, with the breach's policy.
func UnexpectedRule(cfg mixin.Config, c verdict.ClassInfo) Rule {
	expectation := ""
	for _, r := range reachableClasses() {
		if r == c.Class {
			expectation = fmt.Sprintf("expectation=~%q", reachableRegexp())
		}
	}
	expr := unexpectedJoin(cfg, expectation, fmt.Sprintf("class=%q", c.Class))
	team, owner, policy := c.Team, c.Owner, cfg.Class(c.Class)
	askText := ask(c)
	if team == "" {
		team, owner, policy = mixin.SecurityTeam, mixin.SecurityOwner, cfg.UnexpectedlyReachable
		askText = "find who opened the port and whether it must stay open"
	}
	var d strings.Builder
	d.WriteString(expectationHead)
	d.WriteString(evidence(c))
	fmt.Fprintf(&d, "What it means: %s.\n", template(c.Meaning))
	fmt.Fprintf(&d, "Who fixes it: %s; %s.", template(owner), template(askText))
	return Rule{
		Alert:  mixin.Unexpected,
		Expr:   expr,
		For:    policy.For,
		Labels: Labels{Severity: policy.Severity, Team: team},
		Annotations: withURLs(cfg, mixin.Unexpected, Annotations{
			Summary:     fmt.Sprintf("{{ $labels.instance }}: %s{{ with $labels.vantage }} from vantage {{ . }}{{ end }}, expected {{ $labels.expectation }}", c.Class),
			Description: d.String(),
		}),
	}
}
