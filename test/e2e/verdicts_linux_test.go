//go:build linux

package e2e

import (
	"fmt"
	"math"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// scenario is one way the network can answer, and the verdict it must give.
type scenario struct {
	name   string
	only   *family             // nil: both families
	target func(family) string // host:port
	module string              // appended to the family's name
	class  verdict.Class
	reason verdict.Reason
	// responder is who must be named: the target, the router that sent the
	// ICMP, or nobody (nil).
	responder func(family) string
	success   bool
	// fast: the network answers at once (RST or ICMP), so the probe must end
	// in milliseconds, not on the module's timeout or a SYN retransmit.
	fast bool
	// check adds scenario-specific assertions about the lab's state.
	check func(t *testing.T, l *lab, f family)
	// underLock: the client's own kernel makes this ICMP inside connect(),
	// under the socket lock, as it would on any host; it runs after the
	// check that no ICMP from the network was handled so (TestLab).
	underLock bool
	// path is what the path trace must find (module _trace); nil: the
	// probe must have no tcp_trace_* series.
	path *pathWant
}

func at(host func(family) string, port int) func(family) string {
	return func(f family) string { return net.JoinHostPort(host(f), strconv.Itoa(port)) }
}

func named(name string, port int) func(family) string {
	return func(family) string { return net.JoinHostPort(name, strconv.Itoa(port)) }
}

var (
	theTarget = family.server
	r1        = family.r1Client
	r2        = family.r2
)

var scenarios = []scenario{
	// Servers.
	{name: "silent-accept", target: at(theTarget, portSilent),
		class: verdict.Connected, reason: verdict.SynAck, responder: theTarget, success: true},
	{name: "banner-and-stay", target: at(theTarget, portBanner),
		class: verdict.Connected, reason: verdict.SynAck, responder: theTarget, success: true},
	{name: "accept-then-fin", target: at(theTarget, portFIN), fast: true,
		class: verdict.ClosedByPeer, reason: verdict.Fin, responder: theTarget},
	{name: "accept-then-rst", target: at(theTarget, portRST), fast: true,
		class: verdict.ClosedByPeer, reason: verdict.Reset, responder: theTarget},
	{name: "access-denied-then-close", target: at(theTarget, portDenied), fast: true,
		class: verdict.ClosedByPeer, reason: verdict.Fin, responder: theTarget},
	{name: "full-backlog", target: at(theTarget, portFullBacklog),
		class: verdict.Firewall, reason: verdict.NoResponse,
		check: func(t *testing.T, l *lab, _ family) {
			if n, err := nstat(l.server, "ListenOverflows"); err != nil || n == 0 {
				t.Errorf("server's TcpExtListenOverflows = %d (%v): the SYNs were not dropped by the full backlog", n, err)
			}
		}},
	{name: "closed-port", target: at(theTarget, portClosed), fast: true,
		class: verdict.Refused, reason: verdict.ConnRefused, responder: theTarget},

	// Firewalls.
	{name: "drop-at-server", target: at(theTarget, portDropServer),
		class: verdict.Firewall, reason: verdict.NoResponse},
	{name: "drop-at-r1", target: at(theTarget, portDropR1),
		class: verdict.Firewall, reason: verdict.NoResponse},
	{name: "reject-admin-prohibited-at-r2", target: at(theTarget, portAdminR2), fast: true,
		class: verdict.Firewall, reason: verdict.AdminProhibited, responder: r2},
	{name: "reject-port-unreachable-at-server", target: at(theTarget, portRejectSrv), fast: true,
		class: verdict.Firewall, reason: verdict.PortUnreach, responder: theTarget},
	// Indistinguishable from a closed port: the RST carries the target's
	// address (README.md, "The verdicts").
	{name: "reject-tcp-reset-at-r2", target: at(theTarget, portResetR2), fast: true,
		class: verdict.Refused, reason: verdict.ConnRefused, responder: theTarget},
	{name: "drop-in-client-output", target: at(theTarget, portLocalDrop),
		class: verdict.Firewall, reason: verdict.NoResponse},

	// Path traces (trace_linux_test.go), in a phase of their own (TestLab):
	// the same verdicts, plus the hop where the SYN dies.
	{name: "drop-at-r1", target: at(theTarget, portDropR1), module: "_trace",
		class: verdict.Firewall, reason: verdict.NoResponse, path: traceDropR1},
	{name: "drop-at-server", target: at(theTarget, portDropServer), module: "_trace",
		class: verdict.Firewall, reason: verdict.NoResponse, path: traceDropServer},
	{name: "reject-admin-prohibited-at-r2", target: at(theTarget, portAdminR2), module: "_trace", fast: true,
		class: verdict.Firewall, reason: verdict.AdminProhibited, responder: r2, path: traceRejectR2},

	{name: "reject-in-client-output", target: at(theTarget, portLocalReject), fast: true, underLock: true,
		class: verdict.Firewall, reason: verdict.LocalProhibited},

	// Routing.
	{name: "client-arp-ndp-fails", target: at(family.lanUnowned, portSilent), module: "_long",
		class: verdict.Unreachable, reason: verdict.NoRoute},
	{name: "unowned-address-arp-ndp-fails", target: at(family.unowned, portSilent), module: "_long",
		class: verdict.Unreachable, reason: verdict.HostUnreach, responder: r2},
	{name: "no-route-at-r1", target: at(family.noRoute, portSilent), fast: true,
		class: verdict.Unreachable, reason: verdict.NetUnreach, responder: r1},
	{name: "reject-net-unreachable-at-r2", target: at(family.netReject, portSilent), fast: true,
		class: verdict.Unreachable, reason: verdict.NetUnreach, responder: r2},
	{name: "routing-loop", target: at(family.loop, portSilent), fast: true,
		class: verdict.Unreachable, reason: verdict.TimeExceeded, responder: r2},

	// DNS.
	{name: "dns-resolves", target: named("www."+dnsName[:len(dnsName)-1], portBanner),
		class: verdict.Connected, reason: verdict.SynAck, responder: theTarget, success: true},
	{name: "dns-nxdomain", target: named("nx."+dnsName[:len(dnsName)-1], portBanner), fast: true,
		class: verdict.DNSError, reason: verdict.NXDomain},
	{name: "dns-timeout", target: named("slow."+dnsName[:len(dnsName)-1], portBanner),
		class: verdict.DNSError, reason: verdict.DNSFailure,
		check: func(t *testing.T, l *lab, _ family) {
			if l.zone.Queries("slow."+dnsName) == 0 {
				t.Errorf("the lab's DNS server saw no query for slow.%s: the timeout is not its silence", dnsName)
			}
		}},
	{name: "dns-no-address-of-family", only: &ipv4, target: named("only6."+dnsName[:len(dnsName)-1], portBanner), fast: true,
		class: verdict.DNSError, reason: verdict.DNSFailure},
	{name: "dns-no-address-of-family", only: &ipv6, target: named("only4."+dnsName[:len(dnsName)-1], portBanner), fast: true,
		class: verdict.DNSError, reason: verdict.DNSFailure},
}

// fastLimit bounds a probe the network answers at once: well under the 1 s
// of a SYN retransmit, which is how long a dropped ICMP would take.
const fastLimit = 0.25

type probeJob struct {
	sc    scenario
	f     family
	res   probeResult
	debug string
}

// testVerdicts runs the scenarios of one phase (see TestLab), in both
// families, all probes at once (the drop scenarios wait for the module
// timeout), then checks each.
func (l *lab) testVerdicts(t *testing.T, phase func(scenario) bool) {
	var jobs []*probeJob
	for _, f := range families {
		for _, sc := range scenarios {
			if (sc.only == nil || *sc.only == f) && phase(sc) {
				jobs = append(jobs, &probeJob{sc: sc, f: f})
			}
		}
	}
	trace := os.Getenv("TVE_E2E_TRACE") == "1"
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Go(func() {
			j.res = l.exporter.probe(j.sc.target(j.f), j.f.name+j.sc.module)
			if trace {
				j.debug = l.exporter.debugProbe(j.sc.target(j.f), j.f.name+j.sc.module)
			}
		})
	}
	wg.Wait()

	for _, j := range jobs {
		t.Run(j.f.name+"/"+j.sc.name, func(t *testing.T) {
			sc, f, r := j.sc, j.f, j.res
			defer func() {
				if t.Failed() || trace {
					if j.debug == "" {
						j.debug = l.exporter.debugProbe(r.target, r.module)
					}
					t.Logf("GET /probe?target=%s&module=%s&debug=true:\n%s", r.target, r.module, j.debug)
				}
			}()
			if r.err != nil {
				t.Fatalf("probe %s with module %s: %v\n%s", r.target, r.module, r.err, r.body)
			}
			want := expectation{class: sc.class, reason: sc.reason, success: sc.success}
			if sc.responder != nil {
				want.responder = sc.responder(f)
			}
			want.check(t, r)
			if sc.fast && r.duration > fastLimit {
				t.Errorf("probe_duration_seconds = %.3f, want < %.2f: the network answered at once", r.duration, fastLimit)
			}
			if sc.check != nil {
				sc.check(t, l, f)
			}
			sc.path.checkMetrics(t, r, f)
			t.Logf("%s module %s: %s/%s responder %q success %v in %.1f ms",
				r.target, r.module, r.class, r.reason, r.responder, r.success, r.duration*1000)
		})
	}
}

type expectation struct {
	class     verdict.Class
	reason    verdict.Reason
	responder string
	success   bool
}

func (want expectation) check(t *testing.T, r probeResult) {
	t.Helper()
	if len(r.classesSet) != 1 || r.classesSet[0] != string(want.class) {
		t.Errorf("tcp_verdict is 1 for %q, want only %q", r.classesSet, want.class)
	}
	if r.class != string(want.class) || r.reason != string(want.reason) {
		t.Errorf("tcp_verdict_info class/reason = %s/%s, want %s/%s", r.class, r.reason, want.class, want.reason)
	}
	if r.responder != want.responder {
		t.Errorf("tcp_verdict_info responder = %q, want %q", r.responder, want.responder)
	}
	if (r.success == 1) != want.success {
		t.Errorf("probe_success = %v, want %v", r.success, want.success)
	}
}

// testDelay checks the connect phase on the delayed path: the imposed
// delay plus the base round trip (the undelayed path to the same server),
// within ±2 ms. Each is the least of a few probes: on a shared machine the
// scheduler can only add time to a sample, never take it away.
func (l *lab) testDelay(t *testing.T) {
	const (
		tolerance = 0.002
		samples   = 5
	)
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			module := f.name + "_connect"
			connect := func(target string) []float64 {
				t.Helper()
				var v []float64
				for range samples {
					r := l.exporter.probe(target, module)
					if r.err != nil {
						t.Fatalf("probe %s: %v", target, r.err)
					}
					expectation{class: verdict.Connected, reason: verdict.SynAck, responder: hostOf(target), success: true}.check(t, r)
					if t.Failed() {
						t.FailNow()
					}
					v = append(v, r.phases["connect"])
				}
				slices.Sort(v)
				return v
			}
			base := connect(at(theTarget, portSilent)(f))
			delayed := connect(at(family.slow, portSilent)(f))
			want := slowDelay.Seconds() + base[0]
			t.Logf("connect, undelayed path: %s", millis(base))
			t.Logf("connect, delayed path:   %s", millis(delayed))
			t.Logf("delayed path: %.3f ms, want %.0f ms + %.3f ms = %.3f ms ± %.0f ms (deviation %+.3f ms)",
				delayed[0]*1000, slowDelay.Seconds()*1000, base[0]*1000, want*1000, tolerance*1000, (delayed[0]-want)*1000)
			if math.Abs(delayed[0]-want) > tolerance {
				t.Errorf("tcp_phase_duration_seconds{phase=\"connect\"} = %.4f on the delayed path, want %.4f ± %.3f", delayed[0], want, tolerance)
			}
		})
	}
}

func hostOf(hostport string) string {
	h, _, _ := net.SplitHostPort(hostport)
	return h
}

func millis(v []float64) string {
	s := ""
	for i, x := range v {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%.3f", x*1000)
	}
	return s + " ms"
}

// testRlimit runs a second exporter under the smallest RLIMIT_NOFILE with
// which it still answers HTTP: the request's connection fits, the probe's
// socket does not. Whatever the target, the verdict must be the exporter's
// own error, never a network class.
func (l *lab) testRlimit(t *testing.T) {
	var e *exporter
	var nofile int
	// Search upwards from a little below what the exporter holds when idle;
	// below the smallest workable limit it cannot start or accept.
	for nofile = max(4, l.idleFiles-3); nofile <= l.idleFiles+2; nofile++ {
		var err error
		if e, err = startExporterWithin(l.client, l.bin, l.config, "127.0.0.1:9766", nofile, time.Second); err == nil {
			break
		}
		t.Logf("prlimit --nofile=%d: %v", nofile, firstLine(err.Error()))
	}
	if e == nil {
		t.Fatalf("the exporter never answered with RLIMIT_NOFILE from %d to %d", max(4, l.idleFiles-3), l.idleFiles+2)
	}
	defer func() {
		if err := e.stop(); err != nil {
			t.Error(err)
		}
	}()
	t.Logf("exporter under prlimit --nofile=%d:%d (idle, the unlimited one holds %d descriptors)", nofile, nofile, l.idleFiles)
	for _, f := range families {
		for _, target := range []string{
			at(theTarget, portSilent)(f), at(theTarget, portClosed)(f),
			at(theTarget, portAdminR2)(f), at(family.noRoute, portSilent)(f),
		} {
			t.Run(f.name+"/"+target, func(t *testing.T) {
				r := e.probe(target, f.name)
				if r.err != nil {
					t.Fatalf("probe: %v\nexporter log:\n%s", r.err, e.Log)
				}
				expectation{class: verdict.Error, reason: verdict.LocalError}.check(t, r)
				if t.Failed() || os.Getenv("TVE_E2E_TRACE") == "1" {
					t.Logf("debug:\n%s", e.debugProbe(target, f.name))
				}
			})
		}
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
