package prober

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/tcp-verdict/tcp_verdict_exporter/config"
	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testnet"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

func TestDialList(t *testing.T) {
	a := netip.MustParseAddr
	answer := []netip.Addr{a("2001:db8::1"), a("192.0.2.1"), a("::ffff:192.0.2.2"), a("2001:db8::2"), a("192.0.2.3")}
	cases := []struct {
		name    string
		yaml    string
		want    []string
		skipped int
	}{
		{"first ip4", "{preferred_ip_protocol: ip4}", []string{"192.0.2.1"}, 0},
		{"first ip6", "{preferred_ip_protocol: ip6}", []string{"2001:db8::1"}, 0},
		{"all ip4 first, then ip6", "{preferred_ip_protocol: ip4, addresses: all}",
			[]string{"192.0.2.1", "192.0.2.2", "192.0.2.3", "2001:db8::1", "2001:db8::2"}, 0},
		{"all ip6 first, then ip4", "{preferred_ip_protocol: ip6, addresses: all}",
			[]string{"2001:db8::1", "2001:db8::2", "192.0.2.1", "192.0.2.2", "192.0.2.3"}, 0},
		{"all without fallback", "{preferred_ip_protocol: ip6, ip_protocol_fallback: false, addresses: all}",
			[]string{"2001:db8::1", "2001:db8::2"}, 0},
		{"all capped", "{preferred_ip_protocol: ip4, addresses: all, max_addresses: 2}",
			[]string{"192.0.2.1", "192.0.2.2"}, 3},
		{"all with an IPv4 source", "{preferred_ip_protocol: ip6, addresses: all, source_ip_address: 192.0.2.9}",
			[]string{"192.0.2.1", "192.0.2.2", "192.0.2.3"}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := module(t, "    tcp: "+tc.yaml+"\n")
			list, skipped := dialList(answer, &m.TCP)
			var got []string
			for _, ip := range list {
				got = append(got, ip.String())
			}
			if !slices.Equal(got, tc.want) || skipped != tc.skipped {
				t.Errorf("dialList = %v, %d skipped; want %v, %d", got, skipped, tc.want, tc.skipped)
			}
		})
	}
	m := module(t, "    tcp: {preferred_ip_protocol: ip6, ip_protocol_fallback: false}\n")
	if list, _ := dialList(answer[1:3], &m.TCP); len(list) != 0 {
		t.Errorf("no IPv6 address and no fallback: dialList = %v, want none", list)
	}
}

// TestAllAddresses probes names whose addresses (loopback, served by a DNS
// zone on loopback) refuse or connect, in both modes: "first" judges one
// address as blackbox does, "all" what a client walking the list gets.
func TestAllAddresses(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.3:0")
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	testnet.Accept(t, ln, testnet.KeepOpen)
	// Nothing listens on 127.0.0.2 and 127.0.0.4 at that port: refused.
	a := netip.MustParseAddr
	zone := &testnet.DNSZone{A: map[string][]netip.Addr{
		"refused-first.multi.test.":  {a("127.0.0.2"), a("127.0.0.3")},
		"connects-first.multi.test.": {a("127.0.0.3"), a("127.0.0.2")},
		"all-refuse.multi.test.":     {a("127.0.0.2"), a("127.0.0.4")},
		"dual.multi.test.":           {a("127.0.0.3")},
	}, AAAA: map[string][]netip.Addr{"dual.multi.test.": {a("::1")}}}
	resolver := ServerResolver(testnet.StartDNS(t, zone))

	first := module(t, "    timeout: 2s\n    tcp: {preferred_ip_protocol: ip4, hold: 100ms}\n")
	all := module(t, "    timeout: 2s\n    tcp: {preferred_ip_protocol: ip4, hold: 100ms, addresses: all}\n")
	capped := module(t, "    timeout: 2s\n    tcp: {preferred_ip_protocol: ip4, hold: 100ms, addresses: all, max_addresses: 1}\n")
	all6 := module(t, "    timeout: 2s\n    tcp: {preferred_ip_protocol: ip6, hold: 100ms, addresses: all}\n")
	type addr struct {
		ip     string
		reason verdict.Reason
	}
	cases := []struct {
		name   string
		host   string
		m      config.Module
		reason verdict.Reason
		addr   string // the address behind the verdict
		addrs  []addr // nil in "first" mode
		lines  []string
	}{
		{name: "first mode judges the first address", host: "refused-first.multi.test", m: first,
			reason: verdict.ConnRefused, addr: "127.0.0.2"},
		{name: "all: a later address connects", host: "refused-first.multi.test", m: all,
			reason: verdict.SynAck, addr: "127.0.0.3",
			addrs: []addr{{"127.0.0.2", verdict.ConnRefused}, {"127.0.0.3", verdict.SynAck}},
			lines: []string{
				"Trying 127.0.0.2 port %d...",
				"telnet: connect to address 127.0.0.2: Connection refused",
				"Trying 127.0.0.3 port %d...",
				"Connected to refused-first.multi.test.",
			}},
		{name: "all: a later address refuses", host: "connects-first.multi.test", m: all,
			reason: verdict.SynAck, addr: "127.0.0.3",
			addrs: []addr{{"127.0.0.3", verdict.SynAck}, {"127.0.0.2", verdict.ConnRefused}}},
		{name: "all: every address refuses, the first's failure", host: "all-refuse.multi.test", m: all,
			reason: verdict.ConnRefused, addr: "127.0.0.2",
			addrs: []addr{{"127.0.0.2", verdict.ConnRefused}, {"127.0.0.4", verdict.ConnRefused}},
			lines: []string{
				"telnet: connect to address 127.0.0.2: Connection refused",
				"telnet: connect to address 127.0.0.4: Connection refused",
				"telnet: Unable to connect to remote host: Connection refused",
			}},
		{name: "all, capped: the first address only", host: "all-refuse.multi.test", m: capped,
			reason: verdict.ConnRefused, addr: "127.0.0.2",
			addrs: []addr{{"127.0.0.2", verdict.ConnRefused}},
			lines: []string{"(dialling 1 of the 2 addresses of all-refuse.multi.test: tcp.max_addresses is 1)"}},
		{name: "all: preferred family first", host: "dual.multi.test", m: all6,
			reason: verdict.SynAck, addr: "127.0.0.3",
			addrs: []addr{{"::1", verdict.ConnRefused}, {"127.0.0.3", verdict.SynAck}}},
		{name: "all: an IP literal is one address", host: "127.0.0.3", m: all,
			reason: verdict.SynAck, addr: "127.0.0.3", addrs: []addr{{"127.0.0.3", verdict.SynAck}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tg, err := ParseTarget(net.JoinHostPort(tc.host, fmt.Sprint(port)))
			if err != nil {
				t.Fatal(err)
			}
			r := Probe(context.Background(), tg, tc.m, Options{Trace: true, Resolver: resolver})
			t.Logf("%s\n%s", r.Summary(), r.TranscriptText())
			if r.Reason != tc.reason || r.Addr.Addr().String() != tc.addr {
				t.Errorf("verdict %s at %s, want %s at %s", r.Reason, r.Addr, tc.reason, tc.addr)
			}
			if r.Success != (tc.reason == verdict.SynAck) {
				t.Errorf("Success = %v", r.Success)
			}
			if len(r.Addresses) != len(tc.addrs) {
				t.Fatalf("%d addresses, want %d: %+v", len(r.Addresses), len(tc.addrs), r.Addresses)
			}
			for i, w := range tc.addrs {
				got := r.Addresses[i]
				if got.Addr.Addr().String() != w.ip || got.Reason != w.reason || got.Class != w.reason.Class() || got.Addr.Port() != port {
					t.Errorf("address %d: %s %s/%s, want %s %s", i, got.Addr, got.Class, got.Reason, w.ip, w.reason)
				}
			}
			text := r.TranscriptText()
			at := 0
			for _, l := range tc.lines {
				if strings.Contains(l, "%d") {
					l = strings.ReplaceAll(l, "%d", fmt.Sprint(port))
				}
				i := strings.Index(text[at:], l+"\n")
				if i < 0 {
					t.Errorf("transcript lacks, in order, %q", l)
					continue
				}
				at += i + len(l)
			}
			if _, ok := r.PhaseDuration(PhaseResolve); !ok {
				t.Error("no resolve phase")
			}
		})
	}
}
