package alerts

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/tcp-verdict/tcp_verdict_exporter/internal/metricnames"
	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testenv"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

var update = flag.Bool("update", false, "rewrite the generated files in alerts/ from the taxonomy")

var generated = map[string]func() []byte{
	RulesFile:        RulesYAML,
	TestsFile:        TestsYAML,
	AlertmanagerFile: AlertmanagerYAML,
}

// The files in this folder are the generator's output, byte for byte.
func TestGeneratedFilesAreCurrent(t *testing.T) {
	for name, gen := range generated {
		want := gen()
		got, err := os.ReadFile(name)
		if err == nil && bytes.Equal(got, want) {
			continue
		}
		if *update {
			if err := os.WriteFile(name, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		t.Errorf("alerts/%s differs from its generator (or is missing: %v); run: go test ./alerts -update", name, err)
	}
}

const (
	tableBegin = "<!-- alerts-table:begin (generated from alerts/alerts.go: go test ./alerts -update) -->\n"
	tableEnd   = "<!-- alerts-table:end -->"
)

// README.md's table of alerts is the rules', word for word.
func TestREADMETableIsCurrent(t *testing.T) {
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	i, j := strings.Index(readme, tableBegin), strings.Index(readme, tableEnd)
	if i < 0 || j < i {
		t.Fatalf("alerts/README.md lacks the table markers %q ... %q", tableBegin, tableEnd)
	}
	want := MarkdownTable()
	if readme[i+len(tableBegin):j] == want {
		return
	}
	if *update {
		if err := os.WriteFile("README.md", []byte(readme[:i+len(tableBegin)]+want+readme[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatal("alerts/README.md's table differs from the rules; run: go test ./alerts -update")
}

// One alert per class somebody has to fix, with that class's team; none
// for connected; every alert name unique and every rule complete.
func TestRulesFollowTheTaxonomy(t *testing.T) {
	byName := map[string]Rule{}
	for _, r := range Rules() {
		if _, dup := byName[r.Alert]; dup {
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
		r, ok := byName[AlertName(c.Class)]
		switch {
		case c.Class == verdict.Connected && ok:
			t.Errorf("connected raises %s", r.Alert)
		case c.Class == verdict.Connected:
		case !ok:
			t.Errorf("class %s has no alert %s", c.Class, AlertName(c.Class))
		case r.Labels.Team != c.Team:
			t.Errorf("%s: team %q, the taxonomy says %q", r.Alert, r.Labels.Team, c.Team)
		case !strings.Contains(r.Annotations.Summary, c.Meaning) || !strings.Contains(r.Annotations.Description, c.Owner):
			t.Errorf("%s: annotations lack the class's meaning or owner", r.Alert)
		}
	}
	for _, name := range []string{ExporterDown, ExporterConfigReloadFailed, ProbeScrapeFailed, ProbesAbsent, AlertName(verdict.Error)} {
		if byName[name].Labels.Team != verdict.Error.Info().Team {
			t.Errorf("%s: team %q, want the exporter's (%q)", name, byName[name].Labels.Team, verdict.Error.Info().Team)
		}
	}
	// A connected target whose probe failed goes to the service's team, and
	// waits and pages like that team's class.
	service := verdict.ClosedByPeer.Info()
	if r := byName[ExpectationFailed]; r.Labels.Team != service.Team || r.For != ClassFor(service.Class) ||
		r.Labels.Severity != Critical || !strings.Contains(r.Annotations.Description, service.Owner) {
		t.Errorf("%s: team %q, for %s, severity %s, want %q, %s, %s and the owner %q in its description",
			ExpectationFailed, r.Labels.Team, r.For, r.Labels.Severity, service.Team, ClassFor(service.Class), Critical, service.Owner)
	}
	if got, want := AlertName(verdict.ClosedByPeer), "TCPVerdictClosedByPeer"; got != want {
		t.Errorf("AlertName(closed_by_peer) = %s, want %s", got, want)
	}
}

// The rules query only metrics the exporter (or Prometheus itself) emits.
func TestRulesQueryEmittedMetrics(t *testing.T) {
	emitted, err := metricnames.All()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range Rules() {
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
	for _, r := range Rules() {
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
