package alerts

import (
	"fmt"

	"github.com/tcp-verdict/tcp_verdict_exporter/mixin"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// intermittentGroup tests IntermittentRule: a probe whose attempts are
// half connected, half firewall raises it, to the network's team, naming
// the counts, and not TCPVerdictFirewall; a probe whose attempts all fail
// raises TCPVerdictFirewall as a probe of one attempt does, and not
// TCPVerdictIntermittent; a split probe with an expected verdict raises
// neither; none is pending before its `for`.
func (u tests) intermittentGroup() testGroup {
	g := testGroup{Name: "attempts that disagree raise TCPVerdictIntermittent alone; attempts that agree read as one", Interval: "1m"}
	steady := func(v int) string { return fmt.Sprintf("%dx%d", v, u.steps) }
	fw := firstReason(verdict.Firewall)
	probe := func(instance string, counts map[verdict.Class]int) {
		g.InputSeries = append(g.InputSeries, u.stateSet(instance, map[verdict.Class]string{verdict.Firewall: steady(1)},
			infoSeries(instance, fw, "", steady(1)))...)
		for _, c := range verdict.Classes {
			g.InputSeries = append(g.InputSeries, series{
				fmt.Sprintf("tcp_verdict_attempts{job=%q,instance=%q,class=%q}", testJob, instance, c.Class), steady(counts[c.Class])})
		}
	}
	const mixed, dropped, expected = "mixed.example.net:443", "dropped.example.net:443", "expected-mixed.example.net:443"
	probe(mixed, map[verdict.Class]int{verdict.Connected: 4, verdict.Firewall: 4})
	probe(dropped, map[verdict.Class]int{verdict.Firewall: 8})
	// The same split with an expected verdict: the expectation alerts judge
	// it, so neither TCPVerdictIntermittent nor the class alert fires.
	probe(expected, map[verdict.Class]int{verdict.Connected: 4, verdict.Firewall: 4})
	g.InputSeries = append(g.InputSeries, series{
		fmt.Sprintf("tcp_verdict_expected{job=%q,instance=%q,expectation=%q}", testJob, expected, verdict.Firewall), steady(1)})

	s := verdict.Intermittent()
	policy := u.cfg.Intermittent
	want := expAlert{
		Labels: map[string]string{"job": testJob, "instance": mixed, "team": s.Team, "severity": policy.Severity},
		Annotations: withURLs(u.cfg, mixin.Intermittent, Annotations{
			Summary: fmt.Sprintf("%s: %s, attempts 4 %s, 4 %s: %s", mixed, s.Name, verdict.Connected, verdict.Firewall, s.Meaning),
			Description: fmt.Sprintf("Probe of %s (job %s): %s: its attempts, each from its own source port, ended 4 %s, 4 %s.\n"+
				"The failing attempts: %s, reason %s.\n"+
				"The failing flow's path trace (tcp.trace) ends where it dies: the probe with &debug=true shows it.\n"+
				"Who fixes it: %s; ask %s.", mixed, testJob, s.Name, verdict.Connected, verdict.Firewall, verdict.Firewall, fw.Reason, s.Owner, s.Ask),
		}),
	}
	firewall := testTarget{cfg: u.cfg, instance: dropped, class: verdict.Firewall.Info(), reason: fw}
	pending := minutes(policy.For) - 1
	fires := max(minutes(policy.For), minutes(u.cfg.Class(verdict.Firewall).For)) + 1
	g.AlertTests = append(g.AlertTests,
		alertTest{EvalTime: fmt.Sprintf("%dm", pending), AlertName: mixin.Intermittent, ExpAlerts: []expAlert{}},
		alertTest{EvalTime: fmt.Sprintf("%dm", fires), AlertName: mixin.Intermittent, ExpAlerts: []expAlert{want}},
		alertTest{EvalTime: fmt.Sprintf("%dm", fires), AlertName: mixin.AlertName(verdict.Firewall),
			ExpAlerts: []expAlert{{Labels: firewall.labels(), Annotations: firewall.annotations()}}},
		alertTest{EvalTime: fmt.Sprintf("%dm", fires), AlertName: mixin.PathBlocked, ExpAlerts: []expAlert{}},
	)
	return g
}
