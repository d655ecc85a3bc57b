package prober

import (
	"context"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testnet"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// openFDs counts this process's open descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	// Sessions that earlier tests' probes ended politely drain for up to
	// drainTime before they close: let them, or their descriptors would
	// vanish in the middle of a count.
	testDrains.Wait(2 * drainTime)
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// On a loopback the target is the first hop: a closed port answers RST and
// a listener SYN-ACK at TTL 1, which ends the trace there.
func TestTraceRouteLoopbackReachesTarget(t *testing.T) {
	listening := netip.MustParseAddrPort(testnet.Serve(t, "tcp4", "127.0.0.1:0", testnet.KeepOpen))
	closed := netip.MustParseAddrPort(testnet.ClosedPort(t, "tcp4", "127.0.0.1:0"))
	closed6 := netip.MustParseAddrPort(testnet.ClosedPort(t, "tcp6", "[::1]:0"))
	before := openFDs(t)
	for _, c := range []struct {
		dst    netip.AddrPort
		reason verdict.Reason
	}{
		{listening, verdict.SynAck},
		{closed, verdict.ConnRefused},
		{closed6, verdict.ConnRefused},
	} {
		start := time.Now()
		hops, err := traceRoute(context.Background(), netip.Addr{}, c.dst, 8, 2*time.Second, nil)
		if err != nil {
			t.Fatalf("%s: %v", c.dst, err)
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("%s: the trace took %s: it must end once TTL 1 reached the target", c.dst, took)
		}
		if len(hops) != 1 {
			t.Fatalf("%s: %d hops %+v, want 1 (the target at TTL 1)", c.dst, len(hops), hops)
		}
		h := hops[0]
		if h.TTL != 1 || h.Addr != c.dst.Addr() || h.Reason != c.reason || !h.Reached || h.RTT <= 0 {
			t.Errorf("%s: hop %+v, want TTL 1, %s, %s, reached, RTT > 0", c.dst, h, c.dst.Addr(), c.reason)
		}
	}
	time.Sleep(50 * time.Millisecond) // the runtime closes evicted descriptors lazily
	if after := openFDs(t); after != before {
		t.Errorf("%d descriptors open after the traces, %d before: a socket leaked", after, before)
	}
}

// Nothing answers: every TTL stays silent, the trace waits its whole
// timeout and no longer, and closes every socket.
func TestTraceRouteSilence(t *testing.T) {
	dst := testnet.FullBacklog(t)
	before := openFDs(t)
	const wait = 300 * time.Millisecond
	start := time.Now()
	hops, err := traceRoute(context.Background(), netip.Addr{}, dst, 5, wait, nil)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if len(hops) != 5 {
		t.Fatalf("%d hops, want all 5 TTLs", len(hops))
	}
	for i, h := range hops {
		if h.TTL != i+1 || h.Answered() {
			t.Errorf("hop %d = %+v, want TTL %d unanswered", i, h, i+1)
		}
	}
	if took < wait || took > wait+200*time.Millisecond {
		t.Errorf("the trace took %s, want its timeout %s", took, wait)
	}
	time.Sleep(50 * time.Millisecond)
	if after := openFDs(t); after != before {
		t.Errorf("%d descriptors open after the trace, %d before: a socket leaked", after, before)
	}

	// A cancelled context ends the wait at once.
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start = time.Now()
	if _, err := traceRoute(ctx, netip.Addr{}, dst, 5, 5*time.Second, nil); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("a cancelled trace took %s", took)
	}
}

// A traced probe whose connect times out: the verdict is unchanged, the
// trace runs within the module's timeout (the connect gave it its time),
// and its phase and traceroute lines are recorded.
func TestProbeTraceWithinTimeout(t *testing.T) {
	dst := testnet.FullBacklog(t)
	m := module(t, "    timeout: 1s\n    tcp:\n      trace: {enabled: true, max_hops: 3, timeout: 300ms}\n")
	r := probeTarget(t, dst.String(), m)
	if r.Class != verdict.Firewall || r.Reason != verdict.NoResponse {
		t.Fatalf("verdict %s, want firewall/no-response", r.Summary())
	}
	if r.Duration > 1100*time.Millisecond {
		t.Errorf("the probe took %s: the trace must fit in the module's 1s", r.Duration)
	}
	connect, _ := r.PhaseDuration(PhaseConnect)
	trace, ok := r.PhaseDuration(PhaseTrace)
	if !ok || trace < 250*time.Millisecond {
		t.Errorf("trace phase %s (%v), want about 300ms", trace, ok)
	}
	if connect < 600*time.Millisecond || connect > 800*time.Millisecond {
		t.Errorf("connect phase %s, want about 700ms (1s less the trace's 300ms)", connect)
	}
	if _, ok := r.PhaseDuration(PhaseHold); !ok {
		t.Error("hold phase missing")
	}
	if len(r.Hops) != 3 || r.HopsAnswered() != 0 {
		t.Errorf("hops %+v, want 3 silent", r.Hops)
	}
	var path []string
	for _, l := range r.Transcript {
		if l.Path {
			path = append(path, l.Text)
		}
	}
	if len(path) != 2 || !strings.HasPrefix(path[0], "traceroute to 127.0.0.1 port ") || strings.TrimSpace(path[1]) != "1-3  *" {
		t.Errorf("traceroute lines %q, want the header and \" 1-3  *\"", path)
	}
}

// No trace for a verdict that is not a network one, nor when it is off.
func TestProbeTraceOnlyForNetworkVerdicts(t *testing.T) {
	closed := testnet.ClosedPort(t, "tcp4", "127.0.0.1:0")
	on := module(t, "    timeout: 2s\n    tcp:\n      trace: {enabled: true}\n")
	if r := probeTarget(t, closed, on); r.Reason != verdict.ConnRefused || r.Hops != nil {
		t.Errorf("refused: %s with %d hops, want conn-refused and no trace", r.Summary(), len(r.Hops))
	}
	dst := testnet.FullBacklog(t)
	off := module(t, "    timeout: 300ms\n    tcp:\n      hold: 0s\n")
	r := probeTarget(t, dst.String(), off)
	if r.Reason != verdict.NoResponse || r.Hops != nil {
		t.Errorf("trace off: %s with %d hops, want no-response and no trace", r.Summary(), len(r.Hops))
	}
	if _, ok := r.PhaseDuration(PhaseTrace); ok {
		t.Error("trace phase reported although the trace is off")
	}
}

// The kernel's receive time of an ICMP answer comes as SCM_TIMESTAMPNS.
func TestParseTimestamp(t *testing.T) {
	want := time.Unix(1700000000, 123456789)
	ts := unix.NsecToTimespec(want.UnixNano())
	m := unix.SocketControlMessage{
		Header: unix.Cmsghdr{Level: unix.SOL_SOCKET, Type: unix.SCM_TIMESTAMPNS},
		Data:   unsafe.Slice((*byte)(unsafe.Pointer(&ts)), unsafe.Sizeof(ts)),
	}
	if got, ok := parseTimestamp(m); !ok || !got.Equal(want) {
		t.Errorf("parseTimestamp = %v, %v; want %v", got, ok, want)
	}
	m.Header.Type = unix.IP_RECVERR
	if _, ok := parseTimestamp(m); ok {
		t.Error("an IP_RECVERR message parsed as a timestamp")
	}
	m.Header.Type, m.Data = unix.SCM_TIMESTAMPNS, m.Data[:4]
	if _, ok := parseTimestamp(m); ok {
		t.Error("a short message parsed as a timestamp")
	}
}
