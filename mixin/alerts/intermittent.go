package alerts

import (
	"fmt"
	"strings"

	"github.com/tcp-verdict/tcp_verdict_exporter/mixin"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// mixedAttempts is the PromQL of the probes whose attempts (tcp.attempts >
// 1) ended in more than one class, one series per probe whose value is the
// number of classes; a probe of one attempt has no tcp_verdict_attempts
// and never appears.
func mixedAttempts(cfg mixin.Config) string {
	return fmt.Sprintf("count without (class) (tcp_verdict_attempts{%s} > 0) > 1", cfg.Probe())
}

// unlessMixed holds back a verdict join (evidenceJoin's labels) for a probe
// whose attempts disagree: TCPVerdictIntermittent speaks for it, alone.
func unlessMixed(cfg mixin.Config, expr string) string {
	return fmt.Sprintf("(\n  %s\n)\nunless ignoring (class, reason, responder)\n  (%s)", expr, mixedAttempts(cfg))
}

// attemptCounts is a template that sets $counts to the alert's probe's
// attempts above 0, by class: "4 connected, 4 firewall".
func attemptCounts() string {
	return targetSel("class") + // the alert has no class label: every label names the probe
		`{{- $counts := "" }}{{ range sortByLabel "class" (query (printf "tcp_verdict_attempts{%s} > 0" $sel)) }}` +
		`{{ if $counts }}{{ $counts = printf "%s, " $counts }}{{ end }}{{ $counts = printf "%s%.0f %s" $counts .Value .Labels.class }}{{ end -}}`
}

// failingEvidence is a template line naming the failing attempts' verdict:
// the probe's tcp_verdict_info (a mixed probe's verdict is its failure).
func failingEvidence() string {
	return `{{ range query (printf "tcp_verdict_info{%s}" $sel) }}The failing attempts: {{ .Labels.class }}, reason {{ .Labels.reason }}{{ with .Labels.responder }} from {{ . }}{{ end }}.` + "\n{{ end }}"
}

// IntermittentRule fires, once per probe, for a probe whose attempts ended
// in more than one class: the path works for some flows and not others;
// not for a probe with an expected verdict, which the expectation alerts
// judge alone (UnlessExpectation), as they do its class alert.
// It goes to the network's team whatever the failing class is: the flows
// differ only in their source port, which is what a per-flow hash chooses
// by. Its value is the number of classes; the annotations name the counts
// and the failing attempts' evidence (queries at evaluation time).
func IntermittentRule(cfg mixin.Config) Rule {
	s := verdict.Intermittent()
	template(s.Meaning)
	var d strings.Builder
	d.WriteString(attemptCounts())
	d.WriteString("Probe of {{ $labels.instance }} (job {{ $labels.job }}){{ with $labels.vantage }} from vantage {{ . }}{{ end }}: " +
		s.Name + ": its attempts, each from its own source port, ended {{ $counts }}.\n")
	d.WriteString(failingEvidence())
	fmt.Fprintf(&d, "The failing flow's path trace (tcp.trace) ends where it dies: the probe with &debug=true shows it.\n")
	fmt.Fprintf(&d, "Who fixes it: %s; ask %s.", template(s.Owner), template(s.Ask))
	policy := cfg.Intermittent
	return Rule{
		Alert:  mixin.Intermittent,
		Expr:   mixedAttempts(cfg) + "\n" + UnlessExpectation(cfg),
		For:    policy.For,
		Labels: Labels{Severity: policy.Severity, Team: s.Team},
		Annotations: withURLs(cfg, mixin.Intermittent, Annotations{
			Summary:     attemptCounts() + "{{ $labels.instance }}: " + s.Name + ", attempts {{ $counts }}: " + template(s.Meaning),
			Description: d.String(),
		}),
	}
}
