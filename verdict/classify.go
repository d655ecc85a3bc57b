package verdict

import (
	"fmt"
	"net/netip"
	"syscall"
)

// ICMP is an ICMP error the kernel queued on the probing socket
// (IP_RECVERR / IPV6_RECVERR, read with MSG_ERRQUEUE).
type ICMP struct {
	V6       bool
	Type     uint8
	Code     uint8
	Offender netip.Addr // the router or host that sent it
	// Local: the offender is this host's own address, so this host's kernel
	// made the ICMP (its ARP/NDP for the next hop failed, its OUTPUT chain
	// rejected the SYN); no router said anything.
	Local bool
}

// Protocol names the ICMP version as tcpdump and the check command's JSON
// do: "icmp" or "icmp6".
func (i ICMP) Protocol() string {
	if i.V6 {
		return "icmp6"
	}
	return "icmp"
}

func (i ICMP) String() string {
	local := ""
	if i.Local {
		local = " (this host)"
	}
	return fmt.Sprintf("%s type %d code %d from %s%s", i.Protocol(), i.Type, i.Code, i.Offender, local)
}

// DialEvidence is what a failed or timed-out connect() left behind.
type DialEvidence struct {
	// Syscall is the call that failed: "connect" for network answers;
	// "socket", "bind", "setsockopt" and the like mean the local host failed.
	Syscall  string
	Errno    syscall.Errno
	TimedOut bool
	ICMP     *ICMP // nil when the error queue was empty
}

// ICMP types and codes (RFC 792, RFC 1812, RFC 4443).
const (
	icmp4DestUnreach  = 3
	icmp4TimeExceeded = 11
	icmp6DestUnreach  = 1
	icmp6TimeExceeded = 3
)

var icmp4UnreachCodes = map[uint8]Reason{
	0: NetUnreach, 1: HostUnreach, 2: ProtoUnreach, 3: PortUnreach,
	5: HostUnreach, 6: NetUnreach, 7: HostUnreach, 8: HostUnreach,
	9: NetProhibited, 10: HostProhibited, 11: NetUnreach, 12: HostUnreach,
	13: AdminProhibited, 14: AdminProhibited, 15: AdminProhibited,
}

var icmp6UnreachCodes = map[uint8]Reason{
	0: NetUnreach, 1: AdminProhibited, 2: NetUnreach, 3: HostUnreach,
	4: PortUnreach, 5: AdminProhibited, 6: AdminProhibited,
}

// FromICMP maps an ICMP error to a reason; ok is false for messages that do
// not explain a failed TCP connect (e.g. fragmentation needed).
func FromICMP(i ICMP) (Reason, bool) {
	switch {
	case !i.V6 && i.Type == icmp4DestUnreach:
		r, ok := icmp4UnreachCodes[i.Code]
		return r, ok
	case !i.V6 && i.Type == icmp4TimeExceeded, i.V6 && i.Type == icmp6TimeExceeded:
		return TimeExceeded, true
	case i.V6 && i.Type == icmp6DestUnreach:
		r, ok := icmp6UnreachCodes[i.Code]
		return r, ok
	}
	return "", false
}

// localICMP maps an ICMP error that this host's own kernel sent to the
// probing socket: a prohibition or port-unreachable comes from this host's
// firewall, anything else means this host could not deliver the SYN (no
// ARP/NDP answer from its next hop or an on-link target).
func localICMP(r Reason) Reason {
	if r.Class() == Firewall {
		return LocalProhibited
	}
	return NoRoute
}

// ClassifyDial turns the evidence of a failed dial into a reason. The ICMP
// message, when there is one, wins over errno: errno folds many ICMP codes
// into one value (docs/kernel-evidence.md, "What connect() reports for
// each failure"), and a timed-out dial may still have
// collected an ICMP the kernel only recorded as a soft error.
func ClassifyDial(e DialEvidence) Reason {
	if e.Syscall != "" && e.Syscall != "connect" {
		return LocalError
	}
	if e.ICMP != nil {
		if r, ok := FromICMP(*e.ICMP); ok {
			if e.ICMP.Local {
				return localICMP(r)
			}
			return r
		}
	}
	if e.TimedOut {
		return NoResponse
	}
	switch e.Errno {
	case syscall.ECONNREFUSED:
		return ConnRefused
	case syscall.ECONNRESET, syscall.EPIPE:
		// The kernel gives these only to a socket past SYN_SENT (tcp_reset):
		// the handshake completed and the peer reset the session before the
		// dialler read SO_ERROR. Seen in the e2e lab with an accept-then-RST
		// server on a fast path.
		return Reset
	case syscall.ETIMEDOUT:
		return NoResponse
	case syscall.EHOSTUNREACH, syscall.ENETUNREACH:
		return NoRoute
	case syscall.EACCES, syscall.EPERM:
		return LocalProhibited
	}
	// EMFILE, ENFILE, EADDRNOTAVAIL, ENOBUFS and anything unforeseen: the
	// probe failed on our side and must not be reported as a network verdict.
	return LocalError
}

// ClassifyReset decides a refused connect again once tcp.control_ports
// measured hop counts (docs/host-evidence.md, "Forged resets"): resetHops
// is the TTL at which the probed port's RST first came back, hostHops the
// TTL at which the host first answered a control port; 0 means not
// measured. A router checks the TTL before its forward chain runs, so a
// firewall k hops out resets SYNs with a TTL of k+1 or more, while the host
// N hops out answers from TTL N: an RST from fewer hops than the host is
// forged on the path. From as many hops as the host, the host, its own
// firewall and its last router look the same: the verdict stays refused.
// An RST from TTL 1 is forged too, by this host's own OUTPUT chain or by a
// first-hop device that resets before it checks the TTL; nothing tells
// which, so it is not called this host's.
func ClassifyReset(resetHops, hostHops int) Reason {
	if resetHops <= 0 || hostHops <= 0 || resetHops >= hostHops {
		return ConnRefused
	}
	return ForgedReset
}

// ClassifySilent decides a silent connect again once tcp.control_ports
// were tried: a host that answered on any of them is up, so the port is
// filtered (no-response stands); one that answered on none is down or dark.
func ClassifySilent(hostUp bool) Reason {
	if hostUp {
		return NoResponse
	}
	return HostSilent
}
