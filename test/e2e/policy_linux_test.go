//go:build linux

package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Ports of the target-policy test: a silent listener on the server, and a
// port r1 drops, where a dialled traced probe would send a SYN per TTL.
const portPolicy = 7050 // 7040 is the multi-address test's

// policyConfig denies the server's addresses everywhere; module v4_allow
// allows only the delayed subnet 6, so that r1 (10.201.1.1) is refused by
// its allow list, not by the file's deny.
const policyConfig = `target_policy:
  deny: ["10.201.3.2", "fd00:201:3::2"]
modules:
  v4:
    prober: tcp
    timeout: 2s
    tcp: {preferred_ip_protocol: ip4, ip_protocol_fallback: false, hold: 300ms}
  v6:
    prober: tcp
    timeout: 2s
    tcp: {preferred_ip_protocol: ip6, ip_protocol_fallback: false, hold: 300ms}
  v4_trace:
    prober: tcp
    timeout: 2s
    tcp: {preferred_ip_protocol: ip4, ip_protocol_fallback: false, hold: 300ms, trace: {enabled: true, max_hops: 8, timeout: 1s}}
  v4_allow:
    prober: tcp
    timeout: 2s
    tcp: {preferred_ip_protocol: ip4, ip_protocol_fallback: false, hold: 300ms}
    target_policy: {allow: ["10.201.6.0/24"]}
`

// policyCounters counts, in the client's OUTPUT chain, every packet sent
// to the two ports: a SYN of a dial or of a path trace alike.
var policyCounters = fmt.Sprintf(`table inet tvepolicy {
	counter to_policy {}
	counter to_drop_r1 {}
	chain output {
		type filter hook output priority 0; policy accept;
		tcp dport %d counter name to_policy
		tcp dport %d counter name to_drop_r1
	}
}
`, portPolicy, portDropR1)

var nftPackets = regexp.MustCompile(`packets (\d+)`)

func policyCounter(t *testing.T, ns, name string) int {
	t.Helper()
	out, err := command("", "ip", "netns", "exec", ns, "nft", "list", "counter", "inet", "tvepolicy", name)
	if err != nil {
		t.Fatal(err)
	}
	m := nftPackets.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no packet count in %q", out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// status asks e for path and returns the status and body.
func (e *exporter) status(t *testing.T, method, path string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+e.addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }() // read in full below; a failed close changes nothing
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// testPolicy runs a second exporter in the client namespace with a target
// policy and shows each way round it failing: a literal, a name the lab
// DNS resolves to a denied address, a v4-mapped literal, IPv6, a trace
// module, an allow list; nothing is sent to the refused ports, the
// refusals are counted, and a reload applies a new policy.
func (l *lab) testPolicy(t *testing.T) {
	if err := l.servers.listen(l.server, portPolicy, silent); err != nil {
		t.Fatal(err)
	}
	if err := nft(l.client, policyCounters); err != nil {
		t.Fatal(err)
	}
	cleanup.add("deleting nft table tvepolicy in "+l.client, func() error {
		_, err := command("", "ip", "netns", "exec", l.client, "nft", "delete", "table", "inet", "tvepolicy")
		return err
	})
	cfg := filepath.Join(l.dir, "policy.yml")
	if err := os.WriteFile(cfg, []byte(policyConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	// 9766 is the rlimit test's.
	e, err := startExporter(l.client, l.bin, cfg, "127.0.0.1:9767", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = e.stop() }() // also registered for teardown

	server4 := "target 10.201.3.2 refused by target_policy.deny 10.201.3.2\n"
	server6 := "target fd00:201:3::2 refused by target_policy.deny fd00:201:3::2\n"
	p := strconv.Itoa(portPolicy)
	cases := []struct{ name, target, module, body string }{
		{"literal", ipv4.server() + ":" + p, "v4", server4},
		{"name resolving to a denied address", "www." + dnsName + ":" + p, "v4", server4},
		{"name resolving to a denied IPv6 address", "www." + dnsName + ":" + p, "v6", server6},
		{"v4-mapped", "[::ffff:" + ipv4.server() + "]:" + p, "v4", server4},
		{"IPv6", "[" + ipv6.server() + "]:" + p, "v6", server6},
		{"trace module", ipv4.server() + ":" + strconv.Itoa(portDropR1), "v4_trace", server4},
		{"allow list", ipv4.r1Client() + ":" + p, "v4_allow", "target 10.201.1.1 refused by modules.v4_allow.target_policy.allow (the address is in none of its entries)\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, debug := range []string{"false", "true"} {
				q := url.Values{"target": {tc.target}, "module": {tc.module}, "debug": {debug}}
				start := time.Now()
				code, body := e.status(t, http.MethodGet, "/probe?"+q.Encode())
				if code != http.StatusForbidden || body != tc.body {
					t.Errorf("debug=%s: HTTP %d %q, want 403 %q", debug, code, body, tc.body)
				}
				if d := time.Since(start); d > time.Second {
					t.Errorf("debug=%s: the refusal took %s", debug, d)
				}
			}
		})
	}
	// Give a SYN that was sent a moment to pass the counter.
	time.Sleep(100 * time.Millisecond)
	for _, c := range []string{"to_policy", "to_drop_r1"} {
		if n := policyCounter(t, l.client, c); n != 0 {
			t.Errorf("nft counter %s = %d packets: a refused target was dialled or traced", c, n)
		}
	}
	_, metrics := e.status(t, http.MethodGet, "/metrics")
	want := fmt.Sprintf(`tcp_verdict_exporter_probes_rejected_total{reason="policy"} %d`, 2*len(cases))
	if !strings.Contains(metrics, want+"\n") {
		t.Errorf("/metrics lacks %s:\n%s", want, grepLines(metrics, "tcp_verdict_exporter_probes"))
	}
	if regexp.MustCompile(`(?m)^tcp_verdict_exporter_probes_total\{.*\} [1-9]`).MatchString(metrics) {
		t.Errorf("refusals counted as probes:\n%s", grepLines(metrics, "tcp_verdict_exporter_probes_total"))
	}

	// The counters count: the lab's own exporter, with no policy, dials the
	// same port and traces the dropped one.
	if r := l.exporter.probe(ipv4.server()+":"+p, "v4"); r.err != nil || r.class != "connected" {
		t.Fatalf("unrestricted probe: %v %s", r.err, r.class)
	}
	if r := l.exporter.probe(ipv4.server()+":"+strconv.Itoa(portDropR1), "v4_trace"); r.err != nil || r.class != "firewall" {
		t.Fatalf("unrestricted traced probe: %v %s", r.err, r.class)
	}
	time.Sleep(100 * time.Millisecond)
	if n := policyCounter(t, l.client, "to_policy"); n < 1 {
		t.Errorf("nft counter to_policy = %d after a dialled probe: the counter does not count", n)
	}
	if n := policyCounter(t, l.client, "to_drop_r1"); n < 2 {
		t.Errorf("nft counter to_drop_r1 = %d after a traced probe, want the SYN and the trace's", n)
	}

	t.Run("reload", func(t *testing.T) {
		// Lift the deny: the same name now connects.
		if err := os.WriteFile(cfg, []byte(strings.Replace(policyConfig, `deny: ["10.201.3.2", "fd00:201:3::2"]`, "deny: []", 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		if code, body := e.status(t, http.MethodPost, "/-/reload"); code != http.StatusOK {
			t.Fatalf("reload: HTTP %d %s", code, body)
		}
		if r := e.probe("www."+dnsName+":"+p, "v4"); r.err != nil || r.class != "connected" {
			t.Fatalf("after the reload: %v %s", r.err, r.class)
		}
		// A bad CIDR keeps the running policy.
		if err := os.WriteFile(cfg, []byte(strings.Replace(policyConfig, `"10.201.3.2"`, `"10.201.3.2/33"`, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		if code, body := e.status(t, http.MethodPost, "/-/reload"); code != http.StatusInternalServerError || !strings.Contains(body, "target_policy.deny[0]") {
			t.Fatalf("bad reload: HTTP %d %s", code, body)
		}
		if r := e.probe("www."+dnsName+":"+p, "v4"); r.err != nil || r.class != "connected" {
			t.Fatalf("after a bad reload: %v %s; the running policy must stay", r.err, r.class)
		}
	})
}

func grepLines(s, substr string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
