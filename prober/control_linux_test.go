package prober

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tcp-verdict/tcp_verdict_exporter/conntrack"
	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testnet"
	"github.com/tcp-verdict/tcp_verdict_exporter/limits"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// The host check on loopback: a full accept queue is the silence loopback
// offers (testnet.FullBacklog); the namespace lab (test/e2e) has the
// routers, the firewalls and IPv6.

// fakeTable is a conntrack table of fixed fill.
type fakeTable struct {
	fill  conntrack.Fill
	err   error
	reads int
}

func (f *fakeTable) Read() (conntrack.Fill, error) { f.reads++; return f.fill, f.err }

func listenerPort(t *testing.T, hostport string) uint16 {
	t.Helper()
	ap, err := netip.ParseAddrPort(hostport)
	if err != nil {
		t.Fatal(err)
	}
	return ap.Port()
}

func controlModule(t *testing.T, ports ...uint16) string {
	t.Helper()
	list := make([]string, len(ports))
	for i, p := range ports {
		list[i] = fmt.Sprint(p)
	}
	return "    timeout: 1s\n    tcp: {preferred_ip_protocol: ip4, hold: 0s, trace: {max_hops: 3, timeout: 300ms}, control_ports: [" + strings.Join(list, ", ") + "]}\n"
}

func probeWith(t *testing.T, target netip.AddrPort, yaml string, opts Options) Result {
	t.Helper()
	tg, err := ParseTarget(target.String())
	if err != nil {
		t.Fatal(err)
	}
	opts.Trace = true
	r := Probe(context.Background(), tg, module(t, yaml), opts)
	t.Logf("%s\n%s", r.Summary(), r.TranscriptText())
	return r
}

// A silent port on a host that answers on a control port: the port is
// filtered, no-response stands, and the host is up.
func TestSilentPortHostUp(t *testing.T) {
	dropped := testnet.FullBacklog(t)
	open := listenerPort(t, testnet.Serve(t, "tcp4", "127.0.0.1:0", testnet.KeepOpen))
	closed := listenerPort(t, testnet.ClosedPort(t, "tcp4", "127.0.0.1:0"))
	r := probeWith(t, dropped, controlModule(t, open, closed), Options{})
	if r.Reason != verdict.NoResponse || r.Host == nil || !r.Host.Tried || !r.Host.Up {
		t.Fatalf("verdict %s, host check %+v: want no-response with the host up", r.Summary(), r.Host)
	}
	if len(r.Host.Ports) != 2 {
		t.Fatalf("control answers %+v, want two", r.Host.Ports)
	}
	if _, ok := r.PhaseDuration(PhaseControl); !ok {
		t.Error("no control phase")
	}
	if r.Duration > 1100*time.Millisecond {
		t.Errorf("the probe took %s, beyond its 1s", r.Duration)
	}
}

// A silent port whose control ports are silent too: the host is dark.
func TestSilentHostDark(t *testing.T) {
	dropped, control := testnet.FullBacklog(t), testnet.FullBacklog(t)
	r := probeWith(t, dropped, controlModule(t, control.Port()), Options{})
	if r.Class != verdict.Unreachable || r.Reason != verdict.HostSilent || r.Responder.IsValid() {
		t.Fatalf("verdict %s, want unreachable/host-silent from nobody", r.Summary())
	}
	if r.Host == nil || !r.Host.Tried || r.Host.Up || r.Host.Ports[0].Answered() {
		t.Errorf("host check %+v, want tried, down, no answer", r.Host)
	}
	if !strings.Contains(r.TranscriptText(), "the host is down, or every packet to it is dropped") {
		t.Error("the transcript does not say why")
	}
	if r.Duration > 1100*time.Millisecond {
		t.Errorf("the probe took %s, beyond its 1s", r.Duration)
	}
}

// On loopback the RST and the host's answer both come from TTL 1: refused
// stands, and the check says why nothing more can be told.
func TestRefusedSameHops(t *testing.T) {
	closed := netip.MustParseAddrPort(testnet.ClosedPort(t, "tcp4", "127.0.0.1:0"))
	open := listenerPort(t, testnet.Serve(t, "tcp4", "127.0.0.1:0", testnet.KeepOpen))
	r := probeWith(t, closed, controlModule(t, open), Options{})
	if r.Reason != verdict.ConnRefused || r.Responder != closed.Addr() {
		t.Fatalf("verdict %s, want conn-refused from the target", r.Summary())
	}
	h := r.Host
	if h == nil || h.ResetHops != 1 || h.HostHops != 1 || h.HostPort != open || !h.Up {
		t.Fatalf("host check %+v, want both at hop 1 through port %d", h, open)
	}
	if !strings.Contains(h.Note, "nothing more can be told") {
		t.Errorf("note %q does not say why nothing more can be told", h.Note)
	}
	if len(r.Hops) != 0 {
		t.Errorf("a path trace ran (%d hops) after a refused connect", len(r.Hops))
	}
}

// A full conntrack table makes a silent verdict this host's error, and
// nothing more is sent; a table with room, or none, changes nothing; a
// refused connect does not even read it.
func TestConntrackFull(t *testing.T) {
	dropped := testnet.FullBacklog(t)
	open := listenerPort(t, testnet.Serve(t, "tcp4", "127.0.0.1:0", testnet.KeepOpen))
	full := &fakeTable{fill: conntrack.Fill{Count: 65536, Max: 65536}}
	r := probeWith(t, dropped, controlModule(t, open), Options{Conntrack: full})
	if r.Class != verdict.Error || r.Reason != verdict.LocalError || r.Host != nil {
		t.Fatalf("verdict %s, host check %+v: want error/local-error and no host check", r.Summary(), r.Host)
	}
	if !strings.Contains(r.Err.Error(), "conntrack table is full (nf_conntrack_count 65536 >= nf_conntrack_max 65536)") {
		t.Errorf("error %q does not name the cause", r.Err)
	}
	for _, tab := range []*fakeTable{{fill: conntrack.Fill{Count: 10, Max: 65536}}, {err: conntrack.ErrNoConntrack}} {
		if r := probeWith(t, dropped, "    timeout: 300ms\n    tcp: {preferred_ip_protocol: ip4}\n", Options{Conntrack: tab}); r.Reason != verdict.NoResponse {
			t.Errorf("table %+v: verdict %s, want no-response", tab, r.Summary())
		}
	}
	closed := netip.MustParseAddrPort(testnet.ClosedPort(t, "tcp4", "127.0.0.1:0"))
	full.reads = 0
	if r := probeWith(t, closed, "    tcp: {preferred_ip_protocol: ip4}\n", Options{Conntrack: full}); r.Reason != verdict.ConnRefused || full.reads != 0 {
		t.Errorf("refused port with a full table: %s after %d reads, want conn-refused and no read", r.Summary(), full.reads)
	}
}

// Without control ports nothing beyond the probe happens: no host check,
// no control phase, no socket of the trace budget.
func TestNoControlPorts(t *testing.T) {
	dropped := testnet.FullBacklog(t)
	b := limits.NewBudget(0) // nothing fits: a check would be skipped, and say so
	r := probeWith(t, dropped, "    timeout: 300ms\n    tcp: {preferred_ip_protocol: ip4}\n", Options{TraceBudget: b})
	if r.Reason != verdict.NoResponse || r.Host != nil {
		t.Fatalf("verdict %s, host check %+v: want no-response and none", r.Summary(), r.Host)
	}
	if _, ok := r.PhaseDuration(PhaseControl); ok {
		t.Error("a control phase without control ports")
	}
}

// A check whose sockets do not fit the trace budget is skipped, says so,
// and leaves the verdict as it was.
func TestHostCheckOverBudget(t *testing.T) {
	dropped := testnet.FullBacklog(t)
	closed := netip.MustParseAddrPort(testnet.ClosedPort(t, "tcp4", "127.0.0.1:0"))
	b := limits.NewBudget(1)
	r := probeWith(t, dropped, controlModule(t, 22, 443), Options{TraceBudget: b})
	if r.Reason != verdict.NoResponse || r.Host == nil || r.Host.Tried || r.Host.Skipped != TraceOverBudget {
		t.Errorf("silent: verdict %s, host check %+v: want no-response, skipped over budget", r.Summary(), r.Host)
	}
	r = probeWith(t, closed, controlModule(t, 22), Options{TraceBudget: b})
	if r.Reason != verdict.ConnRefused || r.Host == nil || r.Host.Skipped != TraceOverBudget {
		t.Errorf("refused: verdict %s, host check %+v: want conn-refused, skipped over budget", r.Summary(), r.Host)
	}
	if b.InUse() != 0 {
		t.Errorf("%d sockets of the budget still taken", b.InUse())
	}
}

// With tcp.trace on, the path trace and the host check run side by side in
// the same reserved time: both report, and the probe keeps its deadline.
func TestSilentTraceAndHostCheckTogether(t *testing.T) {
	dropped, control := testnet.FullBacklog(t), testnet.FullBacklog(t)
	r := probeWith(t, dropped, "    timeout: 1s\n    tcp: {preferred_ip_protocol: ip4, hold: 0s, trace: {enabled: true, max_hops: 3, timeout: 300ms}, control_ports: ["+fmt.Sprint(control.Port())+"]}\n", Options{TraceBudget: limits.NewBudget(4)})
	if r.Reason != verdict.HostSilent || len(r.Hops) != 3 || r.Host == nil || !r.Host.Tried {
		t.Fatalf("verdict %s, %d hops, host check %+v: want host-silent, a 3-hop trace and a host check", r.Summary(), len(r.Hops), r.Host)
	}
	trace, _ := r.PhaseDuration(PhaseTrace)
	control2, ok := r.PhaseDuration(PhaseControl)
	if !ok || r.Duration > 1100*time.Millisecond {
		t.Errorf("control phase %v (reported %v), trace %v, probe %s: want both within the 1s", control2, ok, trace, r.Duration)
	}
}
