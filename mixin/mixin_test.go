package mixin

import (
	"reflect"
	"strings"
	"testing"

	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// Every class that raises an alert has a policy, and only those; every
// exporter-health alert has one too.
func TestDefaultPolicyCoversEveryClass(t *testing.T) {
	d := Default()
	for _, c := range verdict.Classes {
		p, ok := d.Classes[c.Class]
		switch {
		case c.Team == "" && ok:
			t.Errorf("class %s raises no alert but has a policy %+v", c.Class, p)
		case c.Team != "" && (p.For == "" || p.Severity == ""):
			t.Errorf("class %s has no complete policy: %+v", c.Class, p)
		}
	}
	if len(d.Classes) != len(Failing()) {
		t.Errorf("%d class policies for %d failing classes", len(d.Classes), len(Failing()))
	}
	for _, a := range ExporterAlerts {
		if p := d.Exporter(a); p.For == "" || p.Severity == "" {
			t.Errorf("%s has no complete policy: %+v", a, p)
		}
	}
	if len(d.ExporterHealth) != len(ExporterAlerts) {
		t.Errorf("%d exporter-health policies for %d alerts", len(d.ExporterHealth), len(ExporterAlerts))
	}
	if err := d.Validate(); err != nil {
		t.Errorf("the default config is invalid: %v", err)
	}
}

// The rendered defaults read back as the defaults; an empty file is the
// defaults; a partial policy keeps the other field's default.
func TestParse(t *testing.T) {
	for _, in := range []string{string(Default().YAML()), "", "# nothing\n"} {
		c, err := Parse([]byte(in))
		if err != nil {
			t.Fatalf("Parse(%q): %v", in, err)
		}
		if !reflect.DeepEqual(c, Default()) {
			t.Errorf("Parse(%q) = %+v, want the defaults", in, c)
		}
	}
	c, err := Parse([]byte("classes:\n  refused: {for: 1h}\nexporter_health:\n  TCPVerdictProbesAbsent: {severity: info}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Class(verdict.Refused); got != (Policy{For: "1h", Severity: Critical}) {
		t.Errorf("refused: %+v, want for 1h and the default severity", got)
	}
	if c, err := Parse([]byte("path_blocked: {for: 7m}\n")); err != nil || c.PathBlocked != (Policy{For: "7m", Severity: Critical}) {
		t.Errorf("path_blocked: %+v (%v), want for 7m and the default severity", c.PathBlocked, err)
	}
	if _, err := Parse([]byte("path_blocked: {for: 30s}\n")); err == nil || !strings.Contains(err.Error(), "path_blocked") {
		t.Errorf("path_blocked for 30s: %v, want an error naming path_blocked", err)
	}
	if got := c.Exporter(ProbesAbsent); got != (Policy{For: "10m", Severity: "info"}) {
		t.Errorf("%s: %+v, want the default for and severity info", ProbesAbsent, got)
	}
	c, err = Parse([]byte("partial_addresses: {severity: critical}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.PartialAddresses; got != (Policy{For: "5m", Severity: Critical}) {
		t.Errorf("partial_addresses: %+v, want the default for and severity critical", got)
	}
	if Default().Class(verdict.Refused).For != "2m" {
		t.Error("Parse changed the defaults")
	}
}

func TestParseRejects(t *testing.T) {
	for in, want := range map[string]string{
		"job_selector: x\n":                                       "field job_selector not found",
		"classes:\n  connected: {for: 2m}\n":                      `"connected" is not a class that raises an alert`,
		"classes:\n  refused: {for: 90s}\n":                       "whole number of minutes",
		"classes:\n  refused: {for: soon}\n":                      "for \"soon\"",
		"exporter_health:\n  Nope: {for: 2m}\n":                   `"Nope" is not an exporter-health alert`,
		"probe_selector: '{job=\"x\"}'\n":                         "without braces",
		"classes: [1]\n":                                          "parsing",
		"exporter_health:\n  TCPVerdictProbesAbsent: {for: 0m}\n": "positive",
		"partial_addresses: {for: 30s}\n":                         "partial_addresses: for \"30s\"",
	} {
		_, err := Parse([]byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", in, err, want)
		}
	}
}

func TestAlertName(t *testing.T) {
	for c, want := range map[verdict.Class]string{verdict.ClosedByPeer: "TCPVerdictClosedByPeer", verdict.DNSError: "TCPVerdictDnsError", verdict.Firewall: "TCPVerdictFirewall"} {
		if got := AlertName(c); got != want {
			t.Errorf("AlertName(%s) = %s, want %s", c, got, want)
		}
	}
}

func TestPartialAlertName(t *testing.T) {
	for c, want := range map[verdict.Class]string{verdict.Refused: "TCPVerdictSomeAddressesRefused", verdict.ClosedByPeer: "TCPVerdictSomeAddressesClosedByPeer"} {
		if got := PartialAlertName(c); got != want {
			t.Errorf("PartialAlertName(%s) = %s, want %s", c, got, want)
		}
	}
	for _, c := range PartialFailing() {
		if c.Class == verdict.DNSError || c.Team == "" {
			t.Errorf("PartialFailing lists %s: an address that was dialled never has it", c.Class)
		}
	}
	if len(PartialFailing()) != len(Failing())-1 {
		t.Errorf("PartialFailing has %d classes, want every failing class but dns_error", len(PartialFailing()))
	}
}

func TestSelectors(t *testing.T) {
	c := Default()
	c.ProbeSelector, c.ExporterSelector = `job="p"`, `job="e"`
	if got, want := c.Probe(`class="x"`), `job="p",class="x"`; got != want {
		t.Errorf("Probe = %s, want %s", got, want)
	}
	if got, want := c.ExporterSel(), `job="e"`; got != want {
		t.Errorf("ExporterSel = %s, want %s", got, want)
	}
	c.RunbookURL = "https://r.example/%s"
	if got, want := c.Runbook(ExporterDown), "https://r.example/"+ExporterDown; got != want {
		t.Errorf("Runbook = %s, want %s", got, want)
	}
}
