//go:build linux

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/exporterproc"
	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testenv"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// Two small namespaces of their own, apart from the lab: one whose
// ephemeral port range is a single port (self-connect), one that lets
// bind() take any address (nonlocal bind). Subnet 10.203.0.0/24 and
// fd00:203::/64 exist only inside the second.
const (
	onePort = 40060 // the only ephemeral port of the one-port namespace

	ownV4, unownedV4 = "10.203.0.1", "10.203.0.99"
	ownV6, unownedV6 = "fd00:203::1", "fd00:203::99"
	listenPort       = 7100 // a silent listener on the owned addresses
)

const honestyConfig = `modules:
  v4: {prober: tcp, timeout: 2s, tcp: {preferred_ip_protocol: ip4, hold: 300ms}}
  v6: {prober: tcp, timeout: 2s, tcp: {preferred_ip_protocol: ip6, hold: 300ms}}
  v4_unowned: {prober: tcp, timeout: 2s, tcp: {preferred_ip_protocol: ip4, hold: 0s, source_ip_address: "` + unownedV4 + `"}}
  v6_unowned: {prober: tcp, timeout: 2s, tcp: {preferred_ip_protocol: ip6, hold: 0s, source_ip_address: "` + unownedV6 + `"}}
  v4_owned: {prober: tcp, timeout: 2s, tcp: {preferred_ip_protocol: ip4, hold: 0s, source_ip_address: "` + ownV4 + `"}}
  v6_owned: {prober: tcp, timeout: 2s, tcp: {preferred_ip_protocol: ip6, hold: 0s, source_ip_address: "` + ownV6 + `"}}
`

// An nftables counter of every packet this namespace sends from an address
// it does not own.
const rulesUnowned = `table inet tve_unowned {
	chain out {
		type filter hook output priority 0; policy accept;
		ip saddr ` + unownedV4 + ` counter
		ip6 saddr ` + unownedV6 + ` counter
	}
}
`

func TestHonesty(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.NeedTools(t, "ip", "nft")
	t.Cleanup(func() {
		for _, err := range cleanup.run() {
			t.Error(err)
		}
	})
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	dir, err := os.MkdirTemp("", "tve-e2e-honesty-")
	must(err)
	cleanup.add("removing "+dir, func() error { return os.RemoveAll(dir) })
	bin, err := exporterproc.Build(dir)
	must(err)
	config := filepath.Join(dir, "config.yml")
	must(os.WriteFile(config, []byte(honestyConfig), 0o644))

	prefix := fmt.Sprintf("tve%d-", os.Getpid())
	t.Run("self-connect", func(t *testing.T) {
		ns := prefix + "oneport"
		must(addNamespace(ns))
		must(ipBatch(ns, "link set lo up"))
		must(sysctl(ns, "net.ipv4.ip_local_port_range", fmt.Sprintf("%d %d", onePort, onePort)))
		e, err := startExporter(ns, bin, config, "127.0.0.1:9765", 0)
		must(err)
		defer func() { _ = e.stop() }() // also registered for teardown
		e.client.Transport = fixedPortTransport(ns)
		targets := map[string]string{"v4": fmt.Sprintf("127.0.0.1:%d", onePort), "v6": fmt.Sprintf("[::1]:%d", onePort)}
		for module, target := range targets {
			t.Run("probe/"+module, func(t *testing.T) {
				for range 3 { // every time, not once
					r := e.probe(target, module)
					if r.err != nil {
						t.Fatalf("probe: %v", r.err)
					}
					expectation{class: verdict.Refused, reason: verdict.ConnRefused, responder: hostOf(target)}.check(t, r)
				}
				if t.Failed() {
					t.Logf("debug:\n%s", e.debugProbe(target, module))
				}
			})
			t.Run("check/"+module, func(t *testing.T) {
				out, stderr, code := runCheckIn(t, ns, bin, config, "--module="+module, "--output=json", target)
				var doc struct {
					Results []struct{ Class, Reason, Responder string } `json:"results"`
				}
				if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Results) != 1 {
					t.Fatalf("check output: %v\n%s\nstderr: %s", err, out, stderr)
				}
				r := doc.Results[0]
				if r.Class != string(verdict.Refused) || r.Reason != string(verdict.ConnRefused) || code != verdict.Refused.Info().ExitCode {
					t.Errorf("check says %s/%s, exit %d; want refused/conn-refused, exit %d\n%s", r.Class, r.Reason, code, verdict.Refused.Info().ExitCode, out)
				}
			})
		}
	})

	t.Run("nonlocal-bind", func(t *testing.T) {
		ns := prefix + "nonlocal"
		must(addNamespace(ns))
		must(sysctl(ns, "net.ipv6.conf.all.accept_dad", "0", "net.ipv6.conf.default.accept_dad", "0"))
		must(ipBatch(ns, "link set lo up", "link add d0 type veth peer name d1", "link set d0 up", "link set d1 up",
			"addr add "+ownV4+"/24 dev d0", "addr add "+ownV6+"/64 dev d0 nodad"))
		// Let bind() take any address, as on keepalived/HAProxy hosts.
		must(sysctl(ns, "net.ipv4.ip_nonlocal_bind", "1", "net.ipv6.ip_nonlocal_bind", "1"))
		must(nft(ns, rulesUnowned))
		srv := &servers{}
		cleanup.add("closing the honesty servers", srv.Close)
		must(srv.listen(ns, listenPort, silent))
		e, err := startExporter(ns, bin, config, "127.0.0.1:9765", 0)
		must(err)
		defer func() { _ = e.stop() }() // also registered for teardown
		for _, f := range []struct{ name, target string }{
			{"v4", fmt.Sprintf("%s:%d", ownV4, listenPort)},
			{"v6", fmt.Sprintf("[%s]:%d", ownV6, listenPort)},
		} {
			t.Run(f.name, func(t *testing.T) {
				// The same target from an owned source connects: the path works.
				r := e.probe(f.target, f.name+"_owned")
				if r.err != nil {
					t.Fatalf("probe: %v", r.err)
				}
				expectation{class: verdict.Connected, reason: verdict.SynAck, responder: hostOf(f.target), success: true}.check(t, r)
				r = e.probe(f.target, f.name+"_unowned")
				if r.err != nil {
					t.Fatalf("probe: %v", r.err)
				}
				expectation{class: verdict.Error, reason: verdict.LocalError}.check(t, r)
				debug := e.debugProbe(f.target, f.name+"_unowned")
				if !strings.Contains(debug, "is not assigned to any interface of this host") {
					t.Errorf("the debug output does not say the source is not ours:\n%s", debug)
				}
			})
		}
		out, err := command("", "ip", "netns", "exec", ns, "nft", "list", "table", "inet", "tve_unowned")
		must(err)
		counters := regexp.MustCompile(`counter packets (\d+)`).FindAllStringSubmatch(out, -1)
		if len(counters) != 2 {
			t.Fatalf("want two counters in:\n%s", out)
		}
		for _, c := range counters {
			if n, _ := strconv.Atoi(c[1]); n != 0 {
				t.Errorf("packets sent from an address this host does not own:\n%s", out)
			}
		}
	})
}

// fixedPortTransport dials the exporter inside ns from a port of its own
// for each request, outside the one-port ephemeral range: the probes, not
// the test's HTTP client, are to get that port.
func fixedPortTransport(ns string) *http.Transport {
	var mu sync.Mutex
	next := 41000
	return &http.Transport{
		DisableKeepAlives: true,
		Proxy:             nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			mu.Lock()
			port := next
			next++
			mu.Unlock()
			var c net.Conn
			err := inNS(ns, func() error {
				d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}}
				var err error
				c, err = d.DialContext(ctx, network, addr)
				return err
			})
			return c, err
		},
	}
}

// runCheckIn runs the exporter's check command inside ns and returns
// stdout, stderr and the exit status.
func runCheckIn(t *testing.T, ns, bin, config string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, bin, "check", "--config.file=" + config}, args...)...)
	cmd.Env = append(os.Environ(), "GODEBUG=netdns=go", "NO_COLOR=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return stdout.String(), stderr.String(), 0
	case errors.As(err, &exit):
		return stdout.String(), stderr.String(), exit.ExitCode()
	}
	t.Fatalf("check %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	return "", "", -1
}
