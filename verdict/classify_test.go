package verdict

import (
	"net/netip"
	"syscall"
	"testing"
)

func icmp4(typ, code uint8) *ICMP {
	return &ICMP{Type: typ, Code: code, Offender: netip.MustParseAddr("192.0.2.1")}
}

func icmp6(typ, code uint8) *ICMP {
	return &ICMP{V6: true, Type: typ, Code: code, Offender: netip.MustParseAddr("2001:db8::1")}
}

func TestClassifyDial(t *testing.T) {
	cases := []struct {
		name string
		ev   DialEvidence
		want Reason
	}{
		// A real RST leaves the queue empty.
		{"rst", DialEvidence{Errno: syscall.ECONNREFUSED}, ConnRefused},
		// Handshake done, then RST before the dialler read SO_ERROR.
		{"reset during connect", DialEvidence{Errno: syscall.ECONNRESET}, Reset},
		// REJECT's default: errno says refused, the queue says port unreachable.
		{"v4 port unreachable", DialEvidence{Errno: syscall.ECONNREFUSED, ICMP: icmp4(3, 3)}, PortUnreach},
		{"v6 port unreachable", DialEvidence{Errno: syscall.ECONNREFUSED, ICMP: icmp6(1, 4)}, PortUnreach},
		{"timeout, no answer", DialEvidence{TimedOut: true}, NoResponse},
		{"kernel ETIMEDOUT", DialEvidence{Errno: syscall.ETIMEDOUT}, NoResponse},
		{"v4 net unreachable", DialEvidence{Errno: syscall.ENETUNREACH, ICMP: icmp4(3, 0)}, NetUnreach},
		{"v4 host unreachable", DialEvidence{Errno: syscall.EHOSTUNREACH, ICMP: icmp4(3, 1)}, HostUnreach},
		{"v4 protocol unreachable", DialEvidence{Errno: syscall.ENOPROTOOPT, ICMP: icmp4(3, 2)}, ProtoUnreach},
		{"v4 net prohibited", DialEvidence{Errno: syscall.ENETUNREACH, ICMP: icmp4(3, 9)}, NetProhibited},
		{"v4 host prohibited", DialEvidence{Errno: syscall.EHOSTUNREACH, ICMP: icmp4(3, 10)}, HostProhibited},
		{"v4 admin prohibited", DialEvidence{Errno: syscall.EHOSTUNREACH, ICMP: icmp4(3, 13)}, AdminProhibited},
		{"v4 precedence cutoff", DialEvidence{Errno: syscall.EHOSTUNREACH, ICMP: icmp4(3, 15)}, AdminProhibited},
		{"v4 time exceeded", DialEvidence{Errno: syscall.EHOSTUNREACH, ICMP: icmp4(11, 0)}, TimeExceeded},
		{"v6 no route", DialEvidence{Errno: syscall.ENETUNREACH, ICMP: icmp6(1, 0)}, NetUnreach},
		{"v6 admin prohibited", DialEvidence{Errno: syscall.EACCES, ICMP: icmp6(1, 1)}, AdminProhibited},
		{"v6 address unreachable", DialEvidence{Errno: syscall.EHOSTUNREACH, ICMP: icmp6(1, 3)}, HostUnreach},
		{"v6 policy failed", DialEvidence{Errno: syscall.EACCES, ICMP: icmp6(1, 5)}, AdminProhibited},
		{"v6 reject route", DialEvidence{Errno: syscall.EACCES, ICMP: icmp6(1, 6)}, AdminProhibited},
		{"v6 time exceeded", DialEvidence{Errno: syscall.EHOSTUNREACH, ICMP: icmp6(3, 0)}, TimeExceeded},
		// The soft-error case: connect timed out but an ICMP was queued.
		{"timeout with queued admin prohibited", DialEvidence{TimedOut: true, ICMP: icmp4(3, 13)}, AdminProhibited},
		{"no route, empty queue", DialEvidence{Errno: syscall.EHOSTUNREACH}, NoRoute},
		{"net unreachable, empty queue", DialEvidence{Errno: syscall.ENETUNREACH}, NoRoute},
		{"local firewall EPERM", DialEvidence{Errno: syscall.EPERM}, LocalProhibited},
		{"local firewall EACCES", DialEvidence{Errno: syscall.EACCES}, LocalProhibited},
		// An ICMP that explains nothing falls back to errno.
		{"fragmentation needed", DialEvidence{Errno: syscall.ECONNREFUSED, ICMP: icmp4(3, 4)}, ConnRefused},
		// Our own host's failures are never network verdicts.
		{"EMFILE", DialEvidence{Syscall: "socket", Errno: syscall.EMFILE}, LocalError},
		{"ENFILE", DialEvidence{Syscall: "socket", Errno: syscall.ENFILE}, LocalError},
		{"bad source address", DialEvidence{Syscall: "bind", Errno: syscall.EADDRNOTAVAIL}, LocalError},
		{"no ephemeral port", DialEvidence{Errno: syscall.EADDRNOTAVAIL}, LocalError},
		{"ENOBUFS", DialEvidence{Errno: syscall.ENOBUFS}, LocalError},
		{"unknown errno", DialEvidence{Errno: syscall.EINVAL}, LocalError},
		// ICMP our own kernel sent: our ARP/NDP failed, or our OUTPUT rejects.
		{"own host unreachable", DialEvidence{Errno: syscall.EHOSTUNREACH, ICMP: &ICMP{Type: 3, Code: 1, Local: true}}, NoRoute},
		{"own v6 address unreachable", DialEvidence{Errno: syscall.EHOSTUNREACH, ICMP: &ICMP{V6: true, Type: 1, Code: 3, Local: true}}, NoRoute},
		{"own reject rule, admin prohibited", DialEvidence{Errno: syscall.EHOSTUNREACH, ICMP: &ICMP{Type: 3, Code: 13, Local: true}}, LocalProhibited},
		{"own reject rule, port unreachable", DialEvidence{Errno: syscall.ECONNREFUSED, ICMP: &ICMP{Type: 3, Code: 3, Local: true}}, LocalProhibited},
		{"local failure with a stale ICMP", DialEvidence{Syscall: "bind", Errno: syscall.EADDRNOTAVAIL, ICMP: icmp4(3, 13)}, LocalError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := ClassifyDial(tc.ev); got != tc.want {
				t.Fatalf("ClassifyDial(%+v) = %s, want %s", tc.ev, got, tc.want)
			}
		})
	}
}

// Every reason belongs to a class in the table, and every class has a reason.
func TestTaxonomyIsComplete(t *testing.T) {
	used := map[Class]bool{}
	for _, r := range Reasons {
		if r.Class.Index() < 0 {
			t.Errorf("reason %s has unknown class %q", r.Reason, r.Class)
		}
		if r.Evidence == "" || r.Meaning == "" {
			t.Errorf("reason %s lacks evidence or meaning", r.Reason)
		}
		used[r.Class] = true
	}
	for _, c := range Classes {
		if !used[c.Class] {
			t.Errorf("class %s has no reason", c.Class)
		}
		if c.Meaning == "" || c.Owner == "" || c.Telnet == "" || c.Ask == "" {
			t.Errorf("class %s lacks a description", c.Class)
		}
	}
	if Reason("nope").Class() != "" || Class("nope").Index() != -1 {
		t.Error("unknown names must not resolve")
	}
}

func TestClassifyReset(t *testing.T) {
	for _, tc := range []struct {
		reset, host int
		want        Reason
	}{
		{2, 3, ForgedReset}, // a router two hops before the host
		{3, 3, ConnRefused}, // the host, its firewall or its last router
		{1, 3, ForgedReset}, // this host's OUTPUT chain, or a first hop that resets before its TTL check
		{1, 1, ConnRefused}, // an on-link host
		{0, 3, ConnRefused}, // no RST came back to the TTL-limited SYNs
		{2, 0, ConnRefused}, // the host's distance is unknown
		{4, 3, ConnRefused}, // farther than the host: nothing to say
	} {
		if got := ClassifyReset(tc.reset, tc.host); got != tc.want {
			t.Errorf("ClassifyReset(%d, %d) = %s, want %s", tc.reset, tc.host, got, tc.want)
		}
	}
	if ForgedReset.Class() != Firewall || HostSilent.Class() != Unreachable {
		t.Errorf("forged-reset is %s, host-silent %s: want firewall and unreachable", ForgedReset.Class(), HostSilent.Class())
	}
}

func TestClassifySilent(t *testing.T) {
	if got := ClassifySilent(true); got != NoResponse {
		t.Errorf("host up: %s, want %s", got, NoResponse)
	}
	if got := ClassifySilent(false); got != HostSilent {
		t.Errorf("host silent: %s, want %s", got, HostSilent)
	}
}
