// Package verdict holds the verdict taxonomy: the one table that names every
// class and reason, what each means, the telnet line it matches and who fixes
// it. Metrics, logs, debug output, the check command, dashboards and alert
// annotations all read from here; nothing else spells a class name.
package verdict

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
}

// Classes is the taxonomy's first half: every class, in export order.
var Classes = []ClassInfo{
	{Connected, "Connected to host.", "the port is open, the service is alive and lets this client in",
		"nobody", "nobody: all is well", 0, ""},
	{ClosedByPeer, "Connected to host. / Connection closed by foreign host.",
		"the service accepted the connection and closed it at once: an access rule of the service refuses this client",
		"the service's support team", "the team that runs the service to allow %s", 4, "service-owner"},
	{Refused, "Connection refused",
		"the host answered, but nothing listens on that port (service not running, wrong port)",
		"the server's administrator", "the server's administrator to start the service or fix the port", 5, "server-admin"},
	{Firewall, "Trying x.x.x.x... (then nothing, or an ICMP prohibition)",
		"a firewall on the path drops or rejects the connection",
		"a network engineer", "a network engineer to open the path from %s", 6, "network"},
	{Unreachable, "No route to host / Network is unreachable",
		"the network cannot deliver packets to the host: no route, the host is down, or a loop",
		"a network engineer or the host's owner", "a network engineer (routing) or the host's owner (host down)", 7, "network"},
	{DNSError, "Name or service not known",
		"the target's name does not resolve",
		"the DNS administrator", "the DNS administrator to fix the record", 8, "dns"},
	{Error, "(telnet itself fails)",
		"the exporter's own host failed to make the probe; nothing is known about the network",
		"whoever runs the exporter", "whoever runs the exporter (see the reason in the log)", 9, "exporter-operator"},
}

// Reasons is the taxonomy's second half: every reason and its class.
var Reasons = []ReasonInfo{
	{SynAck, Connected, "handshake completed and the session survived the hold time",
		"the service is up and accepts this client", ""},
	{Fin, ClosedByPeer, "handshake completed, then the peer sent FIN",
		"the service closed the session on purpose, usually an access rule (tcpwrappers, an allow-list)", ""},
	{Reset, ClosedByPeer, "handshake completed, then the peer sent RST",
		"the service aborted the session, usually an access rule",
		"a middlebox that resets established sessions looks the same"},
	{ConnRefused, Refused, "RST in answer to the SYN, no ICMP in the error queue",
		"nothing listens on the port",
		"a firewall rule `reject with tcp reset` looks exactly the same; only the RST's TTL differs, which a socket cannot see"},
	{NoResponse, Firewall, "no answer at all before the deadline",
		"a firewall drops the SYN silently",
		"a listener whose accept backlog is full, or a host that is down behind a router that sends no ICMP, also drops SYNs silently"},
	{PortUnreach, Firewall, "ICMP port unreachable (v4 3/3, v6 1/4) for a TCP SYN",
		"a REJECT rule: a TCP stack answers a closed port with RST, never with this", ""},
	{NetProhibited, Firewall, "ICMP network administratively prohibited (v4 3/9)",
		"a firewall rule rejects traffic to the target's network", ""},
	{HostProhibited, Firewall, "ICMP host administratively prohibited (v4 3/10)",
		"a firewall rule rejects traffic to the target host", ""},
	{AdminProhibited, Firewall, "ICMP communication administratively prohibited (v4 3/13, 3/14, 3/15; v6 1/1, 1/5, 1/6)",
		"a firewall rule rejects the connection and says so", ""},
	{LocalProhibited, Firewall, "an ICMP prohibition or port-unreachable that the exporter's own kernel generated (a reject rule in its OUTPUT chain), or EACCES/EPERM from connect()",
		"the exporter host's own firewall (OUTPUT chain) blocks the connection", ""},
	{NetUnreach, Unreachable, "ICMP network unreachable (v4 3/0, 3/6, 3/11; v6 1/0, 1/2)",
		"a router has no route to the target's network", ""},
	{HostUnreach, Unreachable, "ICMP host unreachable (v4 3/1, 3/5, 3/7, 3/8, 3/12; v6 1/3)",
		"the last router cannot reach the host: it is down or its address is wrong (ARP/NDP fails)",
		"some firewalls send host-unreachable instead of admin-prohibited"},
	{ProtoUnreach, Unreachable, "ICMP protocol unreachable (v4 3/2)",
		"the host does not speak TCP", ""},
	{TimeExceeded, Unreachable, "ICMP time exceeded (v4 11, v6 3)",
		"a routing loop, or the path is longer than the TTL", ""},
	{NoRoute, Unreachable, "EHOSTUNREACH/ENETUNREACH from connect() with an empty error queue, or an ICMP unreachable the exporter's own kernel generated (its ARP/NDP for the next hop failed)",
		"the exporter's host has no route to the target, or its next hop does not answer ARP/NDP", ""},
	{NXDomain, DNSError, "the resolver answered that the name does not exist",
		"the name is wrong or its record is missing", ""},
	{DNSFailure, DNSError, "the resolver failed (timeout, SERVFAIL, no address of the wanted IP family)",
		"DNS is broken or the name has no address of the wanted family", ""},
	{LocalError, Error, "the exporter's own host failed (EMFILE, ENFILE, EADDRNOTAVAIL, bad source address, ...)",
		"the probe could not be made; this says nothing about the network", ""},
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
