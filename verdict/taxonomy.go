// Package verdict holds the verdict taxonomy: the one table that names every
// class and reason, what each means, the telnet line it matches and who fixes
// it. Metrics, logs, debug output, the check command, dashboards and alert
// annotations all read from here; nothing else spells a class name.
package verdict

import (
	"fmt"
	"strings"
)

// Class is the coarse answer to "why can't I reach host:port", one of a fixed
// set exported as the tcp_verdict state set.
type Class string

// The classes, in the order they are exported and documented.
const (
	Connected    Class = "connected"
	ClosedByPeer Class = "closed_by_peer"
	Refused      Class = "refused"
	Firewall     Class = "firewall"
	Unreachable  Class = "unreachable"
	DNSError     Class = "dns_error"
	Error        Class = "error"
)

// Reason is the evidence behind a class, in nmap's --reason vocabulary where
// nmap has a word for it.
type Reason string

// The reasons.
const (
	SynAck          Reason = "syn-ack"
	Fin             Reason = "fin"
	Reset           Reason = "reset"
	ConnRefused     Reason = "conn-refused"
	NoResponse      Reason = "no-response"
	PortUnreach     Reason = "port-unreach"
	NetProhibited   Reason = "net-prohibited"
	HostProhibited  Reason = "host-prohibited"
	AdminProhibited Reason = "admin-prohibited"
	LocalProhibited Reason = "local-prohibited"
	NetUnreach      Reason = "net-unreach"
	HostUnreach     Reason = "host-unreach"
	ProtoUnreach    Reason = "proto-unreach"
	TimeExceeded    Reason = "time-exceeded"
	NoRoute         Reason = "no-route"
	NXDomain        Reason = "nxdomain"
	DNSFailure      Reason = "dns-failure"
	LocalError      Reason = "local-error"
	// ForgedReset and HostSilent need tcp.control_ports: ports of the same
	// host that tell how far away it is and whether it answers at all
	// (docs/host-evidence.md).
	ForgedReset Reason = "forged-reset"
	HostSilent  Reason = "host-silent"
)

// ClassInfo describes one class.
type ClassInfo struct {
	Class   Class
	Telnet  string // what `telnet host port` prints in this case
	Meaning string // one sentence for humans
	Owner   string // who fixes it, as a team name
	// Ask completes "ask ..." in the check command's verdict block; %s is
	// replaced by the probing host's address where the sentence has one.
	Ask string
	// ExitCode is the check command's exit status for this class: 0 for
	// connected, then 4 upwards in class order (0-3 mean something else to
	// the command; see package check). Never change a published code.
	ExitCode int
	// Team is the routing key of Owner: a label-safe slug that alert rules
	// put in their `team` label so Alertmanager can route by it; empty for a
	// class nobody has to fix. Never rename a published slug.
	Team string
}

// ReasonInfo describes one reason: the evidence it stands for.
type ReasonInfo struct {
	Reason   Reason
	Class    Class
	Evidence string // what the kernel reported
	Meaning  string // what that most likely means
	// Ambiguity says what else the same evidence can mean, where something can.
	Ambiguity string
	// Telnet is what `telnet host port` prints for this reason, where it is
	// not its class's words (ClassInfo.Telnet): a forged reset is a firewall
	// verdict, yet telnet says "Connection refused".
	Telnet string
}

// TelnetWords is what telnet prints for the reason: its own words, else
// its class's.
func (r ReasonInfo) TelnetWords() string {
	if r.Telnet != "" {
		return r.Telnet
	}
	return r.Class.Info().Telnet
}

// Classes is the taxonomy's first half: every class, in export order.
var Classes = []ClassInfo{
	{
		Class:    Connected,
		Telnet:   "Connected to host.",
		Meaning:  "the port is open, the service is alive and lets this client in",
		Owner:    "nobody",
		Ask:      "nobody: all is well",
		ExitCode: 0,
		Team:     "",
	},
	{
		Class:    ClosedByPeer,
		Telnet:   "Connected to host. / Connection closed by foreign host.",
		Meaning:  "the service accepted the connection and closed it at once: an access rule of the service refuses this client",
		Owner:    "the service's support team",
		Ask:      "the team that runs the service to allow %s",
		ExitCode: 4,
		Team:     "service-owner",
	},
	{
		Class:    Refused,
		Telnet:   "Connection refused",
		Meaning:  "the host answered, but nothing listens on that port (service not running, wrong port)",
		Owner:    "the server's administrator",
		Ask:      "the server's administrator to start the service or fix the port",
		ExitCode: 5,
		Team:     "server-admin",
	},
	{
		Class:    Firewall,
		Telnet:   "Trying x.x.x.x... (then nothing, or an ICMP prohibition)",
		Meaning:  "a firewall on the path drops or rejects the connection",
		Owner:    "a network engineer",
		Ask:      "a network engineer to open the path from %s",
		ExitCode: 6,
		Team:     "network",
	},
	{
		Class:    Unreachable,
		Telnet:   "No route to host / Network is unreachable",
		Meaning:  "the network cannot deliver packets to the host: no route, the host is down, or a loop",
		Owner:    "a network engineer or the host's owner",
		Ask:      "a network engineer (routing) or the host's owner (host down)",
		ExitCode: 7,
		Team:     "network",
	},
	{
		Class:    DNSError,
		Telnet:   "Name or service not known",
		Meaning:  "the target's name does not resolve",
		Owner:    "the DNS administrator",
		Ask:      "the DNS administrator to fix the record",
		ExitCode: 8,
		Team:     "dns",
	},
	{
		Class:    Error,
		Telnet:   "(telnet itself fails)",
		Meaning:  "the exporter's own host failed to make the probe; nothing is known about the network",
		Owner:    "whoever runs the exporter",
		Ask:      "whoever runs the exporter (see the reason in the log)",
		ExitCode: 9,
		Team:     "exporter-operator",
	},
}

// Reasons is the taxonomy's second half: every reason and its class.
var Reasons = []ReasonInfo{
	{
		Reason:   SynAck,
		Class:    Connected,
		Evidence: "handshake completed and the session survived the hold time",
		Meaning:  "the service is up and accepts this client",
	},
	{
		Reason:   Fin,
		Class:    ClosedByPeer,
		Evidence: "handshake completed, then the peer sent FIN",
		Meaning:  "the service closed the session on purpose, usually an access rule (tcpwrappers, an allow-list)",
	},
	{
		Reason:    Reset,
		Class:     ClosedByPeer,
		Evidence:  "handshake completed, then the peer sent RST",
		Meaning:   "the service aborted the session, usually an access rule",
		Ambiguity: "a middlebox that resets established sessions looks the same",
	},
	{
		Reason:    ConnRefused,
		Class:     Refused,
		Evidence:  "RST in answer to the SYN, no ICMP in the error queue",
		Meaning:   "nothing listens on the port",
		Ambiguity: "a firewall rule `reject with tcp reset` looks exactly the same; with tcp.control_ports the hop counts unmask one on the path (forged-reset), but not one at the host's last router or on the host itself",
	},
	{
		Reason:    NoResponse,
		Class:     Firewall,
		Evidence:  "no answer at all before the deadline",
		Meaning:   "a firewall drops the SYN silently",
		Ambiguity: "a listener whose accept backlog is full also drops SYNs silently; so does a host that is down behind a router that sends no ICMP, which tcp.control_ports tells apart (host-silent)",
	},
	{
		Reason:   PortUnreach,
		Class:    Firewall,
		Evidence: "ICMP port unreachable (v4 3/3, v6 1/4) for a TCP SYN",
		Meaning:  "a REJECT rule: a TCP stack answers a closed port with RST, never with this",
	},
	{
		Reason:   NetProhibited,
		Class:    Firewall,
		Evidence: "ICMP network administratively prohibited (v4 3/9)",
		Meaning:  "a firewall rule rejects traffic to the target's network",
	},
	{
		Reason:   HostProhibited,
		Class:    Firewall,
		Evidence: "ICMP host administratively prohibited (v4 3/10)",
		Meaning:  "a firewall rule rejects traffic to the target host",
	},
	{
		Reason:   AdminProhibited,
		Class:    Firewall,
		Evidence: "ICMP communication administratively prohibited (v4 3/13, 3/14, 3/15; v6 1/1, 1/5, 1/6)",
		Meaning:  "a firewall rule rejects the connection and says so",
	},
	{
		Reason:   LocalProhibited,
		Class:    Firewall,
		Evidence: "an ICMP prohibition or port-unreachable that the exporter's own kernel generated (a reject rule in its OUTPUT chain), or EACCES/EPERM from connect()",
		Meaning:  "the exporter host's own firewall (OUTPUT chain) blocks the connection",
	},
	{
		Reason:    ForgedReset,
		Class:     Firewall,
		Telnet:    "Connection refused",
		Evidence:  "an RST in answer to the SYN, but TTL-limited SYNs get it back from fewer hops than the host answers a control port (tcp.control_ports) from: a hop on the path forged it",
		Meaning:   "a firewall on the path denies the port with `reject with tcp reset`; the service itself may well be running",
		Ambiguity: "a route that differs by port (policy routing, a load balancer answering for the host) shifts the hop counts too; an RST from the first hop (TTL 1) may be this host's own OUTPUT chain",
	},
	{
		Reason:   NetUnreach,
		Class:    Unreachable,
		Evidence: "ICMP network unreachable (v4 3/0, 3/6, 3/11; v6 1/0, 1/2)",
		Meaning:  "a router has no route to the target's network",
	},
	{
		Reason:    HostUnreach,
		Class:     Unreachable,
		Evidence:  "ICMP host unreachable (v4 3/1, 3/5, 3/7, 3/8, 3/12; v6 1/3)",
		Meaning:   "the last router cannot reach the host: it is down or its address is wrong (ARP/NDP fails)",
		Ambiguity: "some firewalls send host-unreachable instead of admin-prohibited",
	},
	{
		Reason:   ProtoUnreach,
		Class:    Unreachable,
		Evidence: "ICMP protocol unreachable (v4 3/2)",
		Meaning:  "the host does not speak TCP",
	},
	{
		Reason:   TimeExceeded,
		Class:    Unreachable,
		Evidence: "ICMP time exceeded (v4 11, v6 3)",
		Meaning:  "a routing loop, or the path is longer than the TTL",
	},
	{
		Reason:   NoRoute,
		Class:    Unreachable,
		Evidence: "EHOSTUNREACH/ENETUNREACH from connect() with an empty error queue, or an ICMP unreachable the exporter's own kernel generated (its ARP/NDP for the next hop failed)",
		Meaning:  "the exporter's host has no route to the target, or its next hop does not answer ARP/NDP",
	},
	{
		Reason:    HostSilent,
		Class:     Unreachable,
		Telnet:    "Trying x.x.x.x... (then nothing)",
		Evidence:  "no answer to the SYN, and none to a SYN for any control port (tcp.control_ports) either: no SYN-ACK, RST or ICMP from the host",
		Meaning:   "the host is down, or every packet to it is dropped",
		Ambiguity: "a firewall that drops the control ports as well as the probed one looks the same: choose control ports the path lets through",
	},
	{
		Reason:   NXDomain,
		Class:    DNSError,
		Evidence: "the resolver answered that the name does not exist",
		Meaning:  "the name is wrong or its record is missing",
	},
	{
		Reason:   DNSFailure,
		Class:    DNSError,
		Evidence: "the resolver failed (timeout, SERVFAIL, no address of the wanted IP family)",
		Meaning:  "DNS is broken or the name has no address of the wanted family",
	},
	{
		Reason:   LocalError,
		Class:    Error,
		Evidence: "the exporter's own host failed (EMFILE, ENFILE, EADDRNOTAVAIL, bad source address, its conntrack table full, ...)",
		Meaning:  "the probe could not be made; this says nothing about the network",
	},
}

var (
	classIndex  = map[Class]int{}
	reasonIndex = map[Reason]int{}
)

func init() {
	for i, c := range Classes {
		classIndex[c.Class] = i
	}
	for i, r := range Reasons {
		reasonIndex[r.Reason] = i
	}
}

// Info returns the description of a class; an unknown class yields a zero value.
func (c Class) Info() ClassInfo {
	if i, ok := classIndex[c]; ok {
		return Classes[i]
	}
	return ClassInfo{Class: c}
}

// Index returns the class's position in Classes, or -1.
func (c Class) Index() int {
	if i, ok := classIndex[c]; ok {
		return i
	}
	return -1
}

// Info returns the description of a reason; an unknown reason yields a zero value.
func (r Reason) Info() ReasonInfo {
	if i, ok := reasonIndex[r]; ok {
		return Reasons[i]
	}
	return ReasonInfo{Reason: r}
}

// Class returns the class a reason belongs to.
func (r Reason) Class() Class { return r.Info().Class }

// ClassNames lists every class name in export order.
func ClassNames() []string {
	names := make([]string, len(Classes))
	for i, c := range Classes {
		names[i] = string(c.Class)
	}
	return names
}

// Text explains a reason in one or two sentences: its evidence, what it most
// likely means and, where the taxonomy has one, what else it can mean.
func (r ReasonInfo) Text() string {
	s := fmt.Sprintf("%s; most likely %s.", r.Evidence, r.Meaning)
	if r.Ambiguity != "" {
		s += fmt.Sprintf(" It can also mean: %s.", r.Ambiguity)
	}
	return s
}

// AskFor is the class's "ask ..." sentence (without "ask") with host, the
// probing host's address or a description of it, in place of %s.
func (c ClassInfo) AskFor(host string) string {
	return strings.ReplaceAll(c.Ask, "%s", host)
}

// Alias names a set of classes that an expectation may use instead of
// listing them (docs/expectations.md). The two aliases split the classes
// whose SYN reached a listening TCP stack from those whose SYN never did:
// what a segmentation test asks.
type Alias struct {
	Name    string
	Classes []Class
	Meaning string
}

// Aliases are the words an expectation accepts besides class names.
var Aliases = []Alias{
	{
		Name:    AliasBlocked,
		Classes: []Class{Firewall, Unreachable},
		Meaning: "the SYN never reached a listening stack",
	},
	{
		Name:    AliasReachable,
		Classes: []Class{Connected, ClosedByPeer, Refused},
		Meaning: "the SYN reached the host's TCP stack (a refused host is reachable)",
	},
}

// Aliases' names, for code that must tell which one it means.
const (
	AliasBlocked   = "blocked"
	AliasReachable = "reachable"
)

// AliasClasses returns the classes of the named alias; nil when there is
// no such alias.
func AliasClasses(name string) []Class {
	for _, a := range Aliases {
		if a.Name == name {
			return a.Classes
		}
	}
	return nil
}
