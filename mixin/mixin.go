// Package mixin is what the alert and dashboard generators share, in the
// style of a monitoring mixin's _config: the alert names both of them print,
// and Config, the few settings a user adapts (job selectors, `for` and
// severity per alert, runbook and dashboard URLs) without editing generated
// files. The defaults here are the one place those values are spelled; the
// files committed in mixin/alerts/ and dashboards/ are their output
// (go run ./mixin/cmd/generate).
package mixin

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"

	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// AlertName is the alert for a verdict class: "TCPVerdict" and the class
// name in CamelCase (firewall → TCPVerdictFirewall).
func AlertName(c verdict.Class) string { return camel("TCPVerdict", c) }

// PartialAlertName is the alert for some addresses of a name having class c
// while the target connects (tcp.addresses "all"): "TCPVerdictSomeAddresses"
// and the class in CamelCase (refused → TCPVerdictSomeAddressesRefused).
func PartialAlertName(c verdict.Class) string { return camel("TCPVerdictSomeAddresses", c) }

// PartialFailing lists the classes an address of a name can fail with: every
// failing class except dns_error, since an address was resolved.
func PartialFailing() []verdict.ClassInfo {
	var out []verdict.ClassInfo
	for _, c := range Failing() {
		if c.Class != verdict.DNSError {
			out = append(out, c)
		}
	}
	return out
}

func camel(prefix string, c verdict.Class) string {
	var b strings.Builder
	b.WriteString(prefix)
	for _, w := range strings.Split(string(c), "_") {
		r := []rune(w)
		if len(r) == 0 {
			continue
		}
		r[0] = unicode.ToUpper(r[0])
		b.WriteString(string(r))
	}
	return b.String()
}

// The exporter-health alerts: they are about the exporter, not about a
// target, and go to the team of the exporter's own `error` class.
const (
	ExporterDown               = "TCPVerdictExporterDown"
	ExporterConfigReloadFailed = "TCPVerdictExporterConfigReloadFailed"
	ProbeScrapeFailed          = "TCPVerdictProbeScrapeFailed"
	ProbesAbsent               = "TCPVerdictProbesAbsent"
	// ExporterConntrackFilling: the exporter host's conntrack table is
	// nearly full; at full, its kernel drops new SYNs and every silent
	// probe becomes error/local-error (docs/host-evidence.md).
	ExporterConntrackFilling = "TCPVerdictExporterConntrackFilling"
)

// ConntrackFillAlert is the fill of the exporter host's conntrack table
// (entries over its limit) at which ExporterConntrackFilling fires: early
// enough to act before the table is full.
const ConntrackFillAlert = 0.8

// ExporterAlerts lists the exporter-health alerts in the order the rules
// file has them.
var ExporterAlerts = []string{ExporterDown, ExporterConfigReloadFailed, ProbeScrapeFailed, ProbesAbsent, ExporterConntrackFilling}

// ExpectationFailed is the alert for a target that is connected but whose
// probe failed anyway: an expectation of the module's query_response was
// not met, or the TLS handshake failed. It waits and pages like the class
// closed_by_peer (mixin/README.md, "Connected, but the probe failed",
// says why).
const ExpectationFailed = "TCPVerdictExpectationFailed"

// PathBlocked is the alert for a target that is connected from some
// vantages and fails from others with a class of PathClasses: the service is
// up, so the fault is on the path from the failing vantage (docs/vantages.md,
// "Alerts across vantages").
const PathBlocked = "TCPVerdictPathBlocked"

// PathClasses are the failing classes that a middlebox on one vantage's path
// can produce while the service itself is up: a silent drop or an ICMP
// rejection (firewall), a missing route (unreachable), and a firewall's
// `reject with tcp reset`, which looks exactly like refused (the
// taxonomy's "can also mean" of conn-refused). The other failing classes
// keep their own team when some vantage connects: closed_by_peer is the
// service's own access rule, dns_error the vantage's resolver, error the
// exporter's own host, and none of them is the network's to fix.
func PathClasses() []verdict.ClassInfo {
	return []verdict.ClassInfo{verdict.Refused.Info(), verdict.Firewall.Info(), verdict.Unreachable.Info()}
}

// IsPathClass reports whether c is one of PathClasses.
func IsPathClass(c verdict.Class) bool {
	for _, p := range PathClasses() {
		if p.Class == c {
			return true
		}
	}
	return false
}

// The expectation alerts: a probe with an expected verdict (its module's
// expect key or the probe's expect parameter) found another one
// (docs/expectations.md). They replace the class and path alerts for such a
// probe: an expected verdict pages nobody.
const (
	// UnexpectedlyReachable: every expected class is one that never
	// reaches a listening stack, yet the SYN did (a reachable class): a
	// segmentation breach, for the security team.
	UnexpectedlyReachable = "TCPVerdictUnexpectedlyReachable"
	// Unexpected: any other verdict that was not expected, for the found
	// class's team; one rule per found class, all of this name.
	Unexpected = "TCPVerdictUnexpected"
)

// SecurityTeam is the team label of a segmentation breach, and of a
// connection where only other reachable classes were expected (a port that
// must stay shut answers). No class owns it: it is about intent, not about
// a fault. SecurityOwner is its name for people.
const (
	SecurityTeam  = "security"
	SecurityOwner = "the security team"
)

// Intermittent is the alert for a probe whose attempts (tcp.attempts > 1)
// ended in more than one class: the path works for some flows and not for
// others (docs/intermittent.md). It stands in for the class alert of the
// failing attempts, which it holds back.
const Intermittent = "TCPVerdictIntermittent"

// Severities.
const (
	Critical = "critical"
	Warning  = "warning"
)

// Policy is how long an alert's condition must last before it fires and
// the severity label it carries.
type Policy struct {
	For      string `yaml:"for"`
	Severity string `yaml:"severity"`
}

// Config adapts the generated rules and dashboard. Zero fields of a file
// keep their defaults (Default).
type Config struct {
	// ProbeSelector and ExporterSelector are PromQL label matchers, without
	// braces, that pick the probe jobs (/probe) and the exporter's own
	// /metrics job; every query of the rules and the dashboard carries one.
	ProbeSelector    string `yaml:"probe_selector"`
	ExporterSelector string `yaml:"exporter_selector"`
	// Classes is the policy of each failing class's alert, keyed by class.
	Classes map[verdict.Class]Policy `yaml:"classes"`
	// ExporterHealth is the policy of each exporter-health alert, keyed by
	// alert name.
	ExporterHealth map[string]Policy `yaml:"exporter_health"`
	// PartialAddresses is the policy of the alerts for some addresses of a
	// name failing while the target connects (PartialAlertName).
	PartialAddresses Policy `yaml:"partial_addresses"`
	// PathBlocked is the policy of TCPVerdictPathBlocked.
	PathBlocked Policy `yaml:"path_blocked"`
	// UnexpectedlyReachable is the policy of TCPVerdictUnexpectedlyReachable
	// and of TCPVerdictUnexpected for a connection nobody expected; the
	// other TCPVerdictUnexpected rules take their found class's policy.
	UnexpectedlyReachable Policy `yaml:"unexpectedly_reachable"`
	// Intermittent is the policy of TCPVerdictIntermittent.
	Intermittent Policy `yaml:"intermittent"`
	// RunbookURL, if set, adds a runbook_url annotation to every alert; %s
	// is replaced by the alert's name.
	RunbookURL string `yaml:"runbook_url"`
	// DashboardURL, if set, adds a dashboard_url annotation to every alert:
	// where the shipped dashboard is in your Grafana.
	DashboardURL string `yaml:"dashboard_url"`
}

// Default is the configuration of the committed files. The selectors match
// (README.md, "Scrape config") (job tcp_verdict, and tcp_verdict_<anything> for
// more probe jobs; job tcp_verdict_exporter for /metrics). A target's
// verdict waits 2m (a few probes at the usual 15–30 s scrape interval, so
// one lost SYN or a service restart does not page) and pages; the
// exporter's own failures leave targets unknown, not broken, and warn,
// except the exporter being down, which blinds every verdict alert.
func Default() Config {
	c := Config{
		ProbeSelector:    `job=~"tcp_verdict.*",job!="tcp_verdict_exporter"`,
		ExporterSelector: `job="tcp_verdict_exporter"`,
		Classes:          map[verdict.Class]Policy{},
		ExporterHealth: map[string]Policy{
			ExporterDown:               {For: "2m", Severity: Critical},
			ExporterConfigReloadFailed: {For: "5m", Severity: Warning},
			ProbeScrapeFailed:          {For: "5m", Severity: Warning},
			ProbesAbsent:               {For: "10m", Severity: Warning},
			ExporterConntrackFilling:   {For: "5m", Severity: Warning},
		},
		// Like the network classes it stands for.
		PathBlocked: Policy{For: "2m", Severity: Critical},
		// An open path that must be closed is a breach, now.
		UnexpectedlyReachable: Policy{For: "2m", Severity: Critical},
		// Some connections fail, not all: degraded, not down, and the
		// split shows on the first probe, so it need not wait longer.
		Intermittent: Policy{For: "2m", Severity: Warning},
	}
	for _, ci := range Failing() {
		c.Classes[ci.Class] = Policy{For: "2m", Severity: Critical}
	}
	// A transient EMFILE is not worth a message.
	c.Classes[verdict.Error] = Policy{For: "5m", Severity: Warning}
	// Clients that walk the address list still connect: degraded, not down.
	c.PartialAddresses = Policy{For: "5m", Severity: Warning}
	return c
}

// Failing lists the classes that raise an alert: every class that names a
// team to fix it.
func Failing() []verdict.ClassInfo {
	var out []verdict.ClassInfo
	for _, c := range verdict.Classes {
		if c.Team != "" {
			out = append(out, c)
		}
	}
	return out
}

// Class is the policy of a failing class's alert.
func (c Config) Class(class verdict.Class) Policy { return c.Classes[class] }

// Exporter is the policy of an exporter-health alert.
func (c Config) Exporter(alert string) Policy { return c.ExporterHealth[alert] }

// Runbook is the runbook URL of an alert, or "".
func (c Config) Runbook(alert string) string {
	if c.RunbookURL == "" {
		return ""
	}
	return strings.ReplaceAll(c.RunbookURL, "%s", alert)
}

// Probe is ProbeSelector with extra matchers, as the body of a PromQL
// selector: Probe(`class="firewall"`) is `<probe selector>,class="firewall"`.
func (c Config) Probe(extra ...string) string { return join(c.ProbeSelector, extra) }

// ExporterSel is ExporterSelector with extra matchers.
func (c Config) ExporterSel(extra ...string) string { return join(c.ExporterSelector, extra) }

func join(sel string, extra []string) string {
	parts := make([]string, 0, 1+len(extra))
	if sel != "" {
		parts = append(parts, sel)
	}
	return strings.Join(append(parts, extra...), ",")
}

// Load reads a config file over the defaults: a field or policy the file
// leaves out keeps its default.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("reading generator config: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return Config{}, fmt.Errorf("generator config %s: %w", path, err)
	}
	return c, nil
}

// Parse reads a config over the defaults and validates it.
func Parse(data []byte) (Config, error) {
	var file Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&file); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("parsing: %w", err)
	}
	c := Default()
	if file.ProbeSelector != "" {
		c.ProbeSelector = file.ProbeSelector
	}
	if file.ExporterSelector != "" {
		c.ExporterSelector = file.ExporterSelector
	}
	for class, p := range file.Classes {
		d, ok := c.Classes[class]
		if !ok {
			return Config{}, fmt.Errorf("classes: %q is not a class that raises an alert", class)
		}
		c.Classes[class] = merge(d, p)
	}
	for alert, p := range file.ExporterHealth {
		d, ok := c.ExporterHealth[alert]
		if !ok {
			return Config{}, fmt.Errorf("exporter_health: %q is not an exporter-health alert (%s)", alert, strings.Join(ExporterAlerts, ", "))
		}
		c.ExporterHealth[alert] = merge(d, p)
	}
	c.PartialAddresses = merge(c.PartialAddresses, file.PartialAddresses)
	c.PathBlocked = merge(c.PathBlocked, file.PathBlocked)
	c.UnexpectedlyReachable = merge(c.UnexpectedlyReachable, file.UnexpectedlyReachable)
	c.Intermittent = merge(c.Intermittent, file.Intermittent)
	if file.RunbookURL != "" {
		c.RunbookURL = file.RunbookURL
	}
	if file.DashboardURL != "" {
		c.DashboardURL = file.DashboardURL
	}
	return c, c.Validate()
}

func merge(d, p Policy) Policy {
	if p.For != "" {
		d.For = p.For
	}
	if p.Severity != "" {
		d.Severity = p.Severity
	}
	return d
}

// Validate checks what the generators rely on: a selector for each kind of
// job (the exporter-health alerts query `up`, which every job has), and
// each `for` a whole number of minutes, the step of the generated promtool
// tests.
func (c Config) Validate() error {
	if c.ProbeSelector == "" || c.ExporterSelector == "" {
		return errors.New("probe_selector and exporter_selector must not be empty: the alerts on `up` need them to tell the exporter's jobs from others")
	}
	for _, s := range []string{c.ProbeSelector, c.ExporterSelector} {
		if strings.ContainsAny(s, "{}") {
			return fmt.Errorf("selector %q: give the label matchers without braces", s)
		}
	}
	check := func(what string, p Policy) error {
		if _, err := Minutes(p.For); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if p.Severity == "" {
			return fmt.Errorf("%s: empty severity", what)
		}
		return nil
	}
	for _, ci := range Failing() {
		if err := check("classes: "+string(ci.Class), c.Classes[ci.Class]); err != nil {
			return err
		}
	}
	for _, a := range ExporterAlerts {
		if err := check("exporter_health: "+a, c.ExporterHealth[a]); err != nil {
			return err
		}
	}
	if err := check("partial_addresses", c.PartialAddresses); err != nil {
		return err
	}
	if err := check("path_blocked", c.PathBlocked); err != nil {
		return err
	}
	if err := check("intermittent", c.Intermittent); err != nil {
		return err
	}
	return check("unexpectedly_reachable", c.UnexpectedlyReachable)
}

// Minutes is a `for` duration in whole minutes.
func Minutes(d string) (int, error) {
	v, err := model.ParseDuration(d)
	if err != nil {
		return 0, fmt.Errorf("for %q: %w", d, err)
	}
	if t := time.Duration(v); t <= 0 || t%time.Minute != 0 {
		return 0, fmt.Errorf("for %q: must be a positive whole number of minutes", d)
	}
	return int(time.Duration(v) / time.Minute), nil
}

// YAML renders the config as a file Load reads, classes in taxonomy order.
func (c Config) YAML() []byte {
	var classes, health yaml.Node
	classes.Kind, health.Kind = yaml.MappingNode, yaml.MappingNode
	add := func(m *yaml.Node, key string, p Policy) {
		var k yaml.Node
		k.SetString(key)
		v := policyNode(p)
		m.Content = append(m.Content, &k, &v)
	}
	for _, ci := range Failing() {
		add(&classes, string(ci.Class), c.Classes[ci.Class])
	}
	for _, a := range ExporterAlerts {
		add(&health, a, c.ExporterHealth[a])
	}
	out := struct {
		ProbeSelector    string    `yaml:"probe_selector"`
		ExporterSelector string    `yaml:"exporter_selector"`
		Classes          yaml.Node `yaml:"classes"`
		ExporterHealth   yaml.Node `yaml:"exporter_health"`
		PartialAddresses Policy    `yaml:"partial_addresses,flow"`
		PathBlocked      Policy    `yaml:"path_blocked,flow"`
		Unexpectedly     Policy    `yaml:"unexpectedly_reachable,flow"`
		Intermittent     Policy    `yaml:"intermittent,flow"`
		RunbookURL       string    `yaml:"runbook_url"`
		DashboardURL     string    `yaml:"dashboard_url"`
	}{c.ProbeSelector, c.ExporterSelector, classes, health, c.PartialAddresses, c.PathBlocked, c.UnexpectedlyReachable, c.Intermittent, c.RunbookURL, c.DashboardURL}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(out); err != nil {
		panic(err)
	}
	if err := enc.Close(); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// policyNode is a policy as a one-line YAML mapping.
func policyNode(p Policy) yaml.Node {
	var v yaml.Node
	if err := v.Encode(p); err != nil {
		panic(err) // a struct of strings
	}
	v.Style = yaml.FlowStyle
	return v
}
