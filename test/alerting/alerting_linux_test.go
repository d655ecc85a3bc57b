//go:build linux

package alerting

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/exporterproc"
	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testenv"
	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testnet"
	"github.com/tcp-verdict/tcp_verdict_exporter/mixin"
	"github.com/tcp-verdict/tcp_verdict_exporter/mixin/alerts"
	"github.com/tcp-verdict/tcp_verdict_exporter/mixin/dashboards"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// budget bounds the whole test; every wait below is bounded by it.
const budget = 90 * time.Second

// The exporter's modules: a short hold, so that a probe fits in the 0.5 s a
// 1 s scrape timeout leaves it. tcp_trace also traces the path after a
// network verdict; the trace's 200ms come out of those 0.5 s. tcp_expect
// waits for a banner the silent listener never sends, and tcp_tls for its
// TLS handshake: connected, but the probe fails when its 300ms run out.
// tcp names the silent listener's port (%d) as its control port
// (tcp.control_ports), so the closed port's refusal carries the host
// check's series: on loopback the RST and the host both answer at TTL 1,
// and refused stands.
const exporterConfig = `modules:
  tcp:
    prober: tcp
    timeout: 2s
    tcp:
      preferred_ip_protocol: ip4
      hold: 100ms
      trace: {max_hops: 2, timeout: 200ms}
      control_ports: [%d]
  tcp_trace:
    prober: tcp
    timeout: 2s
    tcp:
      preferred_ip_protocol: ip4
      hold: 100ms
      trace: {enabled: true, max_hops: 4, timeout: 200ms}
  tcp_expect:
    prober: tcp
    timeout: 300ms
    tcp:
      preferred_ip_protocol: ip4
      hold: 100ms
      query_response:
        - expect: "^NEVER"
  tcp_tls:
    prober: tcp
    timeout: 300ms
    tcp:
      preferred_ip_protocol: ip4
      hold: 100ms
      tls: true
  tcp_attempts:
    prober: tcp
    timeout: 2s
    tcp:
      preferred_ip_protocol: ip4
      hold: 100ms
      attempts: 4
  tcp_all:
    prober: tcp
    timeout: 2s
    tcp:
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
      hold: 100ms
      addresses: all
`

// A key the config loader rejects: reloading this fails and keeps the
// running modules.
const badExporterConfig = `modules:
  tcp:
    prober: tcp
    no_such_key: true
`

// received is one alert as a team's webhook got it.
type received struct {
	team        string // the receiver's path
	receiver    string // Alertmanager's receiver name
	status      string
	labels      map[string]string
	annotations map[string]string
}

// webhooks is the test's Alertmanager receiver: POST /team/<slug>.
type webhooks struct {
	mu     sync.Mutex
	alerts []received
}

func (h *webhooks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	team, ok := strings.CutPrefix(r.URL.Path, "/team/")
	if !ok || r.Method != http.MethodPost {
		http.Error(w, "POST /team/<slug>", http.StatusNotFound)
		return
	}
	var msg struct {
		Receiver string `json:"receiver"`
		Alerts   []struct {
			Status      string            `json:"status"`
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"alerts"`
	}
	if err := json.NewDecoder(r.Body).Decode(&msg); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, a := range msg.Alerts {
		h.alerts = append(h.alerts, received{team: team, receiver: msg.Receiver, status: a.Status, labels: a.Labels, annotations: a.Annotations})
	}
}

// findModule is find for the probe of one module.
func (h *webhooks) findModule(name, instance, module string) (received, bool) {
	for _, a := range h.all() {
		if a.status == "firing" && a.labels["alertname"] == name && a.labels["instance"] == instance && a.labels["module"] == module {
			return a, true
		}
	}
	return received{}, false
}

func (h *webhooks) all() []received {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]received(nil), h.alerts...)
}

// find returns the first firing alert named name for instance (any
// instance when empty) that reached any receiver.
func (h *webhooks) find(name, instance string) (received, bool) {
	for _, a := range h.all() {
		if a.status == "firing" && a.labels["alertname"] == name && (instance == "" || a.labels["instance"] == instance) {
			return a, true
		}
	}
	return received{}, false
}

// TestAlertsReachTheRightTeam runs the shipped rules in a real Prometheus
// against the exporter and checks that Alertmanager, routing by `team`,
// delivers each verdict's alert to the team that fixes it, with the
// evidence in its annotations; that a connected target raises nothing,
// unless its module expects a banner the target never sends, which pages
// the service's team; and that a failed config reload pages whoever runs
// the exporter. A name with one address that refuses and one that connects
// (module tcp_all dials both) is connected, and pages the refusing
// address's team, naming it.
func TestAlertsReachTheRightTeam(t *testing.T) {
	testenv.NeedTools(t, "prometheus", "prometheus-alertmanager")
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	start := time.Now()
	dir := t.TempDir()

	// Loopback targets, one per verdict we can make on loopback.
	closing := testnet.Serve(t, "tcp4", "127.0.0.1:0", func(c *net.TCPConn) { c.Close() }) //nolint:errcheck // accept, then FIN; a failed close leaves nothing to do
	silent := testnet.Serve(t, "tcp4", "127.0.0.1:0", testnet.KeepOpen)
	closed := testnet.ClosedPort(t, "tcp4", "127.0.0.1:0") // nothing listens: RST
	// A full accept queue drops SYNs as a firewall does (firewall,
	// no-response): a network verdict, so module tcp_trace traces its path,
	// and on loopback that trace runs and meets the same silence. It is the
	// one loopback target whose probes carry the tcp_trace_* series the
	// dashboard's path-trace panel queries.
	dropped := testnet.FullBacklog(t).String()
	// Every other connection closed at once, the rest kept: each probe of
	// module tcp_attempts (4 attempts) is 2 connected, 2 closed_by_peer,
	// an intermittent probe, the one loopback target whose probes carry
	// tcp_verdict_attempts and page as TCPVerdictIntermittent alone
	// (docs/intermittent.md).
	var accepted atomic.Int64
	halving := testnet.Serve(t, "tcp4", "127.0.0.1:0", func(c *net.TCPConn) {
		if accepted.Add(1)%2 == 0 {
			c.Close() //nolint:errcheck // accept, then FIN; a failed close leaves nothing to do
			return
		}
		testnet.KeepOpen(c)
	})
	t.Logf("targets: %s closes at once, %s is silent (and expected to send a banner), %s is closed, %s drops SYNs (traced), %s closes every other connection", closing, silent, closed, dropped, halving)

	// A name whose first address refuses and second connects, resolved by
	// a DNS server on loopback that the exporter alone asks (--dns.server):
	// no query leaves the machine.
	partlyLn, err := net.Listen("tcp4", "127.0.0.3:0")
	if err != nil {
		t.Fatal(err)
	}
	testnet.Accept(t, partlyLn, testnet.KeepOpen)
	partlyPort := partlyLn.Addr().(*net.TCPAddr).Port
	refusing := "127.0.0.2" // nothing listens there on that port
	dnsServer := testnet.StartDNS(t, &testnet.DNSZone{A: map[string][]netip.Addr{
		"partly.alerting.test.": {netip.MustParseAddr(refusing), netip.MustParseAddr("127.0.0.3")},
	}})
	partly := net.JoinHostPort("partly.alerting.test", strconv.Itoa(partlyPort))
	t.Logf("%s: %s refuses, 127.0.0.3 connects (DNS on %s)", partly, refusing, dnsServer)

	hooks := &webhooks{}
	hookLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hookSrv := &http.Server{Handler: hooks, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := hookSrv.Serve(hookLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("webhook server: %v", err)
		}
	}()
	t.Cleanup(func() {
		if err := hookSrv.Close(); err != nil {
			t.Errorf("closing the webhook server: %v", err)
		}
	})

	// The exporter, built from this tree.
	bin, err := exporterproc.Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	exporterFile := filepath.Join(dir, "exporter.yml")
	silentAddr, err := netip.ParseAddrPort(silent)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, exporterFile, fmt.Sprintf(exporterConfig, silentAddr.Port()))
	exporterAddr := testnet.ClosedPort(t, "tcp4", "127.0.0.1:0")
	exporterproc.Run(ctx, t, "exporter", exec.Command(bin,
		"--config.file="+exporterFile, "--web.listen-address="+exporterAddr, "--dns.server="+dnsServer.String()), "http://"+exporterAddr+"/-/healthy")

	// Alertmanager, from the shipped example: the team receivers point at
	// our webhook, and it groups and sends at once.
	amAddr := testnet.ClosedPort(t, "tcp4", "127.0.0.1:0")
	amConfig := alertmanagerConfig(t, "http://"+hookLn.Addr().String()+"/team/")
	amFile := filepath.Join(dir, "alertmanager.yml")
	writeFile(t, amFile, amConfig)
	exporterproc.Run(ctx, t, "alertmanager", exec.Command("prometheus-alertmanager",
		"--config.file="+amFile, "--storage.path="+filepath.Join(dir, "am"),
		"--web.listen-address="+amAddr, "--cluster.listen-address=", "--log.level=warn"), "http://"+amAddr+"/-/ready")

	// Prometheus with the shipped rules, every `for:` read as seconds
	// instead of minutes; expressions, labels and annotations unchanged.
	rules := rulesInSeconds(t, mixin.Default())
	rulesFile := filepath.Join(dir, "rules.yml")
	writeFile(t, rulesFile, rules)
	promAddr := testnet.ClosedPort(t, "tcp4", "127.0.0.1:0")
	promFile := filepath.Join(dir, "prometheus.yml")
	// The scrape config of README.md, "Scrape config": one probe job per module.
	probeJob := func(job, module string, targets ...string) string {
		return fmt.Sprintf(`  - job_name: %s
    metrics_path: /probe
    params:
      module: [%s]
    static_configs:
      - targets: [%s]
    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_target
      - source_labels: [__param_target]
        target_label: instance
      - source_labels: [__param_module]
        target_label: module
      - target_label: __address__
        replacement: %q
`, job, module, quoted(targets), exporterAddr)
	}
	writeFile(t, promFile, fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: [%q]
alerting:
  alertmanagers:
    - static_configs:
        - targets: [%q]
scrape_configs:
%s%s%s%s%s%s  - job_name: tcp_verdict_exporter
    static_configs:
      - targets: [%q]
`, rulesFile, amAddr, probeJob("tcp_verdict", "tcp", closing, silent, closed),
		probeJob("tcp_verdict_trace", "tcp_trace", dropped), probeJob("tcp_verdict_expect", "tcp_expect", silent), probeJob("tcp_verdict_tls", "tcp_tls", silent),
		probeJob("tcp_verdict_all", "tcp_all", partly), probeJob("tcp_verdict_attempts", "tcp_attempts", halving), exporterAddr))
	exporterproc.Run(ctx, t, "prometheus", exec.Command("prometheus",
		"--config.file="+promFile, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+promAddr, "--log.level=warn"), "http://"+promAddr+"/-/ready")
	prom := promAPI{base: "http://" + promAddr}
	t.Logf("exporter %s, prometheus %s, alertmanager %s, webhooks %s ready after %s",
		exporterAddr, promAddr, amAddr, hookLn.Addr(), time.Since(start).Round(time.Millisecond))

	var groups struct {
		Groups []struct {
			Rules []struct{ Name string } `json:"rules"`
		} `json:"groups"`
	}
	if err := prom.get(ctx, "/api/v1/rules", nil, &groups); err != nil {
		t.Fatal(err)
	}
	if len(groups.Groups) != 1 || len(groups.Groups[0].Rules) != len(alerts.Rules(mixin.Default())) {
		t.Fatalf("prometheus loaded %+v, want the %d rules of mixin/alerts/%s", groups, len(alerts.Rules(mixin.Default())), alerts.RulesFile)
	}

	// Each target's verdict alert reaches its class's team.
	type want struct {
		class     verdict.Class
		reason    verdict.Reason
		instance  string
		responder string // empty: nothing answered
		job       string
		module    string
	}
	wants := []want{
		{verdict.ClosedByPeer, verdict.Fin, closing, "127.0.0.1", "tcp_verdict", "tcp"},
		{verdict.Refused, verdict.ConnRefused, closed, "127.0.0.1", "tcp_verdict", "tcp"},
		{verdict.Firewall, verdict.NoResponse, dropped, "", "tcp_verdict_trace", "tcp_trace"},
	}
	for _, w := range wants {
		name := mixin.AlertName(w.class)
		a, err := waitFor(ctx, func() (received, bool) { return hooks.find(name, w.instance) })
		if err != nil {
			t.Fatalf("%s for %s never reached a receiver (%v); received: %v\n%s", name, w.instance, err, hooks.all(), prom.alertsDump(ctx))
		}
		info := w.class.Info()
		t.Logf("%s: %s (%s from %s) reached team %s after %s: %q",
			w.instance, name, a.labels["reason"], a.labels["responder"], a.team, time.Since(start).Round(time.Millisecond), a.annotations["summary"])
		if a.team != info.Team || a.receiver != info.Team {
			t.Errorf("%s reached receiver %s at /team/%s, want team %s", name, a.receiver, a.team, info.Team)
		}
		for k, v := range map[string]string{"class": string(w.class), "reason": string(w.reason), "responder": w.responder,
			"team": info.Team, "job": w.job, "module": w.module} {
			if a.labels[k] != v {
				t.Errorf("%s: label %s=%q, want %q (labels %v)", name, k, a.labels[k], v, a.labels)
			}
		}
		desc := a.annotations["description"]
		evidence := fmt.Sprintf("reason %s from %s.", w.reason, w.responder)
		if w.responder == "" {
			evidence = fmt.Sprintf("reason %s.", w.reason)
		}
		for _, s := range []string{
			evidence,
			w.reason.Info().Text(),
			"Who fixes it: " + info.Owner + "; ask " + info.AskFor(alerts.ProbingHost) + ".",
		} {
			if !strings.Contains(desc, s) {
				t.Errorf("%s: description lacks %q:\n%s", name, s, desc)
			}
		}
		if !strings.Contains(a.annotations["summary"], w.instance) || !strings.Contains(a.annotations["summary"], info.Meaning) {
			t.Errorf("%s: summary %q lacks the instance or the class's meaning", name, a.annotations["summary"])
		}
	}

	// The silent listener is connected, but module tcp_expect's banner and
	// tcp_tls's handshake never come: each probe fails, which pages the
	// service's team and says whether an expectation failed, and its cause.
	service := verdict.ClosedByPeer.Info()
	for _, w := range []struct {
		job, module, summary, text string
		cause                      verdict.Cause
	}{
		{"tcp_verdict_expect", "tcp_expect", alerts.ExpectationSummary, alerts.ExpectationText, verdict.CauseExpectTimeout},
		{"tcp_verdict_tls", "tcp_tls", alerts.SessionSummary, alerts.SessionText, verdict.CauseHandshakeTimeout},
	} {
		a, err := waitFor(ctx, func() (received, bool) { return hooks.findModule(mixin.ExpectationFailed, silent, w.module) })
		if err != nil {
			t.Fatalf("%s for %s (module %s) never reached a receiver (%v); received: %v\n%s", mixin.ExpectationFailed, silent, w.module, err, hooks.all(), prom.alertsDump(ctx))
		}
		t.Logf("%s (module %s): %s reached team %s after %s: %q", silent, w.module, mixin.ExpectationFailed, a.team, time.Since(start).Round(time.Millisecond), a.annotations["summary"])
		if a.team != service.Team || a.receiver != service.Team {
			t.Errorf("%s reached receiver %s at /team/%s, want team %s", mixin.ExpectationFailed, a.receiver, a.team, service.Team)
		}
		for k, v := range map[string]string{"team": service.Team, "job": w.job, "module": w.module} {
			if a.labels[k] != v {
				t.Errorf("%s: label %s=%q, want %q (labels %v)", mixin.ExpectationFailed, k, a.labels[k], v, a.labels)
			}
		}
		cause := fmt.Sprintf("Failure cause: %s (phase %s).", w.cause, w.cause.Info().Phase)
		for _, s := range []string{"module " + w.module, w.text, cause, "Who fixes it: " + service.Owner} {
			if !strings.Contains(a.annotations["description"], s) {
				t.Errorf("%s: description lacks %q:\n%s", mixin.ExpectationFailed, s, a.annotations["description"])
			}
		}
		if !strings.Contains(a.annotations["summary"], w.summary) {
			t.Errorf("%s: summary %q lacks %q", mixin.ExpectationFailed, a.annotations["summary"], w.summary)
		}
	}

	// The name's refusing address pages the team of refused, naming the
	// address; the target itself is connected, so refused's own alert
	// stays silent (the check of every delivery below).
	partial := mixin.PartialAlertName(verdict.Refused)
	pa, err := waitFor(ctx, func() (received, bool) { return hooks.find(partial, partly) })
	if err != nil {
		t.Fatalf("%s for %s never reached a receiver (%v); received: %v\n%s", partial, partly, err, hooks.all(), prom.alertsDump(ctx))
	}
	t.Logf("%s: %s (address %s) reached team %s after %s: %q", partly, partial, pa.labels["address"], pa.team, time.Since(start).Round(time.Millisecond), pa.annotations["summary"])
	refused := verdict.Refused.Info()
	if pa.team != refused.Team || pa.receiver != refused.Team {
		t.Errorf("%s reached receiver %s at /team/%s, want team %s", partial, pa.receiver, pa.team, refused.Team)
	}
	for k, v := range map[string]string{"address": refusing, "class": string(verdict.Refused), "reason": string(verdict.ConnRefused),
		"responder": refusing, "job": "tcp_verdict_all", "module": "tcp_all"} {
		if pa.labels[k] != v {
			t.Errorf("%s: label %s=%q, want %q (labels %v)", partial, k, pa.labels[k], v, pa.labels)
		}
	}
	if !strings.Contains(pa.annotations["summary"], refusing) || !strings.Contains(pa.annotations["description"], "Who fixes it: "+refused.Owner) {
		t.Errorf("%s: annotations do not name the address and its owner: %v", partial, pa.annotations)
	}

	// The target that closes every other connection: each probe's attempts
	// split 2 connected, 2 closed_by_peer; TCPVerdictIntermittent reaches
	// the network team naming the counts, and closed_by_peer's own alert
	// stays silent (the check of every delivery below).
	ia, err := waitFor(ctx, func() (received, bool) { return hooks.find(mixin.Intermittent, halving) })
	if err != nil {
		t.Fatalf("%s for %s never reached a receiver (%v); received: %v\n%s", mixin.Intermittent, halving, err, hooks.all(), prom.alertsDump(ctx))
	}
	t.Logf("%s: %s reached team %s after %s: %q", halving, mixin.Intermittent, ia.team, time.Since(start).Round(time.Millisecond), ia.annotations["summary"])
	if network := verdict.Intermittent().Team; ia.team != network || ia.labels["module"] != "tcp_attempts" {
		t.Errorf("%s reached /team/%s with labels %v, want team %s, module tcp_attempts", mixin.Intermittent, ia.team, ia.labels, network)
	}
	if counts := fmt.Sprintf("ended 2 %s, 2 %s.", verdict.ClosedByPeer, verdict.Connected); !strings.Contains(ia.annotations["description"], counts) {
		t.Errorf("%s: description lacks %q:\n%s", mixin.Intermittent, counts, ia.annotations["description"])
	}

	// A config reload that fails pages whoever runs the exporter, while the
	// exporter keeps probing with its running config.
	writeFile(t, exporterFile, badExporterConfig)
	resp, err := http.Post("http://"+exporterAddr+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close() //nolint:errcheck // only the status matters; the body is not read
	if resp.StatusCode == http.StatusOK {
		t.Fatal("reloading a bad config succeeded")
	}
	reloadAt := time.Now()
	a, err := waitFor(ctx, func() (received, bool) { return hooks.find(mixin.ExporterConfigReloadFailed, exporterAddr) })
	if err != nil {
		t.Fatalf("%s never reached a receiver (%v); received: %v\n%s", mixin.ExporterConfigReloadFailed, err, hooks.all(), prom.alertsDump(ctx))
	}
	t.Logf("%s: %s reached team %s %s after the failed reload",
		exporterAddr, mixin.ExporterConfigReloadFailed, a.team, time.Since(reloadAt).Round(time.Millisecond))
	if team := alerts.ExporterTeam(); a.team != team || a.labels["team"] != team {
		t.Errorf("%s reached /team/%s with team=%s, want %s", mixin.ExporterConfigReloadFailed, a.team, a.labels["team"], team)
	}

	// The silent target is connected, has been for longer than any `for:`,
	// and no alert of any state names its plain tcp probe (its tcp_expect
	// and tcp_tls probes have the alerts above).
	var connected []struct {
		Value [2]any `json:"value"`
	}
	if err := prom.query(ctx, fmt.Sprintf(`tcp_verdict{job="tcp_verdict",instance=%q,class=%q}`, silent, verdict.Connected), &connected); err != nil {
		t.Fatal(err)
	}
	if len(connected) != 1 || connected[0].Value[1] != "1" {
		t.Errorf("prometheus has %v for %s's connected state, want 1", connected, silent)
	}
	var pending []struct {
		Metric map[string]string `json:"metric"`
	}
	if err := prom.query(ctx, `ALERTS`, &pending); err != nil {
		t.Fatal(err)
	}
	for _, p := range pending {
		if p.Metric["instance"] == silent && p.Metric["job"] == "tcp_verdict" {
			t.Errorf("connected target %s has alert %v", silent, p)
		}
	}

	// Every alert that reached a receiver is one we expected, at the team
	// the taxonomy names; nothing fell through to the default receiver.
	expected := map[string]string{ // alertname/instance → team
		mixin.AlertName(verdict.ClosedByPeer) + "/" + closing:  verdict.ClosedByPeer.Info().Team,
		mixin.AlertName(verdict.Refused) + "/" + closed:        verdict.Refused.Info().Team,
		mixin.AlertName(verdict.Firewall) + "/" + dropped:      verdict.Firewall.Info().Team,
		mixin.ExpectationFailed + "/" + silent:                 verdict.ClosedByPeer.Info().Team,
		mixin.ExporterConfigReloadFailed + "/" + exporterAddr:  alerts.ExporterTeam(),
		mixin.PartialAlertName(verdict.Refused) + "/" + partly: verdict.Refused.Info().Team,
		mixin.Intermittent + "/" + halving:                     verdict.Intermittent().Team,
	}
	var got []string
	for _, a := range hooks.all() {
		key := a.labels["alertname"] + "/" + a.labels["instance"]
		via := ""
		if m := a.labels["module"]; m != "" {
			via = " module " + m
		}
		got = append(got, fmt.Sprintf("%s%s → %s (%s)", key, via, a.team, a.status))
		if team, ok := expected[key]; !ok || team != a.team {
			t.Errorf("unexpected alert %s at /team/%s (receiver %s): %v", key, a.team, a.receiver, a.labels)
		}
	}
	sort.Strings(got)
	t.Logf("webhook deliveries:\n  %s", strings.Join(got, "\n  "))

	// The path trace's series come from the traced target alone (module
	// tcp_trace and a network verdict), and its trace met the same silence
	// as its connect: no hop answered.
	var traced []struct {
		Metric map[string]string `json:"metric"`
	}
	if err := prom.query(ctx, `tcp_trace_last_hop_info`, &traced); err != nil {
		t.Fatal(err)
	}
	if len(traced) != 1 || traced[0].Metric["instance"] != dropped || traced[0].Metric["address"] != "" || traced[0].Metric["reason"] != "" {
		t.Errorf("tcp_trace_last_hop_info is %v, want one series, for %s, naming no hop", traced, dropped)
	}

	// The host check's series come from the closed port alone (module tcp
	// has a control port; the other targets of its job connect): the host
	// answered, at TTL 1, as the RST did.
	for name, want := range map[string]string{"tcp_host_up": "1", "tcp_host_hops": "1", "tcp_reset_hops": "1"} {
		var series []struct {
			Metric map[string]string `json:"metric"`
			Value  []any             `json:"value"`
		}
		if err := prom.query(ctx, name, &series); err != nil {
			t.Fatal(err)
		}
		if len(series) != 1 || series[0].Metric["instance"] != closed || series[0].Value[1] != want {
			t.Errorf("%s is %v, want one series, for %s, of %s", name, series, closed, want)
		}
	}

	// Every dashboard query answers with data from this Prometheus; the
	// path-trace panel's from the traced target.
	vars := strings.NewReplacer(`"$job"`, `".*"`, `"$instance"`, `".*"`, `"$module"`, `".*"`, `"$vantage"`, `".*"`,
		"$__rate_interval", "10s", "$__range", "1m")
	for _, q := range dashboards.Queries(mixin.Default()) {
		if q.Panel == dashboards.SegmentationTitle {
			continue // it needs probes with an expected verdict: TestExpectationsPerVantage reads it
		}
		var res []json.RawMessage
		if err := prom.query(ctx, vars.Replace(q.Expr), &res); err != nil {
			t.Errorf("dashboard panel %q: %v", q.Panel, err)
		} else if len(res) == 0 {
			t.Errorf("dashboard panel %q: no data for %s", q.Panel, vars.Replace(q.Expr))
		}
	}
	t.Logf("done after %s", time.Since(start).Round(time.Millisecond))
}

// alertmanagerConfig is the shipped example routing with the team
// receivers pointed at webhookBase, grouping and sending at once.
func alertmanagerConfig(t *testing.T, webhookBase string) string {
	t.Helper()
	amConfig := string(alerts.AlertmanagerYAML())
	for _, r := range []struct{ old, new string }{
		{alerts.ExampleWebhookBase, webhookBase},
		{"group_wait: 30s", "group_wait: 1s"},
		{"group_interval: 5m", "group_interval: 1s"},
	} {
		if !strings.Contains(amConfig, r.old) {
			t.Fatalf("mixin/alerts/%s no longer contains %q; update this test", alerts.AlertmanagerFile, r.old)
		}
		amConfig = strings.ReplaceAll(amConfig, r.old, r.new)
	}
	return amConfig
}

// rulesInSeconds is the rules of cfg with every `for:` read as seconds
// instead of minutes; expressions, labels and annotations unchanged.
func rulesInSeconds(t *testing.T, cfg mixin.Config) string {
	t.Helper()
	rules := regexp.MustCompile(`(?m)^(\s+for: )(\d+)m$`).ReplaceAllString(string(alerts.RulesYAML(cfg)), "${1}${2}s")
	if rules == string(alerts.RulesYAML(cfg)) {
		t.Fatal("no `for:` in minutes found in the rules; update this test")
	}
	return rules
}

// quoted lists strings as YAML flow-sequence items: "a", "b".
func quoted(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

// waitFor polls f until it reports ok or ctx ends.
func waitFor[T any](ctx context.Context, f func() (T, bool)) (T, error) {
	for {
		if v, ok := f(); ok {
			return v, nil
		}
		select {
		case <-ctx.Done():
			var zero T
			return zero, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func writeFile(t *testing.T, path, content string) {
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// promAPI queries Prometheus's HTTP API, through client (apiClient when
// nil).
type promAPI struct {
	base   string
	client *http.Client
}

var apiClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil}}

func (p promAPI) get(ctx context.Context, path string, params url.Values, data any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.base+path+"?"+params.Encode(), nil)
	if err != nil {
		return err
	}
	client := p.client
	if client == nil {
		client = apiClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close() //nolint:errcheck // the body has been read in full; a close error changes nothing
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var env struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("%s: %v: %s", path, err, body)
	}
	if env.Status != "success" {
		return fmt.Errorf("%s %s: %s", path, params.Encode(), env.Error)
	}
	return json.Unmarshal(env.Data, data)
}

// query runs an instant query and decodes its vector result.
func (p promAPI) query(ctx context.Context, expr string, result any) error {
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := p.get(ctx, "/api/v1/query", url.Values{"query": {expr}}, &data); err != nil {
		return err
	}
	if data.ResultType != "vector" {
		return fmt.Errorf("%s: result type %s, want vector", expr, data.ResultType)
	}
	return json.Unmarshal(data.Result, result)
}

// alertsDump is Prometheus's view of the alerts, for failure messages.
func (p promAPI) alertsDump(ctx context.Context) string {
	var data json.RawMessage
	if err := p.get(ctx, "/api/v1/alerts", nil, &data); err != nil {
		return "prometheus alerts: " + err.Error()
	}
	return "prometheus alerts: " + string(data)
}
