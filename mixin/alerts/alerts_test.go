package alerts

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/metricnames"
	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testenv"
	"github.com/tcp-verdict/tcp_verdict_exporter/mixin"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// The committed files are the generator's output: mixin/cmd/generate's
// tests check them and name the one command that rewrites them.

// One alert per class somebody has to fix, with that class's team; none
// for connected; every alert name unique and every rule complete.
func TestRulesFollowTheTaxonomy(t *testing.T) {
	byName := map[string]Rule{}
	cfg := mixin.Default()
	for _, r := range Rules(cfg) {
		if _, dup := byName[r.Alert]; dup && r.Alert != mixin.Unexpected { // one per found class
			t.Errorf("alert %s defined twice", r.Alert)
		}
		byName[r.Alert] = r
		if r.Expr == "" || r.For == "" || r.Labels.Severity == "" || r.Labels.Team == "" ||
			r.Annotations.Summary == "" || r.Annotations.Description == "" {
			t.Errorf("alert %s is incomplete: %+v", r.Alert, r)
		}
		if !strings.HasPrefix(r.Alert, "TCPVerdict") {
			t.Errorf("alert %s does not start with TCPVerdict", r.Alert)
		}
	}
	for _, c := range verdict.Classes {
		r, ok := byName[mixin.AlertName(c.Class)]
		switch {
		case c.Class == verdict.Connected && ok:
			t.Errorf("connected raises %s", r.Alert)
		case c.Class == verdict.Connected:
		case !ok:
			t.Errorf("class %s has no alert %s", c.Class, mixin.AlertName(c.Class))
		case r.Labels.Team != c.Team:
			t.Errorf("%s: team %q, the taxonomy says %q", r.Alert, r.Labels.Team, c.Team)
		case !strings.Contains(r.Annotations.Summary, c.Meaning) || !strings.Contains(r.Annotations.Description, c.Owner):
			t.Errorf("%s: annotations lack the class's meaning or owner", r.Alert)
		}
	}
	for _, name := range append(append([]string{}, mixin.ExporterAlerts...), mixin.AlertName(verdict.Error)) {
		if byName[name].Labels.Team != verdict.Error.Info().Team {
			t.Errorf("%s: team %q, want the exporter's (%q)", name, byName[name].Labels.Team, verdict.Error.Info().Team)
		}
	}
	// A path blocked from some vantages is the network's to fix.
	if r := byName[mixin.PathBlocked]; r.Labels.Team != verdict.Firewall.Info().Team {
		t.Errorf("%s: team %q, want the network classes' (%q)", mixin.PathBlocked, r.Labels.Team, verdict.Firewall.Info().Team)
	}
	// A connected target whose probe failed goes to the service's team, and
	// waits and pages like that team's class.
	service := verdict.ClosedByPeer.Info()
	if r := byName[mixin.ExpectationFailed]; r.Labels.Team != service.Team || r.For != "2m" ||
		r.Labels.Severity != mixin.Critical || !strings.Contains(r.Annotations.Description, service.Owner) {
		t.Errorf("%s: team %q, for %s, severity %s, want %q, 2m, %s and the owner %q in its description",
			mixin.ExpectationFailed, r.Labels.Team, r.For, r.Labels.Severity, service.Team, mixin.Critical, service.Owner)
	}
}

// The expectation alerts: a breach goes to security; an unexpected verdict
// to its found class's team (security for connected), one rule per class.
func TestExpectationRules(t *testing.T) {
	teams := map[verdict.Class]string{}
	breaches := 0
	for _, r := range Rules(mixin.Default()) {
		switch r.Alert {
		case mixin.UnexpectedlyReachable:
			breaches++
			if r.Labels.Team != mixin.SecurityTeam || r.Labels.Severity != mixin.Critical {
				t.Errorf("%s: team %s severity %s, want %s critical", r.Alert, r.Labels.Team, r.Labels.Severity, mixin.SecurityTeam)
			}
		case mixin.Unexpected:
			for _, c := range verdict.Classes {
				if strings.Contains(r.Expr, `class="`+string(c.Class)+`"`) {
					teams[c.Class] = r.Labels.Team
				}
			}
		}
		// Every verdict alert leaves probes with an expectation to the
		// expectation alerts.
		if strings.HasPrefix(r.Expr, "count without") || r.Alert == mixin.PathBlocked {
			if !strings.Contains(r.Expr, UnlessExpectation(mixin.Default())) {
				t.Errorf("%s does not exclude probes with an expectation: %s", r.Alert, r.Expr)
			}
		}
	}
	if breaches != 1 {
		t.Errorf("%d %s rules, want 1", breaches, mixin.UnexpectedlyReachable)
	}
	for _, c := range verdict.Classes {
		want := c.Team
		if want == "" {
			want = mixin.SecurityTeam
		}
		if teams[c.Class] != want {
			t.Errorf("%s for found class %s: team %q, want %q", mixin.Unexpected, c.Class, teams[c.Class], want)
		}
	}
}

// The rules query only metrics the exporter (or Prometheus itself) emits.
func TestRulesQueryEmittedMetrics(t *testing.T) {
	emitted, err := metricnames.All()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range Rules(mixin.Default()) {
		names := metricnames.InPromQL(r.Expr)
		if len(names) == 0 {
			t.Errorf("%s: no metric found in %q", r.Alert, r.Expr)
		}
		for _, n := range names {
			if !emitted[n] {
				t.Errorf("%s queries %s, which neither the exporter nor Prometheus emits", r.Alert, n)
			}
		}
	}
}

// The example Alertmanager config routes every team, and only teams, to a
// receiver of its own.
func TestAlertmanagerExampleRoutesEveryTeam(t *testing.T) {
	var f struct {
		Route struct {
			Routes []struct {
				Receiver string   `yaml:"receiver"`
				Matchers []string `yaml:"matchers"`
			} `yaml:"routes"`
		} `yaml:"route"`
	}
	if err := yaml.Unmarshal(AlertmanagerYAML(), &f); err != nil {
		t.Fatal(err)
	}
	routed := map[string]bool{}
	for _, r := range f.Route.Routes {
		if len(r.Matchers) != 1 || r.Matchers[0] != `team="`+r.Receiver+`"` {
			t.Errorf("route to %s matches %q, want team=%q", r.Receiver, r.Matchers, r.Receiver)
		}
		routed[r.Receiver] = true
	}
	for _, r := range Rules(mixin.Default()) {
		if !routed[r.Labels.Team] {
			t.Errorf("%s: team %s has no route", r.Alert, r.Labels.Team)
		}
	}
}

// promtool accepts the rules and their unit tests pass.
func TestPromtool(t *testing.T) {
	testenv.NeedTools(t, "promtool")
	for _, args := range [][]string{{"check", "rules", RulesFile}, {"test", "rules", TestsFile}} {
		out, err := exec.Command("promtool", args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// amtool accepts the example Alertmanager config.
func TestAmtool(t *testing.T) {
	testenv.NeedTools(t, "amtool")
	out, err := exec.Command("amtool", "check-config", AlertmanagerFile).CombinedOutput()
	if err != nil {
		t.Errorf("amtool check-config %s: %v\n%s", AlertmanagerFile, err, out)
	}
}

// A config that is not the default changes the rules: its selectors are in
// every expression, its `for`, severities and URLs in every rule; and
// promtool accepts the rules.
func TestConfigChangesTheRules(t *testing.T) {
	cfg, err := mixin.Parse([]byte(`
probe_selector: 'job="blackbox_tcp"'
exporter_selector: 'job="tve",env="prod"'
classes:
  firewall: {for: 7m}
  error: {severity: info}
exporter_health:
  TCPVerdictExporterDown: {for: 1m, severity: page}
path_blocked: {for: 4m, severity: ticket}
runbook_url: https://runbooks.example/tcp/%s
dashboard_url: https://grafana.example/d/tcp-verdict
`))
	if err != nil {
		t.Fatal(err)
	}
	def := mixin.Default()
	for _, r := range Rules(cfg) {
		if !strings.Contains(r.Expr, `{job="blackbox_tcp"`) && !strings.Contains(r.Expr, `{job="tve",env="prod"`) {
			t.Errorf("%s: no job selector of the config in %q", r.Alert, r.Expr)
		}
		if strings.Contains(r.Expr, def.ProbeSelector) || strings.Contains(r.Expr, def.ExporterSelector) {
			t.Errorf("%s: a default selector is left in %q", r.Alert, r.Expr)
		}
		if want := "https://runbooks.example/tcp/" + r.Alert; r.Annotations.RunbookURL != want {
			t.Errorf("%s: runbook_url %q, want %q", r.Alert, r.Annotations.RunbookURL, want)
		}
		if r.Annotations.DashboardURL != "https://grafana.example/d/tcp-verdict" {
			t.Errorf("%s: dashboard_url %q", r.Alert, r.Annotations.DashboardURL)
		}
	}
	for _, w := range []struct{ alert, forDuration, severity string }{
		{mixin.AlertName(verdict.Firewall), "7m", mixin.Critical},
		{mixin.AlertName(verdict.Error), "5m", "info"},
		{mixin.AlertName(verdict.Refused), "2m", mixin.Critical},
		{mixin.ExporterDown, "1m", "page"},
		{mixin.ProbesAbsent, "10m", mixin.Warning},
		{mixin.PathBlocked, "4m", "ticket"},
	} {
		for _, r := range Rules(cfg) {
			if r.Alert == w.alert && (r.For != w.forDuration || r.Labels.Severity != w.severity) {
				t.Errorf("%s: for %s, severity %s; want %s, %s", r.Alert, r.For, r.Labels.Severity, w.forDuration, w.severity)
			}
		}
	}
	testenv.NeedTools(t, "promtool")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, RulesFile), RulesYAML(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("promtool", "check", "rules", filepath.Join(dir, RulesFile)).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules: %v\n%s", err, out)
	}
}

// The generated unit tests follow the config too: with other `for`s,
// severities and URLs (and selectors that pick the tests' jobs) promtool's
// tests still pass, and differ from the default's.
func TestConfigChangesTheUnitTests(t *testing.T) {
	cfg, err := mixin.Parse([]byte(`
probe_selector: 'job=~"tcp_verdict"'
classes:
  closed_by_peer: {for: 4m, severity: page}
  firewall: {for: 1m}
exporter_health:
  TCPVerdictProbeScrapeFailed: {for: 12m}
path_blocked: {for: 3m, severity: page}
runbook_url: https://runbooks.example/%s
`))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(TestsYAML(cfg), TestsYAML(mixin.Default())) {
		t.Fatal("the unit tests of a non-default config equal the default's")
	}
	testenv.NeedTools(t, "promtool")
	dir := t.TempDir()
	for name, data := range map[string][]byte{RulesFile: RulesYAML(cfg), TestsFile: TestsYAML(cfg)} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("promtool", "test", "rules", TestsFile)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool test rules: %v\n%s", err, out)
	}
}
