//go:build linux

package alerting

import (
	"bytes"
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
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tcp-verdict/tcp_verdict_exporter/check"
	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/exporterproc"
	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/netlab"
	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testenv"
	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testnet"
	"github.com/tcp-verdict/tcp_verdict_exporter/mixin"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// The intermittent lab (docs/intermittent.md, "Proof"). Every address
// exists only inside the namespaces the test creates.
//
//	cl (exporter, check, Prometheus, Alertmanager, webhooks)
//	 |  10.216.1.0/24, fd00:216:1::/64: cl .2, rt .1
//	rt  drops SYNs by destination port (nftables, forward chain):
//	 |    7201: the SYNs of half the flows, by a hash of source address and port
//	 |    7202: one SYN in three, at random
//	 |    7203: none
//	 |  10.216.2.0/24, fd00:216:2::/64: rt .1, sv .2
//	sv  silent listeners on 7201-7203
const (
	portHalf  = 7201
	portLossy = 7202
	portClean = 7203
)

// intermittentFamily is one IP family of the lab.
type intermittentFamily struct {
	name string // "v4" or "v6": the prefix of its modules
	v6   bool
}

func (f intermittentFamily) addr(subnet, host int) string {
	if f.v6 {
		return fmt.Sprintf("fd00:216:%d::%d", subnet, host)
	}
	return fmt.Sprintf("10.216.%d.%d", subnet, host)
}

func (f intermittentFamily) cidr(subnet, host int) string {
	if f.v6 {
		return f.addr(subnet, host) + "/64 nodad"
	}
	return f.addr(subnet, host) + "/24"
}

func (f intermittentFamily) router() string { return f.addr(1, 1) } // its ICMP to cl comes from here
func (f intermittentFamily) server() string { return f.addr(2, 2) }
func (f intermittentFamily) target(port int) string {
	if f.v6 {
		return fmt.Sprintf("[%s]:%d", f.server(), port)
	}
	return fmt.Sprintf("%s:%d", f.server(), port)
}

var intermittentFamilies = []intermittentFamily{{"v4", false}, {"v6", true}}

// The router's rules. A router checks the TTL before its forward chain, so
// a SYN whose TTL runs out on rt still gets time-exceeded; the SYN of a
// dropped flow that would go further dies in the forward chain.
var intermittentRules = fmt.Sprintf(`table inet tve {
	chain forward {
		type filter hook forward priority 0; policy accept;
		meta nfproto ipv4 tcp dport %[1]d tcp flags & (syn | ack) == syn jhash ip saddr . tcp sport mod 2 seed 0x5 == 1 drop
		meta nfproto ipv6 tcp dport %[1]d tcp flags & (syn | ack) == syn jhash ip6 saddr . tcp sport mod 2 seed 0x5 == 1 drop
		tcp dport %[2]d tcp flags & (syn | ack) == syn numgen random mod 3 == 0 drop
	}
}
`, portHalf, portLossy)

// The modules: 8 attempts with a path trace, in 3 s (the trace's 1 s
// reserved out of them); one attempt with room for two SYN retransmissions
// (1 s, then 2 s more).
const intermittentExporterConfig = `modules:
  v4_attempts:
    prober: tcp
    timeout: 3s
    tcp: {preferred_ip_protocol: ip4, ip_protocol_fallback: false, hold: 100ms, attempts: 8, trace: {enabled: true, max_hops: 8, timeout: 1s}}
  v6_attempts:
    prober: tcp
    timeout: 3s
    tcp: {preferred_ip_protocol: ip6, ip_protocol_fallback: false, hold: 100ms, attempts: 8, trace: {enabled: true, max_hops: 8, timeout: 1s}}
  # One attempt, traced as before: each TTL from a new source port.
  v4_classic:
    prober: tcp
    timeout: 3s
    tcp: {preferred_ip_protocol: ip4, ip_protocol_fallback: false, hold: 100ms, trace: {enabled: true, max_hops: 8, timeout: 1s}}
  v6_classic:
    prober: tcp
    timeout: 3s
    tcp: {preferred_ip_protocol: ip6, ip_protocol_fallback: false, hold: 100ms, trace: {enabled: true, max_hops: 8, timeout: 1s}}
  v4_lossy:
    prober: tcp
    timeout: 6s
    tcp: {preferred_ip_protocol: ip4, ip_protocol_fallback: false, hold: 0s}
  v6_lossy:
    prober: tcp
    timeout: 6s
    tcp: {preferred_ip_protocol: ip6, ip_protocol_fallback: false, hold: 0s}
`

// intermittentGeneratorConfig: TCPVerdictIntermittent waits 2m, read as
// 2 s, shorter than one scrape's sample; the firewall alert 10m (10 s), so
// that the rare scrape whose 8 attempts all hash into the dropped half
// (1 in 256) cannot raise it: what is checked is that a mixed probe never
// does.
const intermittentGeneratorConfig = `classes:
  firewall: {for: 10m}
intermittent: {for: 2m}
`

// intermittentLab builds the network drawn above and registers its
// removal, by namespace name, with the test.
func intermittentLab(t *testing.T) (cl, rt, sv string) {
	t.Helper()
	prefix := fmt.Sprintf("tvi%d-", os.Getpid())
	cl, rt, sv = prefix+"cl", prefix+"rt", prefix+"sv"
	c := netlab.TestCleanup{T: t}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{cl, rt, sv} {
		must(netlab.AddNamespace(c, n))
		must(netlab.Sysctl(n, "net.ipv4.conf.all.rp_filter", "0", "net.ipv4.conf.default.rp_filter", "0",
			"net.ipv6.conf.all.accept_dad", "0", "net.ipv6.conf.default.accept_dad", "0"))
	}
	must(netlab.Sysctl(rt, "net.ipv4.ip_forward", "1", "net.ipv6.conf.all.forwarding", "1",
		// The traces have rt answer many SYNs: lift its ICMP rate limit.
		"net.ipv4.icmp_ratelimit", "0", "net.ipv6.icmp.ratelimit", "0"))
	must(netlab.IPBatch(rt, "link add cl type veth peer name rt netns "+cl, "link add sv type veth peer name rt netns "+sv))
	cmds := [3][]string{
		{"link set lo up", "link set rt up"},
		{"link set lo up", "link set cl up", "link set sv up"},
		{"link set lo up", "link set rt up"},
	}
	for _, f := range intermittentFamilies {
		def := "0.0.0.0/0"
		if f.v6 {
			def = "::/0"
		}
		cmds[0] = append(cmds[0], "addr add "+f.cidr(1, 2)+" dev rt", "route add "+def+" via "+f.addr(1, 1))
		cmds[1] = append(cmds[1], "addr add "+f.cidr(1, 1)+" dev cl", "addr add "+f.cidr(2, 1)+" dev sv")
		cmds[2] = append(cmds[2], "addr add "+f.cidr(2, 2)+" dev rt", "route add "+def+" via "+f.addr(2, 1))
	}
	must(netlab.IPBatch(cl, cmds[0]...))
	must(netlab.IPBatch(rt, cmds[1]...))
	must(netlab.IPBatch(sv, cmds[2]...))
	must(netlab.NFT(rt, intermittentRules))
	return cl, rt, sv
}

// probeAnswer is what one /probe answer said, as far as these tests read it.
type probeAnswer struct {
	target, module string
	body           string
	mfs            map[string]*dto.MetricFamily
}

func (a probeAnswer) value(name string, labels map[string]string) (float64, bool) {
	for _, m := range a.mfs[name].GetMetric() {
		ok := true
		for k, v := range labels {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			ok = ok && found
		}
		if ok {
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

func (a probeAnswer) label(name, label string) string {
	for _, m := range a.mfs[name].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == label {
				return l.GetValue()
			}
		}
	}
	return ""
}

// attempts is tcp_verdict_attempts by class; it fails the test unless
// every class has its series.
func (a probeAnswer) attempts(t *testing.T) map[verdict.Class]int {
	t.Helper()
	out := map[verdict.Class]int{}
	for _, ci := range verdict.Classes {
		v, ok := a.value("tcp_verdict_attempts", map[string]string{"class": string(ci.Class)})
		if !ok {
			t.Errorf("%s %s: no tcp_verdict_attempts{class=%q}", a.module, a.target, ci.Class)
		}
		out[ci.Class] = int(v)
	}
	return out
}

func fetchProbeIn(ctx context.Context, client *http.Client, exporter, target, module string, debug bool) (probeAnswer, error) {
	q := url.Values{"target": {target}, "module": {module}}
	if debug {
		q.Set("debug", "true")
	}
	return fetchProbeQuery(ctx, client, exporter, q)
}

// fetchProbeQuery is fetchProbeIn with the whole query given: target,
// module, and debug or expect.
func fetchProbeQuery(ctx context.Context, client *http.Client, exporter string, q url.Values) (probeAnswer, error) {
	a := probeAnswer{target: q.Get("target"), module: q.Get("module")}
	debug := q.Get("debug") == "true"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+exporter+"/probe?"+q.Encode(), nil)
	if err != nil {
		return a, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return a, err
	}
	defer resp.Body.Close() //nolint:errcheck // read in full below
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return a, err
	}
	a.body = string(body)
	if resp.StatusCode != http.StatusOK {
		return a, fmt.Errorf("HTTP %s: %s", resp.Status, body)
	}
	if debug {
		return a, nil
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	a.mfs, err = parser.TextToMetricFamilies(strings.NewReader(a.body))
	return a, err
}

// probeMany asks for n probes of target at once.
func probeMany(ctx context.Context, t *testing.T, client *http.Client, exporter, target, module string, n int) []probeAnswer {
	t.Helper()
	out := make([]probeAnswer, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i], errs[i] = fetchProbeIn(ctx, client, exporter, target, module, false)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("probing %s with %s: %v", target, module, err)
	}
	return out
}

// checkIn runs the check command inside ns.
func checkIn(t *testing.T, ns, bin, config string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, bin, "check", "--config.file=" + config}, args...)...)
	cmd.Env = append(os.Environ(), "GODEBUG=netdns=go", "NO_COLOR=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return stdout.String(), 0
	case errors.As(err, &exit):
		return stdout.String(), exit.ExitCode()
	}
	t.Fatalf("check %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	return "", -1
}

// checkResult is the check command's JSON, as far as these tests read it.
type checkResult struct {
	Class          string         `json:"class"`
	Success        bool           `json:"success"`
	Expected       *bool          `json:"expected"`
	Intermittent   bool           `json:"intermittent"`
	AttemptCounts  map[string]int `json:"attempt_counts"`
	SynRetransmits int            `json:"syn_retransmits"`
	Phases         map[string]float64
	Attempts       []struct {
		Source string `json:"source"`
		Class  string `json:"class"`
	} `json:"attempts"`
	Trace *struct {
		LastHopAddress string `json:"last_hop_address"`
		LastHopReason  string `json:"last_hop_reason"`
		Hops           []struct {
			Reached bool `json:"reached"`
		} `json:"hops"`
	} `json:"trace"`
}

func checkJSON(t *testing.T, ns, bin, config string, args ...string) ([]checkResult, int) {
	t.Helper()
	out, code := checkIn(t, ns, bin, config, append([]string{"--output=json"}, args...)...)
	var doc struct {
		Results []checkResult `json:"results"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("check output is not JSON: %v\n%s", err, out)
	}
	return doc.Results, code
}

// TestIntermittentPaths is issue 16's proof, in IPv4 and IPv6, through
// /probe, the check command, and a real Prometheus and Alertmanager:
//
//   - a router that drops the SYNs of half the flows by a hash of their
//     source address and port: with tcp.attempts 8, a handful of probes
//     count attempts of both classes; a mixed probe's verdict is the
//     failure (probe_success 0), and its path trace, which keeps the
//     failing attempt's 5-tuple, ends at that router and never reaches
//     the target (a trace from new ports would, for half its TTLs' flows);
//     Prometheus raises TCPVerdictIntermittent to the network team, naming
//     the counts, and never TCPVerdictFirewall;
//   - a router that drops one SYN in three at random: some connected
//     probes have tcp_syn_retransmits > 0, and their connect phase is about
//     one retransmission timeout (1 s) longer than the others';
//   - a clean path: every attempt connected, no SYN retransmitted.
func TestIntermittentPaths(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.NeedTools(t, "ip", "nft", "prometheus", "prometheus-alertmanager")
	ctx, cancel := context.WithTimeout(context.Background(), 3*budget)
	defer cancel()
	start := time.Now()
	dir := t.TempDir()
	bin, err := exporterproc.Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	cl, _, sv := intermittentLab(t)
	for _, f := range intermittentFamilies {
		for _, port := range []int{portHalf, portLossy, portClean} {
			network := "tcp4"
			if f.v6 {
				network = "tcp6"
			}
			ln, err := netlab.Listen(sv, network, f.target(port))
			if err != nil {
				t.Fatal(err)
			}
			testnet.Accept(t, ln, testnet.KeepOpen)
		}
	}
	config := filepath.Join(dir, "exporter.yml")
	writeFile(t, config, intermittentExporterConfig)
	const exporter = "127.0.0.1:9765" // cl is a fresh namespace: every port is free
	netlab.Run(ctx, t, cl, "exporter", "http://"+exporter+"/-/healthy", bin, "--config.file="+config, "--web.listen-address="+exporter)
	client := netlab.Client(cl, 30*time.Second)
	t.Logf("lab and exporter up after %s", time.Since(start).Round(time.Millisecond))

	for _, f := range intermittentFamilies {
		t.Run(f.name+"/half-the-flows", func(t *testing.T) {
			testHalfTheFlows(ctx, t, client, exporter, f, cl, bin, config)
		})
		t.Run(f.name+"/lossy", func(t *testing.T) {
			testLossy(ctx, t, client, exporter, f, cl, bin, config)
		})
		t.Run(f.name+"/clean", func(t *testing.T) {
			testClean(ctx, t, client, exporter, f, cl, bin, config)
		})
	}
	t.Run("alerts", func(t *testing.T) {
		testIntermittentAlert(ctx, t, cl, dir, exporter)
	})
	t.Logf("done after %s", time.Since(start).Round(time.Millisecond))
}

func testHalfTheFlows(ctx context.Context, t *testing.T, client *http.Client, exporter string, f intermittentFamily, cl, bin, config string) {
	target, module := f.target(portHalf), f.name+"_attempts"
	const probes = 4
	answers := probeMany(ctx, t, client, exporter, target, module, probes)
	total := map[verdict.Class]int{}
	mixed := 0
	for _, a := range answers {
		n := a.attempts(t)
		sum := 0
		for c, v := range n {
			total[c] += v
			sum += v
		}
		if sum != 8 || n[verdict.Connected]+n[verdict.Firewall] != 8 {
			t.Errorf("attempts %v: want 8, each connected or firewall", n)
		}
		success, _ := a.value("probe_success", nil)
		t.Logf("%s: attempts %d connected, %d firewall; verdict %s/%s; probe_success %v; trace last hop %s %s",
			target, n[verdict.Connected], n[verdict.Firewall], a.label("tcp_verdict_info", "class"), a.label("tcp_verdict_info", "reason"),
			success, a.label("tcp_trace_last_hop_info", "address"), a.label("tcp_trace_last_hop_info", "reason"))
		if n[verdict.Firewall] == 0 {
			continue // all 8 hashed into the healthy half (1 in 256): read as today
		}
		if n[verdict.Connected] > 0 {
			mixed++
		}
		if fw, _ := a.value("tcp_verdict", map[string]string{"class": string(verdict.Firewall)}); fw != 1 || success != 0 ||
			a.label("tcp_verdict_info", "reason") != string(verdict.NoResponse) {
			t.Errorf("a probe with failing attempts: tcp_verdict{class=firewall} %v, probe_success %v, reason %q; want 1, 0, no-response",
				fw, success, a.label("tcp_verdict_info", "reason"))
		}
		// The failing attempt's own flow dies at rt: TTL 1 is rt's
		// time-exceeded, every TTL after it silent.
		last, _ := a.value("tcp_trace_last_hop", nil)
		if addr, reason := a.label("tcp_trace_last_hop_info", "address"), a.label("tcp_trace_last_hop_info", "reason"); last != 1 ||
			addr != f.router() || reason != string(verdict.TimeExceeded) {
			t.Errorf("trace: last hop %v %q %q, want 1 %s time-exceeded (the router that drops the flow), never the target", last, addr, reason, f.router())
		}
	}
	if total[verdict.Connected] == 0 || total[verdict.Firewall] == 0 || mixed == 0 {
		t.Errorf("over %d probes of 8 attempts: %d connected, %d firewall, %d probes mixed; want both classes and a mixed probe",
			probes, total[verdict.Connected], total[verdict.Firewall], mixed)
	}

	// Expected blocked, the same path is a breach, not a firewall verdict:
	// some of its flows get through. The probe's verdict is an attempt that
	// connected (docs/expectations.md, "Attempts that disagree"); a probe
	// whose 8 attempts happen to agree is made again.
	for try := 1; ; try++ {
		a, err := fetchProbeQuery(ctx, client, exporter, url.Values{"target": {target}, "module": {module}, "expect": {"blocked"}})
		if err != nil {
			t.Fatal(err)
		}
		n := a.attempts(t)
		if (n[verdict.Connected] == 0 || n[verdict.Firewall] == 0) && try < 8 {
			continue
		}
		expected, _ := a.value("tcp_verdict_expected", nil)
		success, _ := a.value("probe_success", nil)
		t.Logf("expected blocked: attempts %d connected, %d firewall; verdict %s/%s; tcp_verdict_expected %v; probe_success %v",
			n[verdict.Connected], n[verdict.Firewall], a.label("tcp_verdict_info", "class"), a.label("tcp_verdict_info", "reason"), expected, success)
		if n[verdict.Connected] == 0 || n[verdict.Firewall] == 0 {
			t.Fatalf("8 probes of 8 attempts never mixed: %v", n)
		}
		if a.label("tcp_verdict_info", "class") != string(verdict.Connected) || expected != 0 || success != 0 {
			t.Errorf("a partly reachable path expected blocked: want verdict connected, tcp_verdict_expected 0, probe_success 0")
		}
		break
	}
	for try := 1; ; try++ {
		results, code := checkJSON(t, cl, bin, config, "--module="+module, "--expect=blocked", target)
		if len(results) != 1 {
			t.Fatalf("check --expect: %d results", len(results))
		}
		r := results[0]
		if !r.Intermittent && try < 8 {
			continue
		}
		if !r.Intermittent || r.Class != string(verdict.Connected) || r.Expected == nil || *r.Expected || code != check.ExitUnexpected {
			held := "null"
			if r.Expected != nil {
				held = fmt.Sprint(*r.Expected)
			}
			t.Errorf("check --expect=blocked of a partly reachable path: intermittent %v, class %s, expected %s, exit %d; want mixed, connected, false, %d",
				r.Intermittent, r.Class, held, code, check.ExitUnexpected)
		}
		break
	}

	// The control: a probe of one attempt whose SYN was dropped traces as
	// classic traceroute does, each TTL a new flow hashed anew, and such a
	// trace "reaches" the target through the healthy half (each TTL from 2
	// on has an even chance): what keeping the failing flow's 5-tuple
	// avoids.
	reached, failed := 0, 0
	for try := 0; try < 4 && reached == 0; try++ {
		for _, a := range probeMany(ctx, t, client, exporter, target, f.name+"_classic", 4) {
			if a.label("tcp_verdict_info", "class") != string(verdict.Firewall) {
				continue
			}
			failed++
			if a.label("tcp_trace_last_hop_info", "address") == f.server() {
				reached++
			}
		}
	}
	t.Logf("control: %d of %d failed single-attempt probes traced with new ports per TTL 'reached' the target", reached, failed)
	if reached == 0 {
		t.Errorf("control: no classic trace of a dropped flow reached the target in %d failed probes; the lab does not split flows by port", failed)
	}

	// The debug output says it at a glance, and the trace went from the
	// failing attempt's own port.
	debug, err := fetchProbeIn(ctx, client, exporter, target, module, true)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(debug.body, "intermittent: ") {
		if !strings.Contains(debug.body, "the failed attempt's flow") || strings.Contains(debug.body, "is the target") {
			t.Errorf("debug output of a mixed probe: want a trace of the failed attempt's flow that never reaches the target:\n%s", debug.body)
		}
	}

	// check: the same, in its JSON and its text; a run whose 8 attempts
	// happen to agree is run again.
	for try := 1; ; try++ {
		results, code := checkJSON(t, cl, bin, config, "--module="+module, target)
		if len(results) != 1 {
			t.Fatalf("check: %d results", len(results))
		}
		r := results[0]
		if !r.Intermittent && try < 4 {
			continue
		}
		if !r.Intermittent || r.AttemptCounts["connected"] == 0 || r.AttemptCounts["firewall"] == 0 || r.Class != string(verdict.Firewall) || r.Success {
			t.Errorf("check: intermittent %v, counts %v, class %s, success %v; want mixed counts, firewall, no success", r.Intermittent, r.AttemptCounts, r.Class, r.Success)
		}
		if code != verdict.Firewall.Info().ExitCode {
			t.Errorf("check exit status %d, want %d (firewall)", code, verdict.Firewall.Info().ExitCode)
		}
		ports := map[string]bool{}
		for _, a := range r.Attempts {
			ports[a.Source] = true
		}
		if len(r.Attempts) != 8 || len(ports) != 8 {
			t.Errorf("check: %d attempts from %d sources, want 8 from 8", len(r.Attempts), len(ports))
		}
		if r.Trace == nil || r.Trace.LastHopAddress != f.router() || r.Trace.LastHopReason != string(verdict.TimeExceeded) {
			t.Errorf("check: trace %+v, want it to end at %s", r.Trace, f.router())
		} else {
			for _, h := range r.Trace.Hops {
				if h.Reached {
					t.Errorf("check: the failing flow's trace reached the target")
				}
			}
		}
		break
	}
	for try := 1; ; try++ {
		text, _ := checkIn(t, cl, bin, config, "--module="+module, target)
		if !strings.Contains(text, "intermittent: ") && try < 4 {
			continue
		}
		if !regexp.MustCompile(`verdict +intermittent: \d of 8 attempts connected, \d firewall; firewall \(no-response`).MatchString(text) {
			t.Errorf("check's text does not say intermittent at a glance:\n%s", text)
		}
		t.Logf("check:\n%s", text)
		break
	}
}

func testLossy(ctx context.Context, t *testing.T, client *http.Client, exporter string, f intermittentFamily, cl, bin, config string) {
	// The drops are random: a sample can, rarely, show no lost SYN, and a
	// loaded machine can stretch one connect past its bound. A try that
	// finds a problem is logged and the sample drawn again, at most three
	// times; a defect fails every try.
	const tries = 3
	var problems []string
	for try := 1; try <= tries; try++ {
		if problems = lossyTry(ctx, t, client, exporter, f, cl, bin, config); len(problems) == 0 {
			return
		}
		t.Logf("try %d of %d:\n%s", try, tries, strings.Join(problems, "\n"))
	}
	t.Errorf("the lossy path failed %d tries; the last:\n%s", tries, strings.Join(problems, "\n"))
}

// lossyTry draws one sample of the lossy path through /probe and check and
// returns what is wrong with it.
func lossyTry(ctx context.Context, t *testing.T, client *http.Client, exporter string, f intermittentFamily, cl, bin, config string) []string {
	var problems []string
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	target, module := f.target(portLossy), f.name+"_lossy"
	const probes = 16 // none with a lost SYN: (2/3)^16, 0.15 %
	answers := probeMany(ctx, t, client, exporter, target, module, probes)
	var lost, clean []float64
	for _, a := range answers {
		if fw, _ := a.value("tcp_verdict", map[string]string{"class": string(verdict.Connected)}); fw != 1 {
			continue // three SYNs lost in a row (1 in 27): not this test's case
		}
		n, ok := a.value("tcp_syn_retransmits", nil)
		if !ok {
			t.Fatalf("no tcp_syn_retransmits in\n%s", a.body)
		}
		connect, _ := a.value("tcp_phase_duration_seconds", map[string]string{"phase": "connect"})
		switch n {
		case 0:
			clean = append(clean, connect)
			if connect > 0.5 {
				fail("connected without a SYN retransmission in %.3f s: over half the retransmission timeout", connect)
			}
		default:
			lost = append(lost, connect)
			// Each retransmission waits 1 s while the kernel's backoff is
			// linear (net.ipv4.tcp_syn_linear_timeouts, 4 by default on
			// 6.18), else 1 s, then 2 s, 4 s: n to 2^n-1 s in all.
			if least, most := n, float64(int(1)<<int(n))-1; connect < least-0.05 || connect > most+0.5 {
				fail("connected after %v SYN retransmissions in %.3f s, want %.0f to %.0f s", n, connect, least, most)
			}
		}
	}
	t.Logf("%s: %d of %d probes connected after a SYN retransmission (connect %v s), %d without (connect %v s)", target, len(lost), probes, lost, len(clean), clean)
	if len(lost) == 0 || len(clean) == 0 {
		fail("want some probes with tcp_syn_retransmits > 0 and some without")
	}

	targets := slices.Repeat([]string{target}, probes)
	text, _ := checkIn(t, cl, bin, config, append([]string{"--module=" + module}, targets...)...)
	re := regexp.MustCompile(`handshake connected after (\d+) SYN retransmissions? \((\d+\.\d) s\): a SYN or SYN-ACK was lost`)
	m := re.FindAllStringSubmatch(text, -1)
	if len(m) == 0 {
		fail("check on %d probes of the lossy path says no lost SYN:\n%s", probes, text)
	}
	for _, s := range m {
		if s[1] == "1" && (s[2] < "0.9" || s[2] > "1.5") {
			fail("check: %q: one retransmission, want about 1.0 s", s[0])
		}
	}
	if len(m) > 0 {
		t.Logf("check says: %s", m[0][0])
	}
	return problems
}

func testClean(ctx context.Context, t *testing.T, client *http.Client, exporter string, f intermittentFamily, cl, bin, config string) {
	target, module := f.target(portClean), f.name+"_attempts"
	for _, a := range probeMany(ctx, t, client, exporter, target, module, 2) {
		n := a.attempts(t)
		success, _ := a.value("probe_success", nil)
		retrans, _ := a.value("tcp_syn_retransmits", nil)
		if n[verdict.Connected] != 8 || success != 1 || retrans != 0 {
			t.Errorf("clean path: attempts %v, probe_success %v, tcp_syn_retransmits %v; want 8 connected, 1, 0", n, success, retrans)
		}
	}
	results, code := checkJSON(t, cl, bin, config, "--module="+module, target)
	if code != 0 || len(results) != 1 || results[0].AttemptCounts["connected"] != 8 || results[0].Intermittent || results[0].SynRetransmits != 0 {
		t.Errorf("check on the clean path: exit %d, %+v; want 0, 8 connected, no retransmission", code, results)
	}
}

// testIntermittentAlert runs the shipped rules (with short `for`s) in a
// real Prometheus that scrapes the half-the-flows target in both families
// and the clean one, and Alertmanager with the example routing: the two
// split targets reach the network team as TCPVerdictIntermittent naming the
// counts; the v4 one, scraped again by a segmentation job that expects it
// blocked, reaches the security team as TCPVerdictUnexpectedlyReachable;
// and nothing else reaches anyone.
func testIntermittentAlert(ctx context.Context, t *testing.T, cl, dir, exporter string) {
	hooks := &webhooks{}
	hookLn, err := netlab.Listen(cl, "tcp4", "127.0.0.1:0")
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
	const amAddr, promAddr = "127.0.0.1:9093", "127.0.0.1:9090"
	netlab.Run(ctx, t, cl, "alertmanager", "http://"+amAddr+"/-/ready", "prometheus-alertmanager",
		"--config.file="+filepath.Join(dir, "alertmanager.yml"), "--storage.path="+filepath.Join(dir, "am"),
		"--web.listen-address="+amAddr, "--cluster.listen-address=", "--log.level=warn")
	cfg, err := mixin.Parse([]byte(intermittentGeneratorConfig))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "rules.yml"), rulesInSeconds(t, cfg))
	v4, v6 := intermittentFamilies[0], intermittentFamilies[1]
	split := []string{v4.target(portHalf), v6.target(portHalf)}
	writeFile(t, filepath.Join(dir, "prometheus.yml"), fmt.Sprintf(`global:
  scrape_interval: 4s
  scrape_timeout: 3500ms
  evaluation_interval: 1s
rule_files: [%q]
alerting:
  alertmanagers:
    - static_configs:
        - targets: [%q]
scrape_configs:
  - job_name: tcp_verdict
    metrics_path: /probe
    static_configs:
      - targets: [%q, %q]
        labels: {__param_module: v4_attempts}
      - targets: [%q]
        labels: {__param_module: v6_attempts}
    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_target
      - source_labels: [__param_target]
        target_label: instance
      - source_labels: [__param_module]
        target_label: module
      - target_label: __address__
        replacement: %q
  - job_name: tcp_verdict_segmentation
    metrics_path: /probe
    params: {module: [v4_attempts], expect: [blocked]}
    static_configs:
      - targets: [%q]
    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_target
      - source_labels: [__param_target]
        target_label: instance
      - target_label: module
        replacement: v4_attempts
      - target_label: __address__
        replacement: %q
`, filepath.Join(dir, "rules.yml"), amAddr, split[0], v4.target(portClean), split[1], exporter, split[0], exporter))
	netlab.Run(ctx, t, cl, "prometheus", "http://"+promAddr+"/-/ready", "prometheus",
		"--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+promAddr, "--log.level=warn")
	prom := promAPI{base: "http://" + promAddr, client: netlab.Client(cl, 5*time.Second)}

	network := verdict.Intermittent().Team
	counts := regexp.MustCompile(`ended \d connected, \d firewall\.`)
	summaryCounts := regexp.MustCompile(`: intermittent, attempts \d connected, \d firewall: `)
	for _, instance := range split {
		got, err := waitFor(ctx, func() (received, bool) { return hooks.find(mixin.Intermittent, instance) })
		if err != nil {
			t.Fatalf("%s for %s never reached a receiver (%v); received: %v\n%s", mixin.Intermittent, instance, err, hooks.all(), prom.alertsDump(ctx))
		}
		t.Logf("%s: %s reached team %s: %q", instance, mixin.Intermittent, got.team, got.annotations["description"])
		if got.team != network || got.labels["team"] != network {
			t.Errorf("%s reached /team/%s (label %q), want %s", mixin.Intermittent, got.team, got.labels["team"], network)
		}
		if !counts.MatchString(got.annotations["description"]) || !summaryCounts.MatchString(got.annotations["summary"]) {
			t.Errorf("%s does not name the counts:\nsummary: %s\ndescription: %s", mixin.Intermittent, got.annotations["summary"], got.annotations["description"])
		}
	}
	// The segmentation job's probe of the v4 split path: a breach, for some
	// of its flows connect, and to the security team.
	breach, err := waitFor(ctx, func() (received, bool) { return hooks.find(mixin.UnexpectedlyReachable, split[0]) })
	if err != nil {
		t.Fatalf("%s for %s never reached a receiver (%v); received: %v\n%s", mixin.UnexpectedlyReachable, split[0], err, hooks.all(), prom.alertsDump(ctx))
	}
	t.Logf("%s: %s reached team %s: %q", split[0], mixin.UnexpectedlyReachable, breach.team, breach.annotations["summary"])
	if breach.team != mixin.SecurityTeam || breach.labels["class"] != string(verdict.Connected) || breach.labels["job"] != "tcp_verdict_segmentation" {
		t.Errorf("%s reached /team/%s with class %q, job %q; want %s, connected, tcp_verdict_segmentation",
			mixin.UnexpectedlyReachable, breach.team, breach.labels["class"], breach.labels["job"], mixin.SecurityTeam)
	}
	// A few scrapes later: only those three went out.
	select {
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	case <-time.After(10 * time.Second):
	}
	var deliveries []string
	for _, a := range hooks.all() {
		if a.status == "firing" {
			deliveries = append(deliveries, fmt.Sprintf("%s %s → %s", a.labels["alertname"], a.labels["instance"], a.team))
		}
	}
	deliveries = slices.Compact(slices.Sorted(slices.Values(deliveries)))
	want := []string{mixin.Intermittent + " " + split[0] + " → " + network, mixin.Intermittent + " " + split[1] + " → " + network,
		mixin.UnexpectedlyReachable + " " + split[0] + " → " + mixin.SecurityTeam}
	sort.Strings(want)
	if !slices.Equal(deliveries, want) {
		t.Errorf("webhook deliveries:\n  %s\nwant:\n  %s\n%s", strings.Join(deliveries, "\n  "), strings.Join(want, "\n  "), prom.alertsDump(ctx))
	}
}
