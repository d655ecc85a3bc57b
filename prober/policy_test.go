package prober

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tcp-verdict/tcp_verdict_exporter/config"
	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testnet"
)

// countingListener serves on addr and counts the connections it accepts.
func countingListener(t *testing.T, network, addr string) (string, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	a := testnet.Serve(t, network, addr, func(c *net.TCPConn) { n.Add(1); _ = c.Close() })
	return a, &n
}

// A refused target is never dialled: the listener accepts nothing, the
// result carries the refusal naming the rule, and no verdict.
func TestPolicyRefusesBeforeDialling(t *testing.T) {
	addr4, accepts4 := countingListener(t, "tcp4", "127.0.0.1:0")
	addr6, accepts6 := countingListener(t, "tcp6", "[::1]:0")
	_, port4, _ := net.SplitHostPort(addr4)
	_, port6, _ := net.SplitHostPort(addr6)

	deny := module(t, "    tcp: {hold: 0s, preferred_ip_protocol: ip4}\n    target_policy:\n      deny: [127.0.0.0/8, \"::1\"]\n")
	allowOnly := module(t, "    tcp: {hold: 0s, preferred_ip_protocol: ip4}\n    target_policy:\n      allow: [10.0.0.0/8]\n")
	for _, tc := range []struct {
		name, target string
		m            config.Module
		want         string
	}{
		{"literal", addr4, deny, "target 127.0.0.1 refused by modules.m.target_policy.deny 127.0.0.0/8"},
		{"v4-mapped", "[::ffff:127.0.0.1]:" + port4, deny, "target 127.0.0.1 refused by modules.m.target_policy.deny 127.0.0.0/8"},
		{"IPv6", addr6, deny, "target ::1 refused by modules.m.target_policy.deny ::1"},
		{"allow-only", addr4, allowOnly, "target 127.0.0.1 refused by modules.m.target_policy.allow (the address is in none of its entries)"},
		{"allow-only IPv6", "[::1]:" + port6, allowOnly, "target ::1 refused by modules.m.target_policy.allow (the address is in none of its entries)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := probeTarget(t, tc.target, tc.m)
			if r.Refusal == nil || r.Refusal.Error() != tc.want {
				t.Fatalf("refusal = %v, want %q", r.Refusal, tc.want)
			}
			if r.Class != "" || r.Reason != "" || r.Success {
				t.Errorf("a refusal has a verdict: %s/%s success=%v", r.Class, r.Reason, r.Success)
			}
			if r.Err == nil || r.Err.Error() != tc.want {
				t.Errorf("Err = %v, want the refusal", r.Err)
			}
			if !strings.Contains(r.TranscriptText(), tc.want) {
				t.Errorf("transcript lacks the refusal:\n%s", r.TranscriptText())
			}
		})
	}
	time.Sleep(50 * time.Millisecond) // an accepted connection would be counted by now
	if n := accepts4.Load() + accepts6.Load(); n != 0 {
		t.Fatalf("refused targets were dialled: %d connections accepted", n)
	}

	// The same listeners, allowed: the counters do count.
	open := module(t, "    tcp: {hold: 0s, preferred_ip_protocol: ip4}\n")
	for _, target := range []string{addr4, "[::ffff:127.0.0.1]:" + port4, addr6} {
		if r := probeTarget(t, target, open); r.Refusal != nil || !r.Success {
			t.Fatalf("%s allowed: refusal %v, %s", target, r.Refusal, r.Summary())
		}
	}
	time.Sleep(50 * time.Millisecond)
	if a4, a6 := accepts4.Load(), accepts6.Load(); a4 != 2 || a6 != 1 {
		t.Errorf("allowed probes accepted %d (IPv4) and %d (IPv6), want 2 and 1", a4, a6)
	}
}

// The file's default policy keeps a newcomer's loopback probe working. (Its
// refusal of the metadata range is config's test: probing 169.254.169.254
// here would leave the machine were the policy broken.)
func TestDefaultPolicyAllowsLoopback(t *testing.T) {
	addr, accepts := countingListener(t, "tcp4", "127.0.0.1:0")
	m := module(t, "    tcp: {hold: 0s, preferred_ip_protocol: ip4}\n")
	if r := probeTarget(t, addr, m); r.Refusal != nil || !r.Success {
		t.Fatalf("default policy: %s refused %v", addr, r.Refusal)
	}
	time.Sleep(50 * time.Millisecond)
	if accepts.Load() != 1 {
		t.Errorf("accepted %d connections, want 1", accepts.Load())
	}
}

// Every address the probe would dial is checked before the first dial:
// with tcp.addresses all, one denied address refuses the probe, and the
// allowed address listed before it is not dialled either. A name the DNS
// answers with a v4-mapped AAAA is judged as the IPv4 address it reaches.
func TestPolicyChecksEveryAddress(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.3:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	var accepts atomic.Int64
	testnet.Accept(t, ln, func(c *net.TCPConn) { accepts.Add(1); _ = c.Close() })
	a := netip.MustParseAddr
	zone := &testnet.DNSZone{
		A:    map[string][]netip.Addr{"mixed.policy.test.": {a("127.0.0.3"), a("127.0.0.5")}},
		AAAA: map[string][]netip.Addr{"mapped.policy.test.": {a("::ffff:127.0.0.5")}},
	}
	resolver := ServerResolver(testnet.StartDNS(t, zone))
	const policy = "    target_policy: {deny: [127.0.0.5]}\n"
	all := module(t, "    timeout: 2s\n    tcp: {preferred_ip_protocol: ip4, hold: 0s, addresses: all}\n"+policy)
	first := module(t, "    timeout: 2s\n    tcp: {preferred_ip_protocol: ip4, hold: 0s}\n"+policy)
	capped := module(t, "    timeout: 2s\n    tcp: {preferred_ip_protocol: ip4, hold: 0s, addresses: all, max_addresses: 1}\n"+policy)
	const refused = "target 127.0.0.5 refused by modules.m.target_policy.deny 127.0.0.5"

	probe := func(host string, m config.Module) Result {
		t.Helper()
		tg, err := ParseTarget(net.JoinHostPort(host, fmt.Sprint(port)))
		if err != nil {
			t.Fatal(err)
		}
		r := Probe(context.Background(), tg, m, Options{Trace: true, Resolver: resolver})
		t.Logf("%s: %v %s\n%s", host, r.Refusal, r.Class, r.TranscriptText())
		return r
	}
	for _, tc := range []struct {
		name, host string
		m          config.Module
	}{
		{"all addresses, one denied", "mixed.policy.test", all},
		{"v4-mapped AAAA", "mapped.policy.test", all},
	} {
		r := probe(tc.host, tc.m)
		if r.Refusal == nil || r.Refusal.Error() != refused {
			t.Errorf("%s: refusal %v, want %q", tc.name, r.Refusal, refused)
		}
		if r.Addr.Addr() != a("127.0.0.5") {
			t.Errorf("%s: Addr %s, want the refused address", tc.name, r.Addr)
		}
	}
	time.Sleep(50 * time.Millisecond)
	if n := accepts.Load(); n != 0 {
		t.Fatalf("a refused probe dialled its allowed address: %d connections accepted", n)
	}
	// Only the first address is dialled in "first" mode, or with
	// max_addresses 1: the denied second one is never dialled, so it is not
	// in the way.
	for _, m := range []config.Module{first, capped} {
		if r := probe("mixed.policy.test", m); r.Refusal != nil || !r.Success {
			t.Errorf("first address only: refusal %v, %s", r.Refusal, r.Summary())
		}
	}
	time.Sleep(50 * time.Millisecond)
	if n := accepts.Load(); n != 2 {
		t.Errorf("accepted %d connections, want 2", n)
	}
}

// A name that resolves to an address that is no host is refused after
// resolution, as its literal is before (issue 18, item 2): Linux takes
// connect(0.0.0.0) and connect(::) for connections to this host, so with
// loopback denied a name resolving to 0.0.0.0 reached a loopback service.
// Broadcast and multicast answers are refused too, not given a network
// verdict; so is a list of addresses (tcp.addresses all) holding one.
func TestPolicyRefusesNonHostsAfterResolution(t *testing.T) {
	// The service a name resolving to 0.0.0.0 would reach.
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	var accepts atomic.Int64
	testnet.Accept(t, ln, func(c *net.TCPConn) { accepts.Add(1); _ = c.Close() })
	a := netip.MustParseAddr
	zone := &testnet.DNSZone{
		A: map[string][]netip.Addr{
			"zero.hostile.test.": {a("0.0.0.0")}, "bcast.hostile.test.": {a("255.255.255.255")},
			"mcast.hostile.test.": {a("224.0.0.1")}, "mixed.hostile.test.": {a("127.0.0.1"), a("0.0.0.0")},
		},
		AAAA: map[string][]netip.Addr{"zero6.hostile.test.": {a("::")}, "mcast6.hostile.test.": {a("ff02::1")}},
	}
	resolver := ServerResolver(testnet.StartDNS(t, zone))
	const deny = "    target_policy: {deny: [127.0.0.0/8, \"::1\"]}\n"
	v4 := module(t, "    timeout: 2s\n    tcp: {preferred_ip_protocol: ip4, hold: 0s}\n"+deny)
	v6 := module(t, "    timeout: 2s\n    tcp: {preferred_ip_protocol: ip6, ip_protocol_fallback: false, hold: 0s}\n"+deny)
	open := module(t, "    timeout: 2s\n    tcp: {preferred_ip_protocol: ip4, hold: 0s, addresses: all}\n    target_policy: {allow: [127.0.0.1]}\n")
	for _, tc := range []struct {
		host string
		m    config.Module
		want string
	}{
		{"zero.hostile.test", v4, "target 0.0.0.0 refused by the built-in rule: 0.0.0.0 is the unspecified address, which connect() takes for this host"},
		{"zero6.hostile.test", v6, "target :: refused by the built-in rule: :: is the unspecified address, which connect() takes for this host"},
		{"bcast.hostile.test", v4, "target 255.255.255.255 refused by the built-in rule: 255.255.255.255 is the broadcast address; TCP needs a unicast one"},
		{"mcast.hostile.test", v4, "target 224.0.0.1 refused by the built-in rule: 224.0.0.1 is a multicast address; TCP needs a unicast one"},
		{"mcast6.hostile.test", v6, "target ff02::1 refused by the built-in rule: ff02::1 is a multicast address; TCP needs a unicast one"},
		{"mixed.hostile.test", open, "target 0.0.0.0 refused by the built-in rule: 0.0.0.0 is the unspecified address, which connect() takes for this host"},
	} {
		t.Run(tc.host, func(t *testing.T) {
			tg, err := ParseTarget(net.JoinHostPort(tc.host, fmt.Sprint(port)))
			if err != nil {
				t.Fatal(err)
			}
			r := Probe(context.Background(), tg, tc.m, Options{Trace: true, Resolver: resolver})
			if r.Refusal == nil || r.Refusal.Error() != tc.want {
				t.Fatalf("refusal %v (%s/%s), want %q\n%s", r.Refusal, r.Class, r.Reason, tc.want, r.TranscriptText())
			}
			if r.Class != "" {
				t.Errorf("a refusal has a verdict: %s/%s", r.Class, r.Reason)
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	if n := accepts.Load(); n != 0 {
		t.Fatalf("a refused name reached the loopback service: %d connections accepted", n)
	}
}
