//go:build linux

package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/exporterproc"
	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testenv"
	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testnet"
)

// The lab's network. Every address below exists only inside the namespaces
// the lab creates; nothing is configured in the host's own namespace.
//
//	client ==TUN 0.5 ms== r1 --veth-- r2 --veth-- server
//	   |                   \==TUN 200 ms (r1→r2 only)==/
//	   +--veth "lan"-- r1
//
// Subnet n is 10.201.n.0/24 and fd00:201:n::/64:
//
//	1  client link (TUN): r1 .1, client .2
//	2  r1–r2 (veth): r1 .1, r2 .2
//	3  r2–server (veth): r2 .1, server .2, DNS server .53; .99 is nobody's
//	4  a network r2 rejects with ICMP net-unreachable (nftables)
//	5  r1→r2 delayed link (TUN): r1 .1, r2 .2
//	6  the server's delayed address .2 (on its loopback), routed over link 5
//	7  a routing loop between r1 and r2
//	8  a LAN of the client's own (veth to r1, which has no address on it):
//	   client .2; .99 is nobody's, so the client's own ARP/NDP fails
//
// 10.201.3.77 and fd00:201:3::77 are the server's too, but its input chain
// drops every packet to them: a dark host (host_linux_test.go).
//
// 10.202.0.0/16 and fd00:202::/32 are not routed by r1.
const (
	linkDelay = 500 * time.Microsecond // client link, each way
	slowDelay = 200 * time.Millisecond // delayed link, r1 → r2
)

// family is IPv4 or IPv6 in the lab.
type family struct {
	name string // "v4" or "v6": also the prefix of its module names
	v6   bool
}

var (
	ipv4     = family{"v4", false}
	ipv6     = family{"v6", true}
	families = []family{ipv4, ipv6}
)

func (f family) addr(subnet, host int) string {
	if f.v6 {
		return fmt.Sprintf("fd00:201:%d::%d", subnet, host)
	}
	return fmt.Sprintf("10.201.%d.%d", subnet, host)
}

// cidr is an interface address with its subnet's prefix length.
func (f family) cidr(subnet, host int) string {
	if f.v6 {
		return f.addr(subnet, host) + "/64 nodad"
	}
	return f.addr(subnet, host) + "/24"
}

func (f family) subnet(n int) string {
	if f.v6 {
		return fmt.Sprintf("fd00:201:%d::/64", n)
	}
	return fmt.Sprintf("10.201.%d.0/24", n)
}

func (f family) host(a string) string {
	if f.v6 {
		return a + "/128"
	}
	return a + "/32"
}

func (f family) defaultRoute() string {
	if f.v6 {
		return "::/0"
	}
	return "0.0.0.0/0"
}

// The addresses scenarios refer to.
func (f family) r1Client() string   { return f.addr(1, 1) } // r1's ICMP comes from here
func (f family) r2() string         { return f.addr(2, 2) } // r2's ICMP comes from here
func (f family) server() string     { return f.addr(3, 2) }
func (f family) unowned() string    { return f.addr(3, 99) }
func (f family) netReject() string  { return f.addr(4, 1) }
func (f family) slow() string       { return f.addr(6, 2) }
func (f family) loop() string       { return f.addr(7, 1) }
func (f family) lanUnowned() string { return f.addr(8, 99) }
func (f family) dark() string       { return f.addr(3, 77) }
func (f family) noRoute() string {
	if f.v6 {
		return "fd00:202::1"
	}
	return "10.202.0.1"
}

// Ports in the server namespace.
const (
	portSilent      = 7001 // accepts, stays silent
	portBanner      = 7002 // sends a banner, stays
	portFIN         = 7003 // accepts, closes (FIN)
	portRST         = 7004 // accepts, resets (SO_LINGER 0)
	portDenied      = 7005 // "Access denied", then FIN
	portFullBacklog = 7006 // accept queue full: SYNs dropped
	portStream      = 7007 // sends lines without end
	portClosed      = 7010 // nothing listens: the kernel answers RST
	portDropServer  = 7020 // silent listener behind a drop rule on the server
	portDropR1      = 7021 // dropped by r1
	portAdminR2     = 7022 // rejected by r2 with ICMP admin-prohibited
	portRejectSrv   = 7023 // plain `reject` on the server: ICMP port-unreachable
	portResetR2     = 7024 // r2 `reject with tcp reset`
	portResetR1     = 7025 // r1 `reject with tcp reset`: two hops before the server (host_linux_test.go)
	portLocalDrop   = 7030 // dropped by the client's own OUTPUT chain
	portLocalReject = 7031 // rejected (admin-prohibited) by the client's own OUTPUT chain
)

const dnsName = "lab.test." // RFC 6761 .test: never a real name

var (
	rulesR1 = fmt.Sprintf(`table inet tve {
	chain forward {
		type filter hook forward priority 0; policy accept;
		tcp dport %d drop
		tcp dport %d reject with tcp reset
	}
}
`, portDropR1, portResetR1)
	rulesR2 = fmt.Sprintf(`table inet tve {
	chain forward {
		type filter hook forward priority 0; policy accept;
		meta nfproto ipv4 tcp dport %[1]d reject with icmp type admin-prohibited
		meta nfproto ipv6 tcp dport %[1]d reject with icmpv6 type admin-prohibited
		tcp dport %[2]d reject with tcp reset
		ip daddr %[3]s reject with icmp type net-unreachable
		ip6 daddr %[4]s reject with icmpv6 type no-route
	}
}
`, portAdminR2, portResetR2, ipv4.subnet(4), ipv6.subnet(4))
	rulesServer = fmt.Sprintf(`table inet tve {
	chain input {
		type filter hook input priority 0; policy accept;
		tcp dport %d drop
		tcp dport %d reject
		ip daddr %s drop
		ip6 daddr %s drop
	}
}
`, portDropServer, portRejectSrv, ipv4.dark(), ipv6.dark())
	rulesClient = fmt.Sprintf(`table inet tve {
	chain output {
		type filter hook output priority 0; policy accept;
		tcp dport %d drop
		tcp dport %d reject with icmpx type admin-prohibited
	}
}
`, portLocalDrop, portLocalReject)
)

// The exporter's modules: <family><suffix>.
const exporterConfig = `modules:
  v4:
    prober: tcp
    timeout: 2s
    tcp: {preferred_ip_protocol: ip4, ip_protocol_fallback: false, hold: 300ms}
  v6:
    prober: tcp
    timeout: 2s
    tcp: {preferred_ip_protocol: ip6, ip_protocol_fallback: false, hold: 300ms}
  # ARP/NDP gives up after about 3 s.
  v4_long:
    prober: tcp
    timeout: 5s
    tcp: {preferred_ip_protocol: ip4, ip_protocol_fallback: false, hold: 300ms}
  v6_long:
    prober: tcp
    timeout: 5s
    tcp: {preferred_ip_protocol: ip6, ip_protocol_fallback: false, hold: 300ms}
  # The path trace (tcp.trace); the lab's paths are at most 3 hops long.
  v4_trace:
    prober: tcp
    timeout: 2s
    tcp: {preferred_ip_protocol: ip4, ip_protocol_fallback: false, hold: 300ms, trace: {enabled: true, max_hops: 8, timeout: 1s}}
  v6_trace:
    prober: tcp
    timeout: 2s
    tcp: {preferred_ip_protocol: ip6, ip_protocol_fallback: false, hold: 300ms, trace: {enabled: true, max_hops: 8, timeout: 1s}}
  # Both families in one check run: a literal of either family is dialled
  # (a module without fallback refuses the other family's literals, as
  # blackbox_exporter does).
  any_trace:
    prober: tcp
    timeout: 2s
    tcp: {preferred_ip_protocol: ip4, ip_protocol_fallback: true, hold: 300ms, trace: {enabled: true, max_hops: 8, timeout: 1s}}
  # Connect only, for the phase timings.
  v4_connect:
    prober: tcp
    timeout: 2s
    tcp: {preferred_ip_protocol: ip4, ip_protocol_fallback: false, hold: 0s}
  v6_connect:
    prober: tcp
    timeout: 2s
    tcp: {preferred_ip_protocol: ip6, ip_protocol_fallback: false, hold: 0s}
  # Every address of a name (tcp.addresses), of one family or of both.
  v4_all:
    prober: tcp
    timeout: 2s
    tcp: {preferred_ip_protocol: ip4, ip_protocol_fallback: false, hold: 300ms, addresses: all}
  v6_all:
    prober: tcp
    timeout: 2s
    tcp: {preferred_ip_protocol: ip6, ip_protocol_fallback: false, hold: 300ms, addresses: all}
  v4_all_families:
    prober: tcp
    timeout: 2s
    tcp: {preferred_ip_protocol: ip4, ip_protocol_fallback: true, hold: 300ms, addresses: all}
  # Control ports (tcp.control_ports): the banner port (open) and a closed
  # one; the host check's traces go to TTL 8 and wait up to 1s.
  v4_control:
    prober: tcp
    timeout: 2s
    tcp: {preferred_ip_protocol: ip4, ip_protocol_fallback: false, hold: 300ms, trace: {max_hops: 8, timeout: 1s}, control_ports: [7002, 7010]}
  v6_control:
    prober: tcp
    timeout: 2s
    tcp: {preferred_ip_protocol: ip6, ip_protocol_fallback: false, hold: 300ms, trace: {max_hops: 8, timeout: 1s}, control_ports: [7002, 7010]}
`

// lab is one run's network and the exporter inside it.
type lab struct {
	client, r1, r2, server string // namespace names
	dir                    string
	bin, config            string
	zone                   *testnet.DNSZone
	servers                *servers
	links                  []*tunLink
	exporter               *exporter
	pki                    *labPKI // the TLS services' certificates (tls_linux_test.go)
	idleFiles              int     // the exporter's open descriptors when idle
}

// setupLab builds the network, starts the servers and the exporter, and
// registers every undo step.
func setupLab(t *testing.T) *lab {
	t.Helper()
	t.Cleanup(func() {
		for _, err := range cleanup.run() {
			t.Error(err)
		}
	})
	prefix := fmt.Sprintf("tve%d-", os.Getpid())
	l := &lab{client: prefix + "client", r1: prefix + "r1", r2: prefix + "r2", server: prefix + "server"}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	dir, err := os.MkdirTemp("", "tve-e2e-")
	must(err)
	cleanup.add("removing "+dir, func() error { return os.RemoveAll(dir) })
	l.dir = dir
	l.bin, err = exporterproc.Build(dir)
	must(err)
	l.config = filepath.Join(dir, "config.yml")
	l.pki = newLabPKI(t)
	must(os.WriteFile(l.config, []byte(exporterConfig+l.pki.modules()), 0o644))

	all := []string{l.client, l.r1, l.r2, l.server}
	for _, ns := range all {
		must(addNamespace(ns))
		// Before any interface exists, so that new ones inherit "default".
		must(sysctl(ns,
			"net.ipv4.conf.all.rp_filter", "0", "net.ipv4.conf.default.rp_filter", "0",
			"net.ipv6.conf.all.accept_dad", "0", "net.ipv6.conf.default.accept_dad", "0",
			"net.ipv6.conf.all.accept_ra", "0", "net.ipv6.conf.default.accept_ra", "0",
			"net.ipv6.conf.default.router_solicitations", "0"))
	}
	for _, ns := range []string{l.r1, l.r2} {
		must(sysctl(ns, "net.ipv4.ip_forward", "1",
			"net.ipv6.conf.all.forwarding", "1", "net.ipv6.conf.default.forwarding", "1",
			// The path traces make the routers answer many SYNs at once (a
			// time-exceeded each, and r2 a reject per TTL beyond it): lift
			// the per-destination ICMP rate limit (a burst of 6, then 1/s),
			// in the routers' namespaces only (trace_linux_test.go).
			"net.ipv4.icmp_ratelimit", "0", "net.ipv6.icmp.ratelimit", "0"))
	}

	// Links. A TUN device is named after the namespace at its other end.
	fast, err := newTUNLink("client-r1", l.client, "to-r1", l.r1, "to-client", linkDelay, linkDelay)
	must(err)
	cleanup.add("closing TUN link client-r1", fast.Close)
	slow, err := newTUNLink("r1-r2 delayed", l.r1, "slow-r2", l.r2, "slow-r1", slowDelay, linkDelay)
	must(err)
	cleanup.add("closing TUN link r1-r2 delayed", slow.Close)
	l.links = []*tunLink{fast, slow}
	must(ipBatch(l.r1, "link add to-r2 type veth peer name to-r1 netns "+l.r2))
	must(ipBatch(l.r2, "link add to-server type veth peer name to-r2 netns "+l.server))
	must(ipBatch(l.client, "link add lan type veth peer name lan-client netns "+l.r1))

	var cmds [4][]string // client, r1, r2, server
	cmds[0] = []string{"link set lo up", "link set to-r1 up", "link set lan up"}
	cmds[1] = []string{"link set lo up", "link set to-client up", "link set to-r2 up", "link set slow-r2 up", "link set lan-client up"}
	cmds[2] = []string{"link set lo up", "link set to-r1 up", "link set slow-r1 up", "link set to-server up"}
	cmds[3] = []string{"link set lo up", "link set to-r2 up"}
	for _, f := range families {
		cmds[0] = append(cmds[0],
			"addr add "+f.cidr(1, 2)+" dev to-r1",
			"addr add "+f.cidr(8, 2)+" dev lan",
			"route add "+f.defaultRoute()+" dev to-r1")
		cmds[1] = append(cmds[1],
			"addr add "+f.cidr(1, 1)+" dev to-client",
			"addr add "+f.cidr(2, 1)+" dev to-r2",
			"addr add "+f.cidr(5, 1)+" dev slow-r2",
			"route add "+f.subnet(3)+" via "+f.addr(2, 2),
			"route add "+f.subnet(4)+" via "+f.addr(2, 2),
			"route add "+f.subnet(6)+" dev slow-r2",
			"route add "+f.subnet(7)+" via "+f.addr(2, 2))
		cmds[2] = append(cmds[2],
			"addr add "+f.cidr(2, 2)+" dev to-r1",
			"addr add "+f.cidr(5, 2)+" dev slow-r1",
			"addr add "+f.cidr(3, 1)+" dev to-server",
			"route add "+f.subnet(1)+" via "+f.addr(2, 1),
			// r2 needs a route for the forward hook to see the packet that
			// its nftables rule then rejects with net-unreachable.
			"route add "+f.subnet(4)+" via "+f.addr(3, 2),
			"route add "+f.subnet(6)+" via "+f.addr(3, 2),
			"route add "+f.subnet(7)+" via "+f.addr(2, 1))
		cmds[3] = append(cmds[3],
			"addr add "+f.cidr(3, 2)+" dev to-r2",
			"addr add "+f.cidr(3, 53)+" dev to-r2",
			"addr add "+f.host(f.slow())+" dev lo",
			"addr add "+f.host(f.dark())+" dev to-r2",
			"route add "+f.defaultRoute()+" via "+f.addr(3, 1))
	}
	for i, ns := range all {
		must(ipBatch(ns, cmds[i]...))
	}
	must(nft(l.client, rulesClient))
	must(nft(l.r1, rulesR1))
	must(nft(l.r2, rulesR2))
	must(nft(l.server, rulesServer))

	// Servers.
	l.servers = &servers{}
	cleanup.add("closing the lab's servers", l.servers.Close)
	for port, behave := range map[int]serverBehaviour{
		portSilent: silent, portBanner: banner, portFIN: closeFIN, portRST: closeRST, portDenied: accessDenied,
		portStream: stream,
		// Live services behind the rules: without the rules they connect.
		portDropServer: silent, portDropR1: silent, portAdminR2: silent,
		portRejectSrv: silent, portResetR2: silent, portResetR1: silent, portLocalDrop: silent, portLocalReject: silent,
	} {
		must(l.servers.listen(l.server, port, behave))
	}
	must(l.servers.listenFullBacklog(l.server, portFullBacklog, netip.MustParseAddr(ipv4.server())))
	must(l.setupMultiAddress())
	must(l.pki.listen(l.servers, l.server))

	l.zone = &testnet.DNSZone{
		A: map[string][]netip.Addr{
			"www." + dnsName:   {netip.MustParseAddr(ipv4.server())},
			"tls." + dnsName:   {netip.MustParseAddr(ipv4.server())},
			"only4." + dnsName: {netip.MustParseAddr(ipv4.server())},
		},
		AAAA: map[string][]netip.Addr{
			"www." + dnsName:   {netip.MustParseAddr(ipv6.server())},
			"tls." + dnsName:   {netip.MustParseAddr(ipv6.server())},
			"only6." + dnsName: {netip.MustParseAddr(ipv6.server())},
		},
		Silent: map[string]bool{"slow." + dnsName: true},
	}
	addMultiAddressNames(l.zone)
	dnsAddr := netip.AddrPortFrom(netip.MustParseAddr(ipv4.addr(3, 53)), 53)
	must(l.servers.serveDNS(l.server, dnsAddr, l.zone))
	must(setResolvConf(l.client, fmt.Sprintf("# tcp_verdict_exporter e2e lab\nnameserver %s\noptions timeout:1 attempts:1\n", dnsAddr.Addr())))

	l.exporter, err = startExporter(l.client, l.bin, l.config, "127.0.0.1:9765", 0)
	must(err)
	time.Sleep(100 * time.Millisecond) // let the readiness check's connection close
	files, err := l.exporter.openFiles()
	must(err)
	l.idleFiles = len(files)
	t.Logf("exporter PID %d in %s holds, idle: %s", l.exporter.Cmd.Process.Pid, l.client, strings.Join(files, " "))
	return l
}

func TestLab(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.NeedTools(t, "ip", "nft", "prlimit")
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		testenv.Skip(t, "needs /dev/net/tun for the lab's TUN links")
	}
	start := time.Now()
	l := setupLab(t)
	t.Logf("lab up in %s (namespaces %s)", time.Since(start).Round(time.Millisecond), strings.Join([]string{l.client, l.r1, l.r2, l.server}, ", "))

	t.Run("delay", l.testDelay)
	t.Run("verdicts", func(t *testing.T) {
		l.testVerdicts(t, func(sc scenario) bool { return !sc.underLock && sc.path == nil })
	})
	// The check command on the same network verdicts, before the traces
	// (for the reason just below).
	t.Run("check-command", l.testCheckVerdicts)
	// Names with several addresses (tcp.addresses), through /probe and check.
	t.Run("addresses", l.testAddresses)
	t.Run("addresses-check-command", l.testAddressesCheck)
	// TLS by name and by IP, through /probe and check.
	t.Run("tls", l.testTLS)
	t.Run("tls-check-command", l.testTLSCheck)
	// After the verdicts: r1's own "no route" answer (ip_error) shares its
	// per-destination token bucket with the ICMP rate limit, and each
	// time-exceeded of a trace empties it (icmp_ratelimit 0), which delays
	// that answer to the client's next SYN, 1 s later.
	t.Run("trace", func(t *testing.T) {
		l.testVerdicts(t, func(sc scenario) bool { return sc.path != nil })
	})
	t.Run("no-lock-dropped-icmp", func(t *testing.T) {
		// Every ICMP from the network reached the client's sockets after
		// connect() had let go of the socket, as on a real link (tunLink).
		n, err := nstat(l.client, "LockDroppedIcmps")
		if err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("TcpExtLockDroppedIcmps = %d in the client namespace, want 0: an ICMP arrived while connect() held the socket", n)
		}
	})
	t.Run("verdicts-own-kernel", func(t *testing.T) {
		l.testVerdicts(t, func(sc scenario) bool { return sc.underLock })
	})
	t.Run("trace-check-command", l.testTraceCheck)
	// Who really answered: forged resets and dark hosts (tcp.control_ports),
	// through /probe and check; a full conntrack table from fixture files.
	t.Run("host-evidence", l.testHostEvidence)
	t.Run("conntrack-full", l.testConntrackFull)
	t.Run("host-check-storm", l.testHostCheckStorm)
	t.Run("policy", l.testPolicy)
	t.Run("rlimit", l.testRlimit)
	t.Run("load", l.testLoad)
	for _, link := range l.links {
		t.Log(link)
	}
	t.Logf("lab run %s (build, set-up and all probes)", time.Since(start).Round(time.Millisecond))
}
