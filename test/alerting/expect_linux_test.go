//go:build linux

package alerting

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tcp-verdict/tcp_verdict_exporter/check"
	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/exporterproc"
	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/netlab"
	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testenv"
	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testnet"
	"github.com/tcp-verdict/tcp_verdict_exporter/mixin"
	"github.com/tcp-verdict/tcp_verdict_exporter/mixin/dashboards"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// portDropped is a listener that ra drops too, in a table of this test's
// own (tve17): a target expected reachable from dc-a that is dropped there.
const portDropped = 7105

// expectGeneratorConfig gives the alerts a `for` of 5m, read as 5 s, as
// in the vantage test; the expectation alerts included.
const expectGeneratorConfig = vantageGeneratorConfig + "unexpectedly_reachable: {for: 5m}\n"

// expectScrapeConfig is docs/expectations.md's scrape job, with both
// vantages' files in one job (the alerts compare vantages within a job).
func expectScrapeConfig(dir, rules, am string) string {
	return fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: [%q]
alerting:
  alertmanagers:
    - static_configs:
        - targets: [%q]
scrape_configs:
  - job_name: tcp_verdict
    metrics_path: /probe
    file_sd_configs:
      - files: [%q]
    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_target
      - source_labels: [module]
        target_label: __param_module
      - source_labels: [expect]
        target_label: __param_expect
      - source_labels: [__param_target]
        target_label: instance
      - source_labels: [__exporter]
        target_label: __address__
`, rules, am, filepath.Join(dir, "targets-*.yml"))
}

// TestExpectationsPerVantage proves issue 17's list in the vantage lab,
// with a real Prometheus reading file_sd files with expectations from two
// vantages, and Alertmanager with the example routing:
//
//   - 7101 from dc-a, expected blocked, dropped by ra: tcp_verdict_expected
//     1, probe_success 1, no alert anywhere; from dc-b, expected reachable,
//     connected: no alert either (no TCPVerdictPathBlocked);
//   - 7103 (connects) and 7102 (refused) from dc-a, expected blocked:
//     TCPVerdictUnexpectedlyReachable to security, and nothing else (no
//     TCPVerdictRefused);
//   - 7105 from dc-a, expected reachable, dropped: TCPVerdictUnexpected to
//     network, not TCPVerdictFirewall nor TCPVerdictPathBlocked, although
//     dc-b connects as expected;
//   - 7104, with no expectation: connected, no tcp_verdict_expected.
//
// Then the change window: `check` in dc-a's namespace with the same file
// (JUnit read by python3-junitparser, the exit codes), a firewall rule
// removed on ra, `check --baseline` naming 7101 firewall -> connected, and
// the breach reaching security from Prometheus too.
func TestExpectationsPerVantage(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.NeedTools(t, "ip", "nft", "prometheus", "prometheus-alertmanager", "/usr/bin/python3")
	if err := exec.Command("/usr/bin/python3", "-c", "import junitparser").Run(); err != nil {
		testenv.Skip(t, "python3-junitparser is not installed (apt-get install python3-junitparser)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*budget)
	defer cancel()
	start := time.Now()
	dir := t.TempDir()
	bin, err := exporterproc.Build(dir)
	if err != nil {
		t.Fatal(err)
	}

	ns := vantageLab(t)
	if err := netlab.NFT(ns.ra, fmt.Sprintf("table inet tve17 {\n\tchain forward {\n\t\ttype filter hook forward priority 0; policy accept;\n\t\ttcp dport %d drop\n\t}\n}\n", portDropped)); err != nil {
		t.Fatal(err)
	}
	target := func(port int) string { return fmt.Sprintf("%s:%d", targetAddr, port) }
	split, refused, open, plain, dropped := target(portSplit), target(portRefused), target(portOpenA), target(portOpenB), target(portDropped)
	for _, port := range []int{portSplit, portOpenA, portOpenB, portDropped} {
		ln, err := netlab.Listen(ns.srv, "tcp4", target(port))
		if err != nil {
			t.Fatal(err)
		}
		testnet.Accept(t, ln, testnet.KeepOpen)
	}

	hooks := &webhooks{}
	hookLn, err := netlab.Listen(ns.mon, "tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hookSrv := &http.Server{Handler: hooks, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := hookSrv.Serve(hookLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("webhook server: %v", err)
		}
	}()
	t.Cleanup(func() { hookSrv.Close() }) //nolint:errcheck // closing a test server; nothing to report
	writeFile(t, filepath.Join(dir, "alertmanager.yml"), alertmanagerConfig(t, "http://"+hookLn.Addr().String()+"/team/"))
	const amAddr = "127.0.0.1:9093"
	netlab.Run(ctx, t, ns.mon, "alertmanager", "http://"+amAddr+"/-/ready", "prometheus-alertmanager",
		"--config.file="+filepath.Join(dir, "alertmanager.yml"), "--storage.path="+filepath.Join(dir, "am"),
		"--web.listen-address="+amAddr, "--cluster.listen-address=", "--log.level=warn")

	exporterConfig := filepath.Join(dir, "exporter.yml")
	writeFile(t, exporterConfig, vantageExporterConfig)
	for _, e := range []struct{ ns, addr string }{{ns.va, exporterA}, {ns.vb, exporterB}} {
		netlab.Run(ctx, t, e.ns, "exporter in "+e.ns, "http://"+e.addr+"/-/healthy", bin,
			"--config.file="+exporterConfig, "--web.listen-address="+e.addr)
	}

	// The target files: what each vantage must and must not reach, as
	// docs/expectations.md keeps them; __exporter picks the vantage's
	// exporter. 7104 has no expect: its module's default (none) applies.
	entry := func(vantage, exporter, expect string, targets ...string) string {
		labels := fmt.Sprintf("vantage: %s, __exporter: %q, module: tcp", vantage, exporter)
		if expect != "" {
			labels += ", expect: " + expect
		}
		return fmt.Sprintf("- targets: [%s]\n  labels: {%s}\n", quoted(targets), labels)
	}
	fileA, fileB := filepath.Join(dir, "targets-dc-a.yml"), filepath.Join(dir, "targets-dc-b.yml")
	writeFile(t, fileA, entry(vantageA, exporterA, "blocked", split, open, refused)+
		entry(vantageA, exporterA, "reachable", dropped)+entry(vantageA, exporterA, "", plain))
	writeFile(t, fileB, entry(vantageB, exporterB, "reachable", split, dropped)+entry(vantageB, exporterB, "", plain))
	t.Logf("targets-dc-a.yml:\n%stargets-dc-b.yml:\n%s", readFile(t, fileA), readFile(t, fileB))

	cfg, err := mixin.Parse([]byte(expectGeneratorConfig))
	if err != nil {
		t.Fatal(err)
	}
	rules := filepath.Join(dir, "rules.yml")
	writeFile(t, rules, rulesInSeconds(t, cfg))
	const promAddr = "127.0.0.1:9090"
	writeFile(t, filepath.Join(dir, "prometheus.yml"), expectScrapeConfig(dir, rules, amAddr))
	netlab.Run(ctx, t, ns.mon, "prometheus", "http://"+promAddr+"/-/ready", "prometheus",
		"--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+promAddr, "--log.level=warn")
	client := netlab.Client(ns.mon, 5*time.Second)
	prom := promAPI{base: "http://" + promAddr, client: client}
	t.Logf("lab, exporters, Prometheus and Alertmanager ready after %s", time.Since(start).Round(time.Millisecond))

	// An unknown word is a 400 naming it.
	resp, err := client.Get("http://" + exporterA + "/probe?" + url.Values{"target": {open}, "expect": {"blocked,opne"}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close() //nolint:errcheck // read in full
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `unknown word "opne"`) {
		t.Errorf("expect=blocked,opne: %d %q, want 400 naming opne", resp.StatusCode, body)
	}

	// Prometheus holds each probe's expectation, per vantage, with the
	// file's expect label on the series; the plain target has none.
	// Each value is 10 * probe_success + tcp_verdict_expected: 11 for an
	// expectation that held, 0 for one that did not.
	want := []string{
		fmt.Sprintf("%s %s 11", split, vantageA), fmt.Sprintf("%s %s 11", split, vantageB),
		fmt.Sprintf("%s %s 0", open, vantageA), fmt.Sprintf("%s %s 0", refused, vantageA),
		fmt.Sprintf("%s %s 0", dropped, vantageA), fmt.Sprintf("%s %s 11", dropped, vantageB),
	}
	sort.Strings(want)
	got, err := waitFor(ctx, func() ([]string, bool) {
		got := prom.samples(ctx, t, `sum by (instance, vantage) (tcp_verdict_expected) + on (instance, vantage) 10 * sum by (instance, vantage) (probe_success)`)
		return got, slices.Equal(got, want)
	})
	if err != nil {
		t.Fatalf("(instance vantage 10*probe_success+tcp_verdict_expected) = %v, want %v", got, want)
	}
	keys := prom.seriesKeys(ctx, t, `count by (instance, vantage, expect, expectation) (tcp_verdict_expected{instance=~".*:7101"})`)
	if w := []string{"blocked firewall,unreachable " + split + " " + vantageA, "reachable connected,closed_by_peer,refused " + split + " " + vantageB}; !slices.Equal(keys, w) {
		t.Errorf("7101's expectation series %v, want %v", keys, w)
	}
	if n := prom.seriesKeys(ctx, t, `tcp_verdict_expected{instance=`+fmt.Sprintf("%q", plain)+`}`); len(n) != 0 {
		t.Errorf("the target without an expectation has tcp_verdict_expected: %v", n)
	}

	// The alerts: the breaches to security, the dropped reachable target to
	// network, and nothing else, once every `for` has passed.
	security, network := mixin.SecurityTeam, verdict.Firewall.Info().Team
	for _, w := range []struct{ alert, instance, team string }{
		{mixin.UnexpectedlyReachable, open, security},
		{mixin.UnexpectedlyReachable, refused, security},
		{mixin.Unexpected, dropped, network},
	} {
		got, err := waitFor(ctx, func() (received, bool) { return hooks.find(w.alert, w.instance) })
		if err != nil {
			t.Fatalf("%s for %s never reached a receiver; received: %v\n%s", w.alert, w.instance, hooks.all(), prom.alertsDump(ctx))
		}
		t.Logf("%s %s reached %s after %s: %q", w.alert, w.instance, got.team, time.Since(start).Round(time.Millisecond), got.annotations["summary"])
		if got.team != w.team || got.labels["vantage"] != vantageA {
			t.Errorf("%s %s reached /team/%s with labels %v, want %s from %s", w.alert, w.instance, got.team, got.labels, w.team, vantageA)
		}
	}
	select {
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	case <-time.After(8 * time.Second): // beyond every `for` of the alerts that must not fire
	}
	deliveries := func() []string {
		var out []string
		for _, a := range hooks.all() {
			out = append(out, fmt.Sprintf("%s %s %s → %s (%s)", a.labels["alertname"], a.labels["instance"], a.labels["vantage"], a.team, a.status))
		}
		sort.Strings(out)
		return slices.Compact(out)
	}
	wantDeliveries := []string{
		fmt.Sprintf("%s %s %s → %s (firing)", mixin.UnexpectedlyReachable, open, vantageA, security),
		fmt.Sprintf("%s %s %s → %s (firing)", mixin.UnexpectedlyReachable, refused, vantageA, security),
		fmt.Sprintf("%s %s %s → %s (firing)", mixin.Unexpected, dropped, vantageA, network),
	}
	sort.Strings(wantDeliveries)
	if d := deliveries(); !slices.Equal(d, wantDeliveries) {
		t.Errorf("webhook deliveries:\n  %s\nwant:\n  %s\n%s", strings.Join(d, "\n  "), strings.Join(wantDeliveries, "\n  "), prom.alertsDump(ctx))
	}
	if firing := prom.seriesKeys(ctx, t, `count by (alertname) (ALERTS)`); !slices.Equal(firing, []string{mixin.Unexpected, mixin.UnexpectedlyReachable}) {
		t.Errorf("alerts pending or firing in Prometheus: %v, want only the expectation alerts\n%s", firing, prom.alertsDump(ctx))
	}

	// The dashboard's segmentation table: a row per probe with an
	// expectation, with what was expected and what was found.
	vars := strings.NewReplacer(`"$job"`, `".*"`, `"$instance"`, `".*"`, `"$module"`, `".*"`, `"$vantage"`, `".*"`)
	for _, q := range dashboards.Queries(mixin.Default()) {
		if q.Panel == "Expectations not held" {
			if n := prom.samples(ctx, t, vars.Replace(q.Expr)); !slices.Equal(n, []string{"3"}) {
				t.Errorf("dashboard stat %q: %v, want 3", q.Panel, n)
			}
		}
		if q.Panel != dashboards.SegmentationTitle {
			continue
		}
		rows := prom.samples(ctx, t, vars.Replace(q.Expr))
		breach := 0
		for _, r := range rows {
			// class (found) sorts first, the value comes last.
			if strings.HasPrefix(r, "firewall ") && strings.Contains(r, " "+dropped+" ") && strings.HasSuffix(r, " "+vantageA+" 0") {
				breach++
			}
		}
		if len(rows) != len(want) || breach != 1 {
			t.Errorf("segmentation table: rows %v, want %d, one of them %s from %s found firewall, not held", rows, len(want), dropped, vantageA)
		}
	}

	// The change window, from dc-a's namespace with dc-a's file: JUnit for
	// the change ticket, read by python3-junitparser; the exit codes.
	runCheck := func(ns string, args ...string) (string, int) {
		t.Helper()
		cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, bin, "check", "--config.file=" + exporterConfig}, args...)...)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		} else if err != nil {
			t.Fatalf("check: %v", err)
		}
		if stderr.Len() > 0 {
			t.Logf("check stderr: %s", stderr.String())
		}
		return stdout.String(), code
	}
	junit, code := runCheck(ns.va, "--targets-file="+fileA, "--output=junit")
	if code != check.ExitUnexpected {
		t.Errorf("check from dc-a: exit %d, want %d", code, check.ExitUnexpected)
	}
	junitFile := filepath.Join(dir, "dc-a.xml")
	writeFile(t, junitFile, junit)
	out, err := exec.Command("/usr/bin/python3", "-c", `import sys, junitparser
for suite in junitparser.JUnitXml.fromfile(sys.argv[1]):
    print(suite.tests, suite.failures, suite.errors)
    for case in suite:
        print(case.name, "passed" if case.is_passed else [r.type for r in case.result])
`, junitFile).CombinedOutput()
	if err != nil {
		t.Fatalf("junitparser: %v\n%s", err, out)
	}
	t.Logf("junitparser reads:\n%s", out)
	for _, w := range []string{"5 3 0\n", split + " expect firewall,unreachable passed", open + " expect firewall,unreachable ['unexpected']",
		refused + " expect firewall,unreachable ['unexpected']", dropped + " expect connected,closed_by_peer,refused ['unexpected']", plain + " passed"} {
		if !strings.Contains(string(out), w) {
			t.Errorf("junitparser's reading lacks %q", w)
		}
	}
	if err := exec.Command("/usr/bin/python3", "-m", "junitparser", "verify", junitFile).Run(); err == nil {
		t.Error("junitparser verify passed dc-a's report, which has three breaches")
	}
	if _, code := runCheck(ns.vb, "--targets-file="+fileB, "--output=tap"); code != check.ExitOK {
		t.Errorf("check from dc-b, every expectation held: exit %d, want 0", code)
	}
	before, code := runCheck(ns.va, "--targets-file="+fileA, "--output=json")
	if code != check.ExitUnexpected {
		t.Errorf("check --output=json from dc-a: exit %d, want %d", code, check.ExitUnexpected)
	}
	baseline := filepath.Join(dir, "before.json")
	writeFile(t, baseline, before)

	// The firewall change: ra stops dropping 7101. The path that must be
	// blocked is open from dc-a now.
	if _, err := netlab.Command("", "ip", "netns", "exec", ns.ra, "nft", "delete", "table", "inet", "tve"); err != nil {
		t.Fatal(err)
	}
	after, code := runCheck(ns.va, "--targets-file="+fileA, "--baseline="+baseline)
	t.Logf("check --baseline after the change:\n%s", after)
	if code != check.ExitUnexpected {
		t.Errorf("check --baseline: exit %d, want %d", code, check.ExitUnexpected)
	}
	change := fmt.Sprintf("%s (module tcp): firewall -> connected; expected firewall,unreachable: NOT held", split)
	if !strings.Contains(after, "Changed since "+baseline+":\n  "+change+"\n") || strings.Count(after, " -> ") != 1 {
		t.Errorf("check --baseline does not name exactly the one change %q:\n%s", change, after)
	}
	var doc struct {
		Changes []struct{ Target, Before, After string } `json:"changes"`
	}
	afterJSON, _ := runCheck(ns.va, "--targets-file="+fileA, "--baseline="+baseline, "--output=json")
	if err := json.Unmarshal([]byte(afterJSON), &doc); err != nil || len(doc.Changes) != 1 || doc.Changes[0].Target != split {
		t.Errorf("check --baseline --output=json: changes %+v (%v)", doc.Changes, err)
	}
	got2, err := waitFor(ctx, func() (received, bool) { return hooks.find(mixin.UnexpectedlyReachable, split) })
	if err != nil {
		t.Fatalf("the opened path never reached security: %v\n%s", hooks.all(), prom.alertsDump(ctx))
	}
	if got2.team != security || got2.labels["vantage"] != vantageA {
		t.Errorf("the opened path reached /team/%s with %v", got2.team, got2.labels)
	}
	t.Logf("the opened path %s reached %s after %s; done", split, got2.team, time.Since(start).Round(time.Millisecond))
}

// samples runs an instant query and returns, sorted, each result's label
// values in label-name order and then its value, joined by spaces.
func (p promAPI) samples(ctx context.Context, t *testing.T, expr string) []string {
	t.Helper()
	var res []struct {
		Metric map[string]string `json:"metric"`
		Value  [2]any            `json:"value"`
	}
	if err := p.query(ctx, expr, &res); err != nil {
		t.Logf("%s: %v", expr, err)
		return nil
	}
	var keys []string
	for _, r := range res {
		names := make([]string, 0, len(r.Metric))
		for k := range r.Metric {
			names = append(names, k)
		}
		sort.Strings(names)
		vals := make([]string, 0, len(names)+1)
		for _, k := range names {
			vals = append(vals, r.Metric[k])
		}
		keys = append(keys, strings.Join(append(vals, fmt.Sprint(r.Value[1])), " "))
	}
	sort.Strings(keys)
	return keys
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
