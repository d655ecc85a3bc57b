package alerts

import (
	"fmt"

	"github.com/tcp-verdict/tcp_verdict_exporter/mixin"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// The promtool unit tests (`promtool test rules`) are generated too, so that
// every class's alert is tested firing and not firing, with every reason of
// the class, whenever the taxonomy grows. The expected annotations are built
// here from the taxonomy with plain string formatting, not from the rules'
// templates, so a template that picks the wrong reason's text fails.

const (
	testJob         = "tcp_verdict"
	testExporterJob = "tcp_verdict_exporter"
	testExporter    = "127.0.0.1:9765"
	// testAddress is the address dialled, on every tcp_verdict_info: the
	// class alerts match across it and do not copy it.
	testAddress = "198.51.100.7"
)

// tests generates the promtool unit tests of one config.
type tests struct {
	cfg   mixin.Config
	steps int // minutes of input per series
}

// newTests sizes the input: 15 minutes, or longer where a config's `for`
// needs it for an alert to fire, and, in the recovering groups, to fire
// before its instance recovers halfway through.
func newTests(cfg mixin.Config) tests {
	steps := 15
	for _, c := range mixin.Failing() {
		steps = max(steps, 2*(minutes(cfg.Class(c.Class).For)+2)+1)
	}
	for _, a := range mixin.ExporterAlerts {
		steps = max(steps, minutes(cfg.Exporter(a).For)+4)
	}
	steps = max(steps, minutes(cfg.PartialAddresses.For)+4)
	steps = max(steps, minutes(cfg.PathBlocked.For)+4)
	steps = max(steps, minutes(cfg.UnexpectedlyReachable.For)+4)
	steps = max(steps, max(minutes(cfg.Intermittent.For), minutes(cfg.Class(verdict.Firewall).For))+4)
	return tests{cfg: cfg, steps: steps}
}

type testFile struct {
	RuleFiles          []string    `yaml:"rule_files"`
	EvaluationInterval string      `yaml:"evaluation_interval"`
	Tests              []testGroup `yaml:"tests"`
}

type testGroup struct {
	Name        string      `yaml:"name"`
	Interval    string      `yaml:"interval"`
	InputSeries []series    `yaml:"input_series"`
	AlertTests  []alertTest `yaml:"alert_rule_test"`
}

type series struct {
	Series string `yaml:"series"`
	Values string `yaml:"values"`
}

type alertTest struct {
	EvalTime  string     `yaml:"eval_time"`
	AlertName string     `yaml:"alertname"`
	ExpAlerts []expAlert `yaml:"exp_alerts"`
}

type expAlert struct {
	Labels      map[string]string `yaml:"exp_labels"`
	Annotations Annotations       `yaml:"exp_annotations"`
}

// testTarget is one probed instance in the tests: its class and reason (or,
// for a recovering target, the class it had before it recovered).
type testTarget struct {
	cfg       mixin.Config
	instance  string
	class     verdict.ClassInfo
	reason    verdict.ReasonInfo
	responder string
	vantages  string // the vantages the description lists, if any
}

func (t testTarget) labels() map[string]string {
	l := map[string]string{"job": testJob, "instance": t.instance, "class": string(t.class.Class), "reason": string(t.reason.Reason)}
	if t.responder != "" {
		l["responder"] = t.responder
	}
	l["team"], l["severity"] = t.class.Team, t.cfg.Class(t.class.Class).Severity
	return l
}

// annotations is what ClassRule's templates must render for t.
func (t testTarget) annotations() Annotations {
	from := ""
	if t.responder != "" {
		from = " from " + t.responder
	}
	vantages := ""
	if t.vantages != "" {
		vantages = " from vantages " + t.vantages
	}
	return withURLs(t.cfg, mixin.AlertName(t.class.Class), Annotations{
		Summary: fmt.Sprintf("%s: %s: %s", t.instance, t.class.Class, t.class.Meaning),
		Description: fmt.Sprintf("Probe of %s (job %s)%s: %s, reason %s%s.\nEvidence: %s\nWho fixes it: %s; %s.",
			t.instance, testJob, vantages, t.class.Class, t.reason.Reason, from, t.reason.Text(), t.class.Owner, ask(t.class)),
	})
}

// stateSet is the input series of one probed instance: tcp_verdict for
// every class, with values[class] (the default is '0xN'), and its
// tcp_verdict_info series.
func (u tests) stateSet(instance string, values map[verdict.Class]string, info ...series) []series {
	var out []series
	for _, c := range verdict.Classes {
		v, ok := values[c.Class]
		if !ok {
			v = fmt.Sprintf("0x%d", u.steps)
		}
		out = append(out, series{Series: fmt.Sprintf("tcp_verdict{job=%q,instance=%q,class=%q}", testJob, instance, c.Class), Values: v})
	}
	return append(out, info...)
}

func infoSeries(instance string, r verdict.ReasonInfo, responder, values string) series {
	return series{
		Series: fmt.Sprintf("tcp_verdict_info{job=%q,instance=%q,address=%q,class=%q,reason=%q,responder=%q}", testJob, instance, testAddress, r.Class, r.Reason, responder),
		Values: values,
	}
}

// minutes is a `for` of the config in minutes; Config.Validate has
// checked that it is a whole number of them.
func minutes(d string) int {
	m, err := mixin.Minutes(d)
	if err != nil {
		panic("alerts: " + err.Error() + " (call Config.Validate first)")
	}
	return m
}

// TestsYAML renders the promtool unit tests of RulesYAML. They probe jobs
// named tcp_verdict and tcp_verdict_exporter, so they pass for a config
// whose selectors pick those jobs (the default's do).
func TestsYAML(cfg mixin.Config) []byte {
	f := testFile{RuleFiles: []string{RulesFile}, EvaluationInterval: "1m"}
	u := newTests(cfg)
	f.Tests = append(f.Tests, u.everyReasonGroup(), u.recoveryGroup(), u.expectationGroup(), u.partialGroup(), u.vantageGroup(), u.expectedVerdictGroup(), u.intermittentGroup())
	f.Tests = append(f.Tests, u.exporterGroups()...)
	return render(f)
}

// everyReasonGroup: one steady instance per reason of every class,
// connected included. Each class's alert stays pending before its `for`,
// then fires for exactly the instances of its class, with each reason's
// text, and never for a connected one.
func (u tests) everyReasonGroup() testGroup {
	g := testGroup{Name: "every reason's instance alerts its class's team, once its for: has passed", Interval: "1m"}
	steady := fmt.Sprintf("1x%d", u.steps)
	byClass := map[verdict.Class][]testTarget{}
	for i, r := range verdict.Reasons {
		t := testTarget{cfg: u.cfg, instance: string(r.Reason) + ".example.net:443", class: r.Class.Info(), reason: r}
		if i%2 == 0 { // both template branches: with and without a responder
			t.responder = fmt.Sprintf("192.0.2.%d", i+1)
		}
		byClass[r.Class] = append(byClass[r.Class], t)
		g.InputSeries = append(g.InputSeries, u.stateSet(t.instance, map[verdict.Class]string{r.Class: steady},
			infoSeries(t.instance, r, t.responder, steady))...)
	}
	for _, c := range mixin.Failing() {
		name := mixin.AlertName(c.Class)
		pending := minutes(u.cfg.Class(c.Class).For) - 1
		g.AlertTests = append(g.AlertTests, alertTest{EvalTime: fmt.Sprintf("%dm", pending), AlertName: name, ExpAlerts: []expAlert{}})
		var exp []expAlert
		for _, t := range byClass[c.Class] {
			exp = append(exp, expAlert{Labels: t.labels(), Annotations: t.annotations()})
		}
		g.AlertTests = append(g.AlertTests, alertTest{EvalTime: fmt.Sprintf("%dm", pending+2), AlertName: name, ExpAlerts: exp})
	}
	// With verdicts present, probes are running and the exporter is fine;
	// without a vantage label no path is blocked.
	for _, name := range []string{mixin.PathBlocked, mixin.ProbesAbsent, mixin.ExporterDown, mixin.ProbeScrapeFailed, mixin.ExporterConfigReloadFailed} {
		g.AlertTests = append(g.AlertTests, alertTest{EvalTime: fmt.Sprintf("%dm", u.steps-1), AlertName: name, ExpAlerts: []expAlert{}})
	}
	return g
}

// recoveryGroup: one instance per failing class that fails for half the
// window, then is connected (its info series goes stale). The alert fires
// while it fails and is gone once it is connected.
func (u tests) recoveryGroup() testGroup {
	g := testGroup{Name: "an alert ends when its instance is connected again", Interval: "1m"}
	half := u.steps / 2
	connectedReason := firstReason(verdict.Connected)
	for _, c := range mixin.Failing() {
		r := firstReason(c.Class)
		t := testTarget{cfg: u.cfg, instance: "recovering-" + string(r.Reason) + ".example.net:443", class: c, reason: r, responder: "192.0.2.200"}
		g.InputSeries = append(g.InputSeries, u.stateSet(t.instance,
			map[verdict.Class]string{
				c.Class:           fmt.Sprintf("1x%d 0x%d", half, u.steps-half-1),
				verdict.Connected: fmt.Sprintf("0x%d 1x%d", half, u.steps-half-1),
			},
			infoSeries(t.instance, r, t.responder, fmt.Sprintf("1x%d stale", half)),
			infoSeries(t.instance, connectedReason, t.responder, fmt.Sprintf("_x%d 1x%d", half+1, u.steps-half-1)),
		)...)
		name := mixin.AlertName(c.Class)
		if minutes(u.cfg.Class(c.Class).For) < half {
			g.AlertTests = append(g.AlertTests, alertTest{EvalTime: fmt.Sprintf("%dm", half), AlertName: name,
				ExpAlerts: []expAlert{{Labels: t.labels(), Annotations: t.annotations()}}})
		}
		g.AlertTests = append(g.AlertTests, alertTest{EvalTime: fmt.Sprintf("%dm", half+1), AlertName: name, ExpAlerts: []expAlert{}})
	}
	return g
}

// expectationGroup tests ExpectationFailed. It fires for a connected probe
// that failed, saying "expectation" or "TLS" by probe_failed_due_to_regex,
// and is pending before its `for`. It does not fire for a connected probe
// that succeeded, the same instance probed by another module included; nor
// for any failing class, even with probe_failed_due_to_regex set (an
// `expect` that meets a FIN is closed_by_peer): that class's alert fires
// instead. It ends when the probe succeeds again.
func (u tests) expectationGroup() testGroup {
	g := testGroup{Name: "a connected target whose probe failed an expectation or TLS alerts the service's team", Interval: "1m"}
	half := u.steps / 2
	steady := func(v int) string { return fmt.Sprintf("%dx%d", v, u.steps) }
	recovering := fmt.Sprintf("0x%d 1x%d", half, u.steps-half-1)
	regexUntilRecovered := fmt.Sprintf("1x%d 0x%d", half, u.steps-half-1)

	// probe is the input of one probe: its state set, evidence, probe_success
	// and probe_failed_due_to_regex, with a module label unless empty.
	probe := func(instance, module string, r verdict.ReasonInfo, success, regex string) {
		sel := fmt.Sprintf("job=%q,instance=%q", testJob, instance)
		if module != "" {
			sel += fmt.Sprintf(",module=%q", module)
		}
		for _, c := range verdict.Classes {
			v := steady(0)
			if c.Class == r.Class {
				v = steady(1)
			}
			g.InputSeries = append(g.InputSeries, series{fmt.Sprintf("tcp_verdict{%s,class=%q}", sel, c.Class), v})
		}
		g.InputSeries = append(g.InputSeries,
			series{fmt.Sprintf("tcp_verdict_info{%s,address=%q,class=%q,reason=%q,responder=\"\"}", sel, testAddress, r.Class, r.Reason), steady(1)},
			series{fmt.Sprintf("probe_success{%s}", sel), success},
			series{fmt.Sprintf("probe_failed_due_to_regex{%s}", sel), regex})
	}
	rule := ExpectationRule(u.cfg)
	// failure adds the probe's tcp_session_failure_info series.
	failure := func(instance, module string, c verdict.Cause) {
		g.InputSeries = append(g.InputSeries, series{fmt.Sprintf("tcp_session_failure_info{job=%q,instance=%q,module=%q,cause=%q,phase=%q}",
			testJob, instance, module, c, c.Info().Phase), steady(1)})
	}
	// expect is what ExpectationRule's templates must render; cause is the
	// probe's failure cause, if it has a tcp_session_failure_info series.
	expect := func(instance, module string, regex bool, cause verdict.Cause) expAlert {
		l := map[string]string{"job": testJob, "instance": instance, "severity": rule.Labels.Severity, "team": rule.Labels.Team}
		ofModule := ""
		if module != "" {
			l["module"] = module
			ofModule = ", module " + module
		}
		summary, text := SessionSummary, SessionText
		if regex {
			summary, text = ExpectationSummary, ExpectationText
		}
		causeText := ""
		if cause != "" {
			causeText = fmt.Sprintf("Failure cause: %s (phase %s).\n", cause, cause.Info().Phase)
		}
		return expAlert{Labels: l, Annotations: withURLs(u.cfg, mixin.ExpectationFailed, Annotations{
			Summary: fmt.Sprintf("%s: %s, but %s", instance, verdict.Connected, summary),
			Description: fmt.Sprintf("Probe of %s (job %s%s): %s, yet the probe failed.\n%s.\n%s"+
				"The probe with &debug=true shows what the service sent and why the probe failed.\n"+
				"Who fixes it: %s, if the service's answer or certificate changed; %s, if the module's expectation or TLS settings are wrong.",
				instance, testJob, ofModule, verdict.Connected, text, causeText, verdict.ClosedByPeer.Info().Owner, verdict.Error.Info().Owner),
		})}
	}

	connected := firstReason(verdict.Connected)
	const banner, starttls, recover = "banner.example.net:22", "mail.example.net:25", "recovering-banner.example.net:22"
	probe(banner, "ssh_banner", connected, steady(0), steady(1))      // expect not met
	probe(starttls, "smtp_starttls", connected, steady(0), steady(0)) // TLS failed
	probe(starttls, "tcp", connected, steady(1), steady(0))           // the same instance, another module: fine
	// The causes of those two; the other module's failure says nothing
	// about this one (it must not leak into its alert).
	failure(banner, "ssh_banner", verdict.CauseExpectTimeout)
	failure(starttls, "smtp_starttls", verdict.CauseUnknownAuthority)
	probe("fine.example.net:443", "", connected, steady(1), steady(0))
	probe(recover, "ssh_banner", connected, recovering, regexUntilRecovered)
	for _, c := range mixin.Failing() {
		r := firstReason(c.Class)
		t := testTarget{cfg: u.cfg, instance: "failing-" + string(r.Reason) + ".example.net:443", class: c, reason: r}
		probe(t.instance, "", r, steady(0), steady(1))
		fires := minutes(u.cfg.Class(c.Class).For) + 1
		g.AlertTests = append(g.AlertTests, alertTest{EvalTime: fmt.Sprintf("%dm", fires), AlertName: mixin.AlertName(c.Class),
			ExpAlerts: []expAlert{{Labels: t.labels(), Annotations: t.annotations()}}})
	}

	pending := minutes(rule.For) - 1
	failing := []expAlert{expect(banner, "ssh_banner", true, verdict.CauseExpectTimeout), expect(starttls, "smtp_starttls", false, verdict.CauseUnknownAuthority)}
	g.AlertTests = append(g.AlertTests,
		alertTest{EvalTime: fmt.Sprintf("%dm", pending), AlertName: mixin.ExpectationFailed, ExpAlerts: []expAlert{}},
		alertTest{EvalTime: fmt.Sprintf("%dm", pending+2), AlertName: mixin.ExpectationFailed,
			ExpAlerts: append(append([]expAlert{}, failing...), expect(recover, "ssh_banner", true, ""))},
		alertTest{EvalTime: fmt.Sprintf("%dm", half+1), AlertName: mixin.ExpectationFailed, ExpAlerts: failing},
	)
	return g
}

// partialGroup tests the alerts for some addresses of a name failing: per
// failing class, a connected target one of whose addresses has that class
// (it fires, once, for that address, to the class's team), and a target
// all of whose addresses have it (the class's own alert covers it: no
// partial alert). Each is pending before its `for`.
func (u tests) partialGroup() testGroup {
	g := testGroup{Name: "some addresses of a connected target fail: the failing class's team is told which", Interval: "1m"}
	steady := fmt.Sprintf("1x%d", u.steps)
	address := func(instance, addr string, r verdict.ReasonInfo, responder string) series {
		return series{fmt.Sprintf("tcp_address_verdict_info{job=%q,instance=%q,address=%q,class=%q,reason=%q,responder=%q}",
			testJob, instance, addr, r.Class, r.Reason, responder), steady}
	}
	connected := firstReason(verdict.Connected)
	policy := u.cfg.PartialAddresses
	for i, c := range mixin.PartialFailing() {
		r := firstReason(c.Class)
		partly, wholly := "partly-"+string(r.Reason)+".example.net:443", "wholly-"+string(r.Reason)+".example.net:443"
		good, bad := fmt.Sprintf("192.0.2.%d", 2*i+1), fmt.Sprintf("2001:db8::%d", 2*i+2)
		responder := ""
		if i%2 == 0 { // both template branches: with and without a responder
			responder = bad
		}
		g.InputSeries = append(g.InputSeries, u.stateSet(partly, map[verdict.Class]string{verdict.Connected: steady},
			infoSeries(partly, connected, good, steady),
			address(partly, good, connected, good), address(partly, bad, r, responder))...)
		g.InputSeries = append(g.InputSeries, u.stateSet(wholly, map[verdict.Class]string{c.Class: steady},
			infoSeries(wholly, r, responder, steady),
			address(wholly, good, r, responder), address(wholly, bad, r, responder))...)

		l := map[string]string{"job": testJob, "instance": partly, "address": bad, "class": string(c.Class), "reason": string(r.Reason),
			"team": c.Team, "severity": policy.Severity}
		from := ""
		if responder != "" {
			l["responder"], from = responder, " from "+responder
		}
		name := mixin.PartialAlertName(c.Class)
		want := expAlert{Labels: l, Annotations: withURLs(u.cfg, name, Annotations{
			Summary: fmt.Sprintf("%s: address %s is %s while the target connects", partly, bad, c.Class),
			Description: fmt.Sprintf("Probe of %s (job %s): the target connects, but its address %s is %s, reason %s%s.\nEvidence: %s\n"+
				"Clients that try this address first and give up, or only this one, fail: %s.\nWho fixes it: %s; %s.",
				partly, testJob, bad, c.Class, r.Reason, from, r.Text(), c.Meaning, c.Owner, ask(c)),
		})}
		pending := minutes(policy.For) - 1
		g.AlertTests = append(g.AlertTests,
			alertTest{EvalTime: fmt.Sprintf("%dm", pending), AlertName: name, ExpAlerts: []expAlert{}},
			alertTest{EvalTime: fmt.Sprintf("%dm", pending+2), AlertName: name, ExpAlerts: []expAlert{want}})
	}
	return g
}

func firstReason(c verdict.Class) verdict.ReasonInfo {
	for _, r := range verdict.Reasons {
		if r.Class == c {
			return r
		}
	}
	panic("alerts: class " + string(c) + " has no reason")
}

// exporterGroups test the exporter-health alerts, each firing for the
// broken instance only. Their expected annotations are written out here,
// not rendered from the rules' templates, so a template that says the
// wrong thing fails.
func (u tests) exporterGroups() []testGroup {
	broken, fine := testExporter, "127.0.0.2:9765"
	target, fineTarget := "db.example.net:5432", "www.example.net:443"
	owner := verdict.Error.Info().Owner
	expect := func(name string, labels map[string]string, summary, description string) expAlert {
		p := u.cfg.Exporter(name)
		l := map[string]string{"severity": p.Severity, "team": ExporterTeam()}
		for k, v := range labels {
			l[k] = v
		}
		return expAlert{Labels: l, Annotations: withURLs(u.cfg, name, Annotations{Summary: summary, Description: description})}
	}
	exporterLabels := map[string]string{"job": testExporterJob, "instance": broken}
	want := map[string]expAlert{
		mixin.ExporterDown: expect(mixin.ExporterDown, exporterLabels,
			"tcp_verdict_exporter 127.0.0.1:9765 is down",
			"Prometheus cannot scrape the exporter's own metrics at 127.0.0.1:9765 (job tcp_verdict_exporter).\n"+
				"While it is down no target it probes has a verdict, so no verdict alert can fire.\n"+
				"Who fixes it: "+owner+"."),
		mixin.ExporterConfigReloadFailed: expect(mixin.ExporterConfigReloadFailed, exporterLabels,
			"tcp_verdict_exporter 127.0.0.1:9765: configuration reload failed",
			"The last reload of the module file of the exporter at 127.0.0.1:9765 (job tcp_verdict_exporter) failed; it keeps probing with the configuration it had.\n"+
				"The exporter's log names the key and line (or run it with --config.check).\n"+
				"Who fixes it: "+owner+"."),
		mixin.ProbeScrapeFailed: expect(mixin.ProbeScrapeFailed, map[string]string{"job": testJob, "instance": target},
			"db.example.net:5432: no verdict, the probe scrape fails",
			"Prometheus gets no answer from the exporter for the probe of db.example.net:5432 (job tcp_verdict): the exporter is down or unreachable, or the probe outlasts the scrape timeout.\n"+
				"A failed probe is still an answer (with its verdict); this is the exporter not answering at all, so the target's state is unknown.\n"+
				"Who fixes it: "+owner+"."),
		mixin.ProbesAbsent: expect(mixin.ProbesAbsent, map[string]string{},
			"No TCP verdict at all: probes are not running",
			"Prometheus has no tcp_verdict series: no probe job scrapes the exporter's /probe, the job lost its targets, or every probe scrape fails.\n"+
				"No verdict alert can fire until probes run again.\n"+
				"Who fixes it: "+owner+"."),
		mixin.ExporterConntrackFilling: expect(mixin.ExporterConntrackFilling, exporterLabels,
			"tcp_verdict_exporter 127.0.0.1:9765: its host's conntrack table is 88.5% full",
			"The connection tracking table of the host that runs the exporter at 127.0.0.1:9765 (job tcp_verdict_exporter) is 88.5% full.\n"+
				"When it is full, that host's kernel drops new SYNs before they leave: every silent probe then says error/local-error, and nothing about the network.\n"+
				"Every probe leaves an entry for about two minutes (entries ≈ probes per second × the kernel's timeouts): raise net.netfilter.nf_conntrack_max, exempt the probes from tracking, or probe less often.\n"+
				"Who fixes it: "+owner+"."),
	}
	dropAfter2 := fmt.Sprintf("1 1 0x%d", u.steps-2)
	steady := fmt.Sprintf("1x%d", u.steps)
	info := func(instance string, values string) series {
		return infoSeries(instance, firstReason(verdict.Connected), "", values)
	}

	health := testGroup{Name: "exporter health: down, failed reload, failing probe scrapes", Interval: "1m",
		InputSeries: []series{
			{fmt.Sprintf("up{job=%q,instance=%q}", testExporterJob, broken), dropAfter2},
			{fmt.Sprintf("up{job=%q,instance=%q}", testExporterJob, fine), steady},
			{fmt.Sprintf("tcp_verdict_exporter_build_info{job=%q,instance=%q,version=\"0.1.0\"}", testExporterJob, broken), "1 1 stale"},
			{fmt.Sprintf("tcp_verdict_exporter_build_info{job=%q,instance=%q,version=\"0.1.0\"}", testExporterJob, fine), steady},
			{fmt.Sprintf("tcp_verdict_exporter_config_last_reload_successful{job=%q,instance=%q}", testExporterJob, broken), dropAfter2},
			{fmt.Sprintf("tcp_verdict_exporter_config_last_reload_successful{job=%q,instance=%q}", testExporterJob, fine), steady},
			// A job that is not the exporter's: its up == 0 is not ours.
			{fmt.Sprintf("up{job=\"node\",instance=%q}", "127.0.0.1:9100"), fmt.Sprintf("0x%d", u.steps)},
			{fmt.Sprintf("up{job=%q,instance=%q}", testJob, target), dropAfter2},
			{fmt.Sprintf("up{job=%q,instance=%q}", testJob, fineTarget), steady},
		},
	}
	health.InputSeries = append(health.InputSeries, u.stateSet(target, map[verdict.Class]string{verdict.Connected: "1 1 stale"}, info(target, "1 1 stale"))...)
	health.InputSeries = append(health.InputSeries, u.stateSet(fineTarget, map[verdict.Class]string{verdict.Connected: steady}, info(fineTarget, steady))...)
	for _, name := range []string{mixin.ExporterDown, mixin.ExporterConfigReloadFailed, mixin.ProbeScrapeFailed} {
		fires := 2 + minutes(u.cfg.Exporter(name).For) // the value drops at 2m
		health.AlertTests = append(health.AlertTests,
			alertTest{EvalTime: fmt.Sprintf("%dm", fires-1), AlertName: name, ExpAlerts: []expAlert{}},
			alertTest{EvalTime: fmt.Sprintf("%dm", fires+1), AlertName: name, ExpAlerts: []expAlert{want[name]}})
	}

	// The exporter stays down for two hours: the alert keeps firing (it
	// needs no sign of the exporter from the last hour).
	const longOutage = 120
	down := testGroup{Name: "an exporter that stays down keeps its alert firing", Interval: "1m",
		InputSeries: []series{
			{fmt.Sprintf("up{job=%q,instance=%q}", testExporterJob, broken), fmt.Sprintf("1 1 0x%d", longOutage)},
			{fmt.Sprintf("tcp_verdict_exporter_build_info{job=%q,instance=%q,version=\"0.1.0\"}", testExporterJob, broken), "1 1 stale"},
		},
		AlertTests: []alertTest{{EvalTime: fmt.Sprintf("%dm", longOutage), AlertName: mixin.ExporterDown, ExpAlerts: []expAlert{want[mixin.ExporterDown]}}},
	}

	absentFor := minutes(u.cfg.Exporter(mixin.ProbesAbsent).For)
	absent := testGroup{Name: "no verdict at all: probes are not running", Interval: "1m",
		InputSeries: []series{{fmt.Sprintf("up{job=%q,instance=%q}", testExporterJob, fine), steady}},
		AlertTests: []alertTest{
			{EvalTime: fmt.Sprintf("%dm", absentFor-1), AlertName: mixin.ProbesAbsent, ExpAlerts: []expAlert{}},
			{EvalTime: fmt.Sprintf("%dm", absentFor+1), AlertName: mixin.ProbesAbsent, ExpAlerts: []expAlert{want[mixin.ProbesAbsent]}},
		},
	}
	// One exporter's host fills its conntrack table past the threshold at
	// 2m (58000 of 65536: 88.5%); the other's stays at a tenth.
	fillFor := minutes(u.cfg.Exporter(mixin.ExporterConntrackFilling).For)
	limit := fmt.Sprintf("65536x%d", u.steps)
	conntrack := testGroup{Name: "the exporter host's conntrack table fills", Interval: "1m",
		InputSeries: []series{
			{fmt.Sprintf("tcp_verdict_exporter_conntrack_entries{job=%q,instance=%q}", testExporterJob, broken), fmt.Sprintf("30000 30000 58000x%d", u.steps-2)},
			{fmt.Sprintf("tcp_verdict_exporter_conntrack_entries_limit{job=%q,instance=%q}", testExporterJob, broken), limit},
			{fmt.Sprintf("tcp_verdict_exporter_conntrack_entries{job=%q,instance=%q}", testExporterJob, fine), fmt.Sprintf("6553x%d", u.steps)},
			{fmt.Sprintf("tcp_verdict_exporter_conntrack_entries_limit{job=%q,instance=%q}", testExporterJob, fine), limit},
		},
		AlertTests: []alertTest{
			{EvalTime: fmt.Sprintf("%dm", 2+fillFor-1), AlertName: mixin.ExporterConntrackFilling, ExpAlerts: []expAlert{}},
			{EvalTime: fmt.Sprintf("%dm", 2+fillFor+1), AlertName: mixin.ExporterConntrackFilling, ExpAlerts: []expAlert{want[mixin.ExporterConntrackFilling]}},
		},
	}
	return []testGroup{health, down, absent, conntrack}
}

// vantageGroup tests the alerts across vantages. Each probe carries a
// `vantage` label, and its tcp_verdict_info an `address` label the rules do
// not know, which must not break their matching. A target failing from
// every vantage with the same evidence alerts its class once, naming the
// vantages; one connected from some vantages and failing from others with
// a path class raises TCPVerdictPathBlocked per failing vantage, naming
// the vantages where it works, and not its class's alert; mixed failures
// with no vantage connecting alert each class; a class that is not a path
// class (closed_by_peer) keeps its own alert when another vantage
// connects.
func (u tests) vantageGroup() testGroup {
	g := testGroup{Name: "vantages: one alert per target and evidence; a path blocked from some vantages goes to the network team", Interval: "1m"}
	steady := fmt.Sprintf("1x%d", u.steps)
	probe := func(instance, vantage string, r verdict.ReasonInfo, responder string) {
		for _, c := range verdict.Classes {
			v := fmt.Sprintf("0x%d", u.steps)
			if c.Class == r.Class {
				v = steady
			}
			g.InputSeries = append(g.InputSeries, series{fmt.Sprintf("tcp_verdict{job=%q,instance=%q,vantage=%q,class=%q}", testJob, instance, vantage, c.Class), v})
		}
		g.InputSeries = append(g.InputSeries, series{fmt.Sprintf("tcp_verdict_info{job=%q,instance=%q,vantage=%q,class=%q,reason=%q,responder=%q,address=\"192.0.2.80\"}",
			testJob, instance, vantage, r.Class, r.Reason, responder), steady})
	}
	refused, noResponse, adminProhibited := firstReason(verdict.Refused), firstReason(verdict.Firewall), verdict.AdminProhibited.Info()
	connected, fin := firstReason(verdict.Connected), firstReason(verdict.ClosedByPeer)
	const everywhere, split, splitRefused, mixed, service = "everywhere.example.net:443", "split.example.net:443", "split-refused.example.net:443", "mixed.example.net:443", "allow-list.example.net:443"
	const a, b, c, router = "dc-a", "dc-b", "dc-c", "192.0.2.1"
	probe(everywhere, a, refused, "192.0.2.80")
	probe(everywhere, b, refused, "192.0.2.80")
	probe(split, a, noResponse, "")
	probe(split, b, connected, "192.0.2.80")
	probe(split, c, connected, "192.0.2.80")
	probe(splitRefused, a, connected, "192.0.2.80")
	probe(splitRefused, b, refused, "192.0.2.80")
	probe(mixed, a, adminProhibited, router)
	probe(mixed, b, refused, "192.0.2.80")
	probe(service, a, fin, "192.0.2.80")
	probe(service, b, connected, "192.0.2.80")

	class := func(instance string, r verdict.ReasonInfo, responder, vantages string) expAlert {
		t := testTarget{cfg: u.cfg, instance: instance, class: r.Class.Info(), reason: r, responder: responder, vantages: vantages}
		return expAlert{Labels: t.labels(), Annotations: t.annotations()}
	}
	network := verdict.Firewall.Info()
	blocked := func(instance, vantage string, r verdict.ReasonInfo, responder, working string) expAlert {
		l := map[string]string{"job": testJob, "instance": instance, "vantage": vantage, "class": string(r.Class), "reason": string(r.Reason),
			"team": network.Team, "severity": u.cfg.PathBlocked.Severity}
		from := ""
		if responder != "" {
			l["responder"], from = responder, " from "+responder
		}
		return expAlert{Labels: l, Annotations: withURLs(u.cfg, mixin.PathBlocked, Annotations{
			Summary: fmt.Sprintf("%s: %s from vantage %s, connected from others: the path is blocked", instance, r.Class, vantage),
			Description: fmt.Sprintf("Probe of %s (job %s) from vantage %s: %s, reason %s%s.\nEvidence: %s\nConnected from vantages %s: %s.\nWho fixes it: %s; ask %s.",
				instance, testJob, vantage, r.Class, r.Reason, from, r.Text(), working, PathBlockedMeaning, network.Owner, network.AskFor("vantage "+vantage)),
		})}
	}
	fires := func(p mixin.Policy) string { return fmt.Sprintf("%dm", minutes(p.For)+1) }
	g.AlertTests = []alertTest{
		{EvalTime: fmt.Sprintf("%dm", minutes(u.cfg.PathBlocked.For)-1), AlertName: mixin.PathBlocked, ExpAlerts: []expAlert{}},
		{EvalTime: fires(u.cfg.PathBlocked), AlertName: mixin.PathBlocked, ExpAlerts: []expAlert{
			blocked(split, a, noResponse, "", b+", "+c),
			blocked(splitRefused, b, refused, "192.0.2.80", a),
		}},
		{EvalTime: fires(u.cfg.Class(verdict.Refused)), AlertName: mixin.AlertName(verdict.Refused), ExpAlerts: []expAlert{
			class(everywhere, refused, "192.0.2.80", a+", "+b),
			class(mixed, refused, "192.0.2.80", b),
		}},
		{EvalTime: fires(u.cfg.Class(verdict.Firewall)), AlertName: mixin.AlertName(verdict.Firewall), ExpAlerts: []expAlert{
			class(mixed, adminProhibited, router, a),
		}},
		{EvalTime: fires(u.cfg.Class(verdict.ClosedByPeer)), AlertName: mixin.AlertName(verdict.ClosedByPeer), ExpAlerts: []expAlert{
			class(service, fin, "192.0.2.80", a),
		}},
		{EvalTime: fires(u.cfg.Class(verdict.Unreachable)), AlertName: mixin.AlertName(verdict.Unreachable), ExpAlerts: []expAlert{}},
	}
	return g
}

// expectedVerdictGroup tests the expectation alerts, per vantage, as
// docs/expectations.md promises them: a probe expected blocked that is
// dropped pages nobody; one expected blocked that connects or is refused
// raises TCPVerdictUnexpectedlyReachable to security and nothing else; one
// expected reachable that is dropped raises TCPVerdictUnexpected to the
// network team and not TCPVerdictFirewall; a target blocked from one
// vantage and open from another, each as expected, raises nothing (no
// TCPVerdictPathBlocked); a port expected refused that connects goes to
// security as unexpected; an expected reachable target whose session fails
// its query still raises TCPVerdictExpectationFailed, a breach whose
// session fails does not; and a probe without an
// expectation next to them still raises its class's alert.
func (u tests) expectedVerdictGroup() testGroup {
	g := testGroup{Name: "expected verdicts: a breach goes to security, any other mismatch to the found class's team, an expected verdict to nobody", Interval: "1m"}
	steady := func(v int) string { return fmt.Sprintf("%dx%d", v, u.steps) }
	blocked := verdict.AliasExpectation(verdict.AliasBlocked).String()
	reachable := verdict.AliasExpectation(verdict.AliasReachable).String()
	refusedOnly := verdict.ExpectationOf(verdict.Refused).String()
	// probe is the input of one probe from a vantage: its state set,
	// evidence, and tcp_verdict_expected when it has an expectation; the
	// file_sd label `expect` rides on every series, as the docs wire it.
	probe := func(instance, vantage string, r verdict.ReasonInfo, expectation string, expected bool, success, regex int) {
		sel := fmt.Sprintf("job=%q,instance=%q,vantage=%q", testJob, instance, vantage)
		if expectation != "" {
			sel += fmt.Sprintf(",expect=%q", expectation)
		}
		for _, c := range verdict.Classes {
			v := steady(0)
			if c.Class == r.Class {
				v = steady(1)
			}
			g.InputSeries = append(g.InputSeries, series{fmt.Sprintf("tcp_verdict{%s,class=%q}", sel, c.Class), v})
		}
		g.InputSeries = append(g.InputSeries,
			series{fmt.Sprintf("tcp_verdict_info{%s,address=%q,class=%q,reason=%q,responder=%q}", sel, testAddress, r.Class, r.Reason, testAddress), steady(1)},
			series{fmt.Sprintf("probe_success{%s}", sel), steady(success)},
			series{fmt.Sprintf("probe_failed_due_to_regex{%s}", sel), steady(regex)})
		if expectation != "" {
			v := 0
			if expected {
				v = 1
			}
			g.InputSeries = append(g.InputSeries, series{fmt.Sprintf("tcp_verdict_expected{%s,expectation=%q}", sel, expectation), steady(v)})
		}
	}
	connected, refused, drop := firstReason(verdict.Connected), firstReason(verdict.Refused), firstReason(verdict.Firewall)
	const (
		dropped  = "db.example.net:5432"      // expected blocked, dropped: fine
		open     = "db-open.example.net:5432" // expected blocked, connects: breach
		refusing = "db-rst.example.net:5432"  // expected blocked, refused: breach
		lost     = "app.example.net:443"      // expected reachable, dropped: unexpected
		split    = "mgmt.example.net:22"      // blocked from dmz, open from ops, both expected
		shut     = "old.example.net:23"       // expected refused (decommissioned), connects
		plain    = "plain.example.net:443"    // no expectation, dropped: the class alert
		halfway  = "legacy.example.net:8080"  // refused from both vantages, expected so from one
		banner   = "ssh.example.net:22"       // expected reachable, connects, fails its expect
		dmz, ops = "dmz", "ops"
	)
	probe(dropped, dmz, drop, blocked, true, 1, 0)
	probe(open, dmz, connected, blocked, false, 0, 1) // and its banner is wrong: one alert all the same
	probe(refusing, dmz, refused, blocked, false, 0, 0)
	probe(lost, dmz, drop, reachable, false, 0, 0)
	probe(split, dmz, drop, blocked, true, 1, 0)
	probe(split, ops, connected, reachable, true, 1, 0)
	probe(shut, ops, connected, refusedOnly, false, 0, 0)
	probe(plain, dmz, drop, "", false, 0, 0)
	probe(banner, ops, connected, reachable, true, 0, 1)  // reachable as expected, but its answer is wrong
	probe(halfway, dmz, refused, refusedOnly, true, 1, 0) // refused as expected from dmz
	probe(halfway, ops, refused, "", false, 0, 0)         // and with no expectation from ops: its alert names ops alone

	// want is what the expectation rules' templates must render.
	want := func(alert, instance, vantage, expectation string, r verdict.ReasonInfo, team string, p mixin.Policy) expAlert {
		l := map[string]string{"job": testJob, "instance": instance, "vantage": vantage, "expect": expectation, "expectation": expectation,
			"class": string(r.Class), "reason": string(r.Reason), "responder": testAddress, "team": team, "severity": p.Severity}
		head := fmt.Sprintf("Probe of %s (job %s) from vantage %s: expected %s, found %s, reason %s from %s.\n", instance, testJob, vantage, expectation, r.Class, r.Reason, testAddress)
		if alert == mixin.UnexpectedlyReachable {
			return expAlert{Labels: l, Annotations: withURLs(u.cfg, alert, Annotations{
				Summary: fmt.Sprintf("%s: reachable (%s) from vantage %s, expected %s: segmentation breach", instance, r.Class, vantage, expectation),
				Description: head + fmt.Sprintf("Evidence: %s\nThis is %s.\nWho fixes it: %s; find the firewall or policy change that opened the path from vantage %s, and close it.",
					r.Text(), BreachMeaning, mixin.SecurityOwner, vantage),
			})}
		}
		c := r.Class.Info()
		owner, askText := c.Owner, ask(c)
		if c.Team == "" {
			owner, askText = mixin.SecurityOwner, "find who opened the port and whether it must stay open"
		}
		return expAlert{Labels: l, Annotations: withURLs(u.cfg, alert, Annotations{
			Summary:     fmt.Sprintf("%s: %s from vantage %s, expected %s", instance, r.Class, vantage, expectation),
			Description: head + fmt.Sprintf("Evidence: %s\nWhat it means: %s.\nWho fixes it: %s; %s.", r.Text(), c.Meaning, owner, askText),
		})}
	}
	breach := u.cfg.UnexpectedlyReachable
	expected := map[string][]expAlert{
		mixin.UnexpectedlyReachable: {
			want(mixin.UnexpectedlyReachable, open, dmz, blocked, connected, mixin.SecurityTeam, breach),
			want(mixin.UnexpectedlyReachable, refusing, dmz, blocked, refused, mixin.SecurityTeam, breach),
		},
		mixin.Unexpected: {
			want(mixin.Unexpected, lost, dmz, reachable, drop, verdict.Firewall.Info().Team, u.cfg.Class(verdict.Firewall)),
			want(mixin.Unexpected, shut, ops, refusedOnly, connected, mixin.SecurityTeam, breach),
		},
		mixin.ExpectationFailed: {{
			Labels: map[string]string{"job": testJob, "instance": banner, "vantage": ops, "expect": reachable,
				"team": verdict.ClosedByPeer.Info().Team, "severity": u.cfg.Class(verdict.ClosedByPeer).Severity},
			Annotations: withURLs(u.cfg, mixin.ExpectationFailed, Annotations{
				Summary: fmt.Sprintf("%s: %s, but %s", banner, verdict.Connected, ExpectationSummary),
				Description: fmt.Sprintf("Probe of %s (job %s): %s, yet the probe failed.\n%s.\n"+
					"The probe with &debug=true shows what the service sent and why the probe failed.\n"+
					"Who fixes it: %s, if the service's answer or certificate changed; %s, if the module's expectation or TLS settings are wrong.",
					banner, testJob, verdict.Connected, ExpectationText, verdict.ClosedByPeer.Info().Owner, verdict.Error.Info().Owner),
			}),
		}},
		mixin.AlertName(verdict.Refused): {
			testTarget{cfg: u.cfg, instance: halfway, class: refused.Class.Info(), reason: refused, responder: testAddress, vantages: ops}.alert(ops),
		},
		mixin.AlertName(verdict.Firewall): {
			testTarget{cfg: u.cfg, instance: plain, class: drop.Class.Info(), reason: drop, responder: testAddress, vantages: dmz}.alert(dmz),
		},
	}
	// Every alert that could fire is checked, once all their `for`s have
	// passed: exactly the wanted ones fire, and no other.
	seen := map[string]bool{}
	for _, r := range Rules(u.cfg) {
		if seen[r.Alert] {
			continue
		}
		seen[r.Alert] = true
		if r.Labels.Team == ExporterTeam() && r.Alert != mixin.AlertName(verdict.Error) && r.Alert != mixin.Unexpected {
			continue // exporter health: no up series here
		}
		exp := expected[r.Alert]
		if exp == nil {
			exp = []expAlert{}
		}
		g.AlertTests = append(g.AlertTests, alertTest{EvalTime: fmt.Sprintf("%dm", u.steps-1), AlertName: r.Alert, ExpAlerts: exp})
	}
	// Before their `for`, the expectation alerts are pending, not firing.
	g.AlertTests = append(g.AlertTests,
		alertTest{EvalTime: fmt.Sprintf("%dm", minutes(breach.For)-1), AlertName: mixin.UnexpectedlyReachable, ExpAlerts: []expAlert{}})
	return g
}

// alert is t's class alert with a vantage label on the probe: the class
// alert counts vantages away, so its labels are t.labels().
func (t testTarget) alert(string) expAlert {
	return expAlert{Labels: t.labels(), Annotations: t.annotations()}
}
