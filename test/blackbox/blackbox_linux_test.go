//go:build linux

package blackbox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/exporterproc"
	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/netlab"
	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testenv"
	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testnet"
)

// ns is the namespace both exporters, the targets and the DNS server live
// in: its loopback is the only network, so no probe and no DNS query can
// leave it. The PID in its name keeps one left by a killed run from
// blocking the next.
var ns = fmt.Sprintf("tve%d-blackbox", os.Getpid())

// modules are the same in both exporters' configs. The exporter's add
// `hold: 0s`: blackbox's tcp prober succeeds as soon as it connects, and
// the exporter's default hold (watching the session for 500ms) changes no
// series here, only the test's time.
const modules = `
  tcp: # blackbox's defaults: IPv6 preferred, IPv4 as fallback
    prober: tcp
    timeout: 3s
    tcp:%[1]s
  tcp_ip4:
    prober: tcp
    timeout: 3s
    tcp:
      preferred_ip_protocol: ip4%[1]s
  tcp_ip4_only:
    prober: tcp
    timeout: 3s
    tcp:
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false%[1]s
  tcp_ip6_only:
    prober: tcp
    timeout: 3s
    tcp:
      preferred_ip_protocol: ip6
      ip_protocol_fallback: false%[1]s
  banner_match:
    prober: tcp
    timeout: 3s
    tcp:
      query_response:
        - expect: "^SSH-2.0-"%[1]s
  banner_mismatch:
    prober: tcp
    timeout: 3s
    tcp:
      query_response:
        - expect: "^HTTP/"%[1]s
`

// hosts is the namespace's /etc/hosts (`ip netns exec` mounts it over the
// host's): names found there never reach DNS.
const hosts = `127.0.0.1 localhost hosts4.tve.test
::1 localhost hosts6.tve.test
`

// The test DNS zone's names; anything else under tve.test is NXDOMAIN.
var zone = &testnet.DNSZone{
	A: map[string][]netip.Addr{
		"dns4.tve.test.": {netip.MustParseAddr("127.0.0.1")},
		"dual.tve.test.": {netip.MustParseAddr("127.0.0.1")},
	},
	AAAA: map[string][]netip.Addr{
		"dns6.tve.test.": {netip.MustParseAddr("::1")},
		"dual.tve.test.": {netip.MustParseAddr("::1")},
	},
}

// timeVarying are the series whose value is a measured time: for them the
// test compares presence and label sets only, never the value.
var timeVarying = map[string]bool{
	"probe_duration_seconds":        true,
	"probe_dns_lookup_time_seconds": true,
}

// TestSameSeriesAsBlackbox probes each target (IPv4, IPv6 and IPv4-mapped
// literals, names from /etc/hosts and from DNS, one that does not exist, a
// refused port, a port that sends a banner) with each of its modules (IP
// family preference and fallback, query_response that matches and that
// does not) through both exporters and requires every series name either emits in any case
// to be emitted by the other in the same cases, with the same labels and
// (time-varying series aside) the same value: probe_success,
// probe_ip_protocol, probe_ip_addr_hash, probe_failed_due_to_regex.
func TestSameSeriesAsBlackbox(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.NeedTools(t, "ip")
	bb := blackboxBinary(t)
	version, err := exec.Command(bb, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s --version: %v\n%s", bb, err, version)
	}
	t.Logf("%s", strings.SplitN(string(version), "\n", 2)[0])

	dir := t.TempDir()
	ours, err := exporterproc.Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	clean := netlab.TestCleanup{T: t}
	if err := netlab.AddNamespace(clean, ns); err != nil {
		t.Fatal(err)
	}
	if err := netlab.IPBatch(ns, "link set lo up"); err != nil {
		t.Fatal(err)
	}
	// One resolver for both: Go's, reading the namespace's files, asking
	// only the DNS server on the namespace's loopback.
	etcFiles(t, map[string]string{
		"hosts":         hosts,
		"resolv.conf":   "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
		"nsswitch.conf": "hosts: files dns\n",
	})
	startDNS(t)

	open, refused := targetPorts(t)
	banner := bannerPort(t)

	bbConfig := filepath.Join(dir, "blackbox.yml")
	ourConfig := filepath.Join(dir, "tcp_verdict_exporter.yml")
	writeFile(t, bbConfig, "modules:"+fmt.Sprintf(modules, ""))
	writeFile(t, ourConfig, "modules:"+fmt.Sprintf(modules, "\n      hold: 0s"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const bbListen, ourListen = "127.0.0.1:9115", "127.0.0.1:9765"
	netlab.Run(ctx, t, ns, "blackbox_exporter", "http://"+bbListen+"/-/healthy",
		bb, "--config.file="+bbConfig, "--web.listen-address="+bbListen, "--log.level=debug")
	netlab.Run(ctx, t, ns, "tcp_verdict_exporter", "http://"+ourListen+"/-/healthy",
		ours, "--config.file="+ourConfig, "--web.listen-address="+ourListen, "--log.level=debug")
	client := netlab.Client(ns, 10*time.Second)

	// Each target with each of its modules: the family modules on plain
	// targets, the query_response modules on a port that sends a banner.
	familyModules := []string{"tcp", "tcp_ip4", "tcp_ip4_only", "tcp_ip6_only"}
	bannerModules := []string{"banner_match", "banner_mismatch"}
	type probeCase struct {
		target  string
		modules []string
	}
	var cases []probeCase
	for _, target := range []string{
		fmt.Sprintf("127.0.0.1:%d", open),
		fmt.Sprintf("[::1]:%d", open),
		fmt.Sprintf("[::ffff:127.0.0.1]:%d", open),
		fmt.Sprintf("127.0.0.1:%d", refused),
		fmt.Sprintf("[::1]:%d", refused),
		fmt.Sprintf("localhost:%d", open),
		fmt.Sprintf("hosts4.tve.test:%d", open),
		fmt.Sprintf("hosts6.tve.test:%d", open),
		fmt.Sprintf("dns4.tve.test:%d", open),
		fmt.Sprintf("dns6.tve.test:%d", open),
		fmt.Sprintf("dual.tve.test:%d", open),
		fmt.Sprintf("dual.tve.test:%d", refused),
		fmt.Sprintf("nx.tve.test:%d", open),
	} {
		cases = append(cases, probeCase{target, familyModules})
	}
	for _, target := range []string{
		fmt.Sprintf("127.0.0.1:%d", banner),
		fmt.Sprintf("[::1]:%d", banner),
		fmt.Sprintf("dual.tve.test:%d", banner),
		fmt.Sprintf("127.0.0.1:%d", refused),
	} {
		cases = append(cases, probeCase{target, bannerModules})
	}
	type outputs struct{ bb, ours map[string]*dto.MetricFamily }
	results := map[string]outputs{} // "target module" → both outputs
	var keys []string
	bbNames, ourNames := map[string]bool{}, map[string]bool{}
	for _, c := range cases {
		target := c.target
		for _, module := range c.modules {
			query := "/probe?" + url.Values{"target": {target}, "module": {module}}.Encode()
			o := outputs{scrape(ctx, t, client, "http://"+bbListen+query), scrape(ctx, t, client, "http://"+ourListen+query)}
			key := target + " " + module
			results[key] = o
			keys = append(keys, key)
			for name := range o.bb {
				bbNames[name] = true
			}
			for name := range o.ours {
				ourNames[name] = true
			}
		}
	}
	// Every series blackbox emits, the exporter emits too (its own
	// tcp_* series are extra).
	var shared []string
	for name := range bbNames {
		if !ourNames[name] {
			t.Errorf("blackbox emits %s, the exporter never does", name)
			continue
		}
		shared = append(shared, name)
	}
	for name := range ourNames {
		if strings.HasPrefix(name, "probe_") && !bbNames[name] {
			t.Errorf("the exporter emits %s, which blackbox never did here", name)
		}
	}
	sort.Strings(shared)
	t.Logf("series compared: %s", strings.Join(shared, ", "))
	compared := 0
	for _, key := range keys {
		o := results[key]
		for _, name := range shared {
			b, u := o.bb[name], o.ours[name]
			switch {
			case b == nil && u == nil:
				continue
			case b == nil:
				t.Errorf("%s: the exporter emits %s, blackbox does not", key, name)
				continue
			case u == nil:
				t.Errorf("%s: blackbox emits %s, the exporter does not", key, name)
				continue
			}
			compared++
			if b.GetType() != u.GetType() {
				t.Errorf("%s: %s is a %v in blackbox, a %v here", key, name, b.GetType(), u.GetType())
			}
			bs, us := series(b, timeVarying[name]), series(u, timeVarying[name])
			if !slices.Equal(bs, us) {
				t.Errorf("%s: %s\n  blackbox: %v\n  exporter: %v", key, name, bs, us)
			}
		}
	}
	if compared == 0 {
		t.Fatal("no series compared")
	}
	// The values the issue names, so the comparison cannot pass on two
	// equal wrong answers.
	for key, want := range map[string]float64{
		fmt.Sprintf("127.0.0.1:%d tcp", open):       3668918509,
		fmt.Sprintf("[::1]:%d tcp", open):           1751717746,
		fmt.Sprintf("hosts4.tve.test:%d tcp", open): 3668918509,
		fmt.Sprintf("dns6.tve.test:%d tcp", open):   1751717746,
	} {
		if got := gauge(results[key].ours, "probe_ip_addr_hash"); got != want {
			t.Errorf("%s: the exporter's probe_ip_addr_hash = %v, want %v", key, got, want)
		}
	}
	for _, c := range []struct {
		key, name string
		want      float64
	}{
		{fmt.Sprintf("127.0.0.1:%d tcp", open), "probe_success", 1},
		{fmt.Sprintf("127.0.0.1:%d tcp", refused), "probe_success", 0},
		{fmt.Sprintf("127.0.0.1:%d banner_match", banner), "probe_success", 1},
		{fmt.Sprintf("127.0.0.1:%d banner_mismatch", banner), "probe_failed_due_to_regex", 1},
	} {
		if got := gauge(results[c.key].bb, c.name); got != c.want {
			t.Errorf("%s: blackbox's %s = %v, want %v (the targets are not what the test thinks)", c.key, c.name, got, c.want)
		}
	}
	t.Logf("%d cases, %d series families compared", len(keys), compared)
}

// blackboxBinary is the unpacked blackbox_exporter: from
// $TVE_BLACKBOX_EXPORTER, else fetched (or found in its cache) by
// scripts/blackbox-exporter.sh.
func blackboxBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("TVE_BLACKBOX_EXPORTER"); bin != "" {
		return bin
	}
	testenv.NeedTools(t, "apt-get", "dpkg")
	var stderr strings.Builder
	cmd := exec.Command("../../scripts/blackbox-exporter.sh")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		testenv.Skip(t, fmt.Sprintf("cannot fetch Debian's blackbox_exporter (scripts/blackbox-exporter.sh: %v)\n%s", err, stderr.String()))
	}
	return strings.TrimSpace(string(out))
}

// etcFiles writes /etc/netns/NS/NAME, which `ip netns exec` mounts over
// /etc/NAME for the programs it starts, and removes them when the test
// ends (/etc/netns too, if the test made it and it is empty again).
func etcFiles(t *testing.T, files map[string]string) {
	t.Helper()
	const base = "/etc/netns"
	if _, err := os.Stat(base); errors.Is(err, os.ErrNotExist) {
		if err := os.Mkdir(base, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := os.Remove(base); err != nil && !errors.Is(err, syscall.ENOTEMPTY) && !errors.Is(err, os.ErrNotExist) {
				t.Errorf("removing %s: %v", base, err)
			}
		})
	}
	dir := filepath.Join(base, ns)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("removing %s: %v", dir, err)
		}
	})
	for name, content := range files {
		writeFile(t, filepath.Join(dir, name), content)
	}
}

// startDNS serves zone on port 53 of the namespace's loopback, where its
// resolv.conf points.
func startDNS(t *testing.T) {
	t.Helper()
	var conn *net.UDPConn
	err := netlab.InNS(ns, func() error {
		var err error
		conn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53})
		return err
	})
	if err != nil {
		t.Fatalf("DNS server in %s: %v", ns, err)
	}
	var wg sync.WaitGroup
	testnet.ServeDNS(conn, zone, &wg)
	t.Cleanup(func() {
		if err := conn.Close(); err != nil {
			t.Errorf("closing the DNS server: %v", err)
		}
		wg.Wait()
	})
}

// targetPorts opens a port that accepts on both loopback addresses of the
// namespace, and finds one that refuses: a port taken and given back,
// where nothing in the fresh namespace listens again.
func targetPorts(t *testing.T) (open, refused int) {
	t.Helper()
	ln, err := netlab.Listen(ns, "tcp", "[::]:0") // dual-stack: 127.0.0.1 and ::1
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close() // the probes only connect
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); <-done }) // closing ends Accept; its error says nothing new
	gone, err := netlab.Listen(ns, "tcp", "[::]:0")
	if err != nil {
		t.Fatal(err)
	}
	refused = gone.Addr().(*net.TCPAddr).Port
	if err := gone.Close(); err != nil {
		t.Fatal(err)
	}
	return ln.Addr().(*net.TCPAddr).Port, refused
}

// bannerPort opens a port that greets as an SSH server does, then closes
// the connection, so that a query_response expect that does not match ends
// at the close rather than at the module's timeout.
func bannerPort(t *testing.T) int {
	t.Helper()
	ln, err := netlab.Listen(ns, "tcp", "[::]:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("SSH-2.0-tve\r\n")) // a failed write shows as a failed probe in both
			_ = c.Close()
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); <-done }) // closing ends Accept; its error says nothing new
	return ln.Addr().(*net.TCPAddr).Port
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// scrape GETs a /probe URL as Prometheus does and parses the answer.
func scrape(ctx context.Context, t *testing.T, client *http.Client, u string) map[string]*dto.MetricFamily {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "10")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer func() { _ = resp.Body.Close() }() // read to the end below
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", u, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: parsing: %v", u, err)
	}
	return families
}

// series renders a family's series as "{labels} value", sorted; without
// the value when withoutValue.
func series(f *dto.MetricFamily, withoutValue bool) []string {
	var out []string
	for _, m := range f.GetMetric() {
		var labels []string
		for _, l := range m.GetLabel() {
			labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
		}
		sort.Strings(labels)
		s := "{" + strings.Join(labels, ",") + "}"
		if !withoutValue {
			s += fmt.Sprintf(" %v", value(m))
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	default:
		return m.GetUntyped().GetValue()
	}
}

// gauge is the value of a family's only series; -1 when it has none or
// several.
func gauge(families map[string]*dto.MetricFamily, name string) float64 {
	f := families[name]
	if f == nil || len(f.GetMetric()) != 1 {
		return -1
	}
	return value(f.GetMetric()[0])
}
