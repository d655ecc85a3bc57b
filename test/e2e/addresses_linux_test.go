//go:build linux

package e2e

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testnet"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// Names with several addresses (tcp.addresses). The server owns .2, .3 and
// .4 of its subnet (v4 and v6); on portMulti .2 connects, .3 refuses (the
// server resets the SYN) and .4 drops it.
const portMulti = 7040

const (
	hostConnects = 2
	hostRefuses  = 3
	hostDrops    = 4
)

var rulesMulti = fmt.Sprintf(`table inet tve_addrs {
	chain input {
		type filter hook input priority 0; policy accept;
		ip daddr %[2]s tcp dport %[1]d reject with tcp reset
		ip6 daddr %[3]s tcp dport %[1]d reject with tcp reset
		ip daddr %[4]s tcp dport %[1]d drop
		ip6 daddr %[5]s tcp dport %[1]d drop
	}
}
`, portMulti, ipv4.addr(3, hostRefuses), ipv6.addr(3, hostRefuses), ipv4.addr(3, hostDrops), ipv6.addr(3, hostDrops))

// multiNames are the lab's names with several addresses, each family's in
// the order given (the hosts of the server's subnet).
var multiNames = map[string][]int{
	"refuse-connect": {hostRefuses, hostConnects},
	"connect-drop":   {hostConnects, hostDrops},
	"refuse-drop":    {hostRefuses, hostDrops},
}

// addMultiAddressNames adds multiNames to the lab's zone, and "a-ok-aaaa-
// dropped": an A record that connects behind an AAAA record that drops.
func addMultiAddressNames(z *testnet.DNSZone) {
	for name, hosts := range multiNames {
		for _, h := range hosts {
			z.A[name+"."+dnsName] = append(z.A[name+"."+dnsName], netip.MustParseAddr(ipv4.addr(3, h)))
			z.AAAA[name+"."+dnsName] = append(z.AAAA[name+"."+dnsName], netip.MustParseAddr(ipv6.addr(3, h)))
		}
	}
	z.A["a-ok-aaaa-dropped."+dnsName] = []netip.Addr{netip.MustParseAddr(ipv4.addr(3, hostConnects))}
	z.AAAA["a-ok-aaaa-dropped."+dnsName] = []netip.Addr{netip.MustParseAddr(ipv6.addr(3, hostDrops))}
}

// setupMultiAddress gives the server its extra addresses, their rules and
// the listener behind them.
func (l *lab) setupMultiAddress() error {
	var cmds []string
	for _, f := range families {
		for _, h := range []int{hostRefuses, hostDrops} {
			cmds = append(cmds, "addr add "+f.cidr(3, h)+" dev to-r2")
		}
	}
	if err := ipBatch(l.server, cmds...); err != nil {
		return err
	}
	if err := nft(l.server, rulesMulti); err != nil {
		return err
	}
	return l.servers.listen(l.server, portMulti, silent)
}

// addressCase is one probe of a name: the verdict, the address behind it,
// and (in "all" mode) every address's verdict in the order dialled.
type addressCase struct {
	name, host, module string
	reason             verdict.Reason
	addr               string   // address behind the verdict
	addrs              []string // "address reason", nil in "first" mode
}

func addressCases() []addressCase {
	var cases []addressCase
	for _, f := range families {
		at := func(h int, r verdict.Reason) string { return f.addr(3, h) + " " + string(r) }
		all := f.name + "_all"
		cases = append(cases,
			addressCase{f.name + " first: the first address refuses", "refuse-connect", f.name, verdict.ConnRefused, f.addr(3, hostRefuses), nil},
			addressCase{f.name + " all: a later address connects", "refuse-connect", all, verdict.SynAck, f.addr(3, hostConnects),
				[]string{at(hostRefuses, verdict.ConnRefused), at(hostConnects, verdict.SynAck)}},
			addressCase{f.name + " first: a dropped second address is invisible", "connect-drop", f.name, verdict.SynAck, f.addr(3, hostConnects), nil},
			addressCase{f.name + " all: a dropped second address", "connect-drop", all, verdict.SynAck, f.addr(3, hostConnects),
				[]string{at(hostConnects, verdict.SynAck), at(hostDrops, verdict.NoResponse)}},
			addressCase{f.name + " all: none connects, the first's failure", "refuse-drop", all, verdict.ConnRefused, f.addr(3, hostRefuses),
				[]string{at(hostRefuses, verdict.ConnRefused), at(hostDrops, verdict.NoResponse)}},
		)
	}
	cases = append(cases,
		addressCase{"ip4 first: the dropped AAAA is invisible", "a-ok-aaaa-dropped", "v4", verdict.SynAck, ipv4.addr(3, hostConnects), nil},
		addressCase{"ip6 first: the dropped AAAA is the verdict", "a-ok-aaaa-dropped", "v6", verdict.NoResponse, ipv6.addr(3, hostDrops), nil},
		addressCase{"ip4 all, both families: the dropped AAAA shows", "a-ok-aaaa-dropped", "v4_all_families", verdict.SynAck, ipv4.addr(3, hostConnects),
			[]string{ipv4.addr(3, hostConnects) + " syn-ack", ipv6.addr(3, hostDrops) + " no-response"}},
	)
	return cases
}

func (c addressCase) target() string {
	return c.host + "." + dnsName[:len(dnsName)-1] + fmt.Sprintf(":%d", portMulti)
}

// testAddresses probes names with several addresses through /probe, in
// "first" and "all" modes, and checks the verdict, the address on
// tcp_verdict_info, and one tcp_address_verdict_info per address in "all"
// mode (none in "first" mode).
func (l *lab) testAddresses(t *testing.T) {
	for _, c := range addressCases() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := l.exporter.probe(c.target(), c.module)
			if r.err != nil {
				t.Fatal(r.err)
			}
			if r.reason != string(c.reason) || r.class != string(c.reason.Class()) {
				t.Errorf("%s (module %s): %s/%s, want %s/%s\n%s", c.target(), c.module, r.class, r.reason, c.reason.Class(), c.reason,
					l.exporter.debugProbe(c.target(), c.module))
			}
			if !strings.Contains(r.body, fmt.Sprintf("tcp_verdict_info{address=%q,class=%q,reason=%q,", c.addr, c.reason.Class(), c.reason)) {
				t.Errorf("tcp_verdict_info does not name address %s:\n%s", c.addr, r.body)
			}
			var lines []string
			for _, line := range strings.Split(r.body, "\n") {
				if strings.HasPrefix(line, "tcp_address_verdict_info{") {
					lines = append(lines, line)
				}
			}
			if len(lines) != len(c.addrs) {
				t.Fatalf("%d tcp_address_verdict_info series, want %d:\n%s", len(lines), len(c.addrs), strings.Join(lines, "\n"))
			}
			joined := strings.Join(lines, "\n")
			for _, a := range c.addrs {
				addr, reason, _ := strings.Cut(a, " ")
				r := verdict.Reason(reason)
				responder := ""
				if r != verdict.NoResponse {
					responder = addr
				}
				want := fmt.Sprintf("tcp_address_verdict_info{address=%q,class=%q,reason=%q,responder=%q} 1", addr, r.Class(), r, responder)
				if !strings.Contains(joined, want) {
					t.Errorf("no series %s in\n%s", want, joined)
				}
			}
		})
	}
}

// testAddressesCheck runs the check command on a name whose first address
// refuses and whose second connects, in "all" mode: telnet's transcript
// walks both addresses, the verdict is connected and the JSON lists both.
func (l *lab) testAddressesCheck(t *testing.T) {
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			target := addressCase{host: "refuse-connect"}.target()
			out, stderr, code := l.runCheck(t, "--module="+f.name+"_all", target)
			refusing, connecting := f.addr(3, hostRefuses), f.addr(3, hostConnects)
			host := "refuse-connect." + dnsName[:len(dnsName)-1]
			want := []string{
				fmt.Sprintf("Trying %s port %d...", refusing, portMulti),
				fmt.Sprintf("telnet: connect to address %s: Connection refused", refusing),
				fmt.Sprintf("Trying %s port %d...", connecting, portMulti),
				fmt.Sprintf("Connected to %s.", host),
				"verdict   connected (syn-ack from " + connecting,
				"addresses " + refusing + "  refused (conn-refused from " + refusing,
				"          " + connecting + "  connected (syn-ack from " + connecting,
			}
			inOrder(t, "check's output", out+"\nstderr: "+stderr, want)
			// /probe?debug=true shows the same transcript and verdict block.
			inOrder(t, "/probe?debug=true", l.exporter.debugProbe(target, f.name+"_all"), want)
			if code != 0 {
				t.Errorf("exit status %d, want 0 (connected)", code)
			}

			out, stderr, _ = l.runCheck(t, "--module="+f.name+"_all", "--output=json", target)
			var doc struct {
				Results []struct {
					Class, Address string
					Addresses      []struct{ Address, Class, Reason, Responder string }
				}
			}
			if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Results) != 1 {
				t.Fatalf("check --output=json: %v\n%s\nstderr: %s", err, out, stderr)
			}
			r := doc.Results[0]
			port := fmt.Sprintf(":%d", portMulti)
			if f.v6 {
				refusing, connecting = "["+refusing+"]", "["+connecting+"]"
			}
			if r.Class != string(verdict.Connected) || r.Address != connecting+port || len(r.Addresses) != 2 ||
				r.Addresses[0].Address != refusing+port || r.Addresses[0].Reason != string(verdict.ConnRefused) ||
				r.Addresses[1].Address != connecting+port || r.Addresses[1].Class != string(verdict.Connected) {
				t.Errorf("check's JSON: %+v", r)
			}
		})
	}
}

// inOrder checks that text holds each of want, in order.
func inOrder(t *testing.T, what, text string, want []string) {
	t.Helper()
	at := 0
	for _, w := range want {
		i := strings.Index(text[at:], w)
		if i < 0 {
			t.Errorf("%s lacks, in order, %q:\n%s", what, w, text)
			return
		}
		at += i + len(w)
	}
}
