package check

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tcp-verdict/tcp_verdict_exporter/prober"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// hostResults are the host checks (tcp.control_ports) a loopback cannot
// produce, as the namespace lab gives them: a reset forged by r1, two hops
// before the host; one from the host's last router, which hop counts
// cannot tell from the host's; and a host whose every packet is dropped.
func hostResults() []prober.Result {
	r1, r2, server := netip.MustParseAddr("10.201.1.1"), netip.MustParseAddr("10.201.2.2"), netip.MustParseAddr("10.201.3.2")
	te := func(ttl int, from netip.Addr) prober.Hop {
		return prober.Hop{TTL: ttl, Addr: from, RTT: time.Millisecond, Reason: verdict.TimeExceeded,
			ICMP: &verdict.ICMP{Type: 11, Offender: from}}
	}
	rst := func(ttl int) prober.Hop {
		return prober.Hop{TTL: ttl, Addr: server, RTT: time.Millisecond, Reason: verdict.ConnRefused, Reached: true}
	}
	synAck := prober.Hop{TTL: 3, Addr: server, RTT: time.Millisecond, Reason: verdict.SynAck, Reached: true}
	phases := func(connect, control time.Duration) []prober.PhaseDuration {
		return []prober.PhaseDuration{{Phase: prober.PhaseResolve}, {Phase: prober.PhaseConnect, Duration: connect},
			{Phase: prober.PhaseControl, Duration: control}, {Phase: prober.PhaseHold}}
	}
	forged := prober.Result{
		Class: verdict.Firewall, Reason: verdict.ForgedReset, Responder: r1,
		Addr: netip.MustParseAddrPort("10.201.3.2:7025"), Source: netip.MustParseAddr("10.201.1.2"), IPProtocol: 4,
		Err:      errors.New("connecting to 10.201.3.2 port 7025: connection refused; the RST came from 2 hops, the host answers from 3: forged on the path"),
		Phases:   phases(2*time.Millisecond, 3*time.Millisecond),
		Duration: 5 * time.Millisecond,
		Transcript: []prober.Line{
			{Text: "Trying 10.201.3.2 port 7025..."},
			{Text: "telnet: Unable to connect to remote host: Connection refused"},
			{Text: "(tracing port 7025 and control port 7002 of 10.201.3.2 at once: TCP SYN, TTL 1 to 8, 1s wait)", Path: true},
		},
		Host: &prober.HostCheck{Tried: true, Up: true, ResetHops: 2, HostHops: 3, HostPort: 7002,
			ResetTrace: []prober.Hop{te(1, r1), rst(2)},
			HostTrace:  []prober.Hop{te(1, r1), te(2, r2), synAck},
			Note:       "the RST for port 7025 came back from TTL 2, the host answers port 7002 from TTL 3: hop 1 (10.201.1.1) forged it"},
	}
	lastRouter := prober.Result{
		Class: verdict.Refused, Reason: verdict.ConnRefused, Responder: server,
		Addr: netip.MustParseAddrPort("10.201.3.2:7024"), Source: netip.MustParseAddr("10.201.1.2"), IPProtocol: 4,
		Err:      errors.New("connecting to 10.201.3.2 port 7024: connect: connection refused"),
		Phases:   phases(2*time.Millisecond, 3*time.Millisecond),
		Duration: 5 * time.Millisecond,
		Transcript: []prober.Line{
			{Text: "Trying 10.201.3.2 port 7024..."},
			{Text: "telnet: Unable to connect to remote host: Connection refused"},
		},
		Host: &prober.HostCheck{Tried: true, Up: true, ResetHops: 3, HostHops: 3, HostPort: 7002,
			ResetTrace: []prober.Hop{te(1, r1), te(2, r2), rst(3)},
			HostTrace:  []prober.Hop{te(1, r1), te(2, r2), synAck},
			Note:       "the RST for port 7024 came back from TTL 3, as the host's answer on port 7002 does: the host, its own firewall and a firewall at its last router (10.201.2.2) all look the same, so nothing more can be told"},
	}
	dark := prober.Result{
		Class: verdict.Unreachable, Reason: verdict.HostSilent,
		Addr: netip.MustParseAddrPort("10.201.3.77:7002"), IPProtocol: 4,
		Err:      errors.New("connecting to 10.201.3.77 port 7002: i/o timeout; no control port (7002, 7010) answered either"),
		Phases:   phases(time.Second, time.Second),
		Duration: 2 * time.Second,
		Transcript: []prober.Line{
			{Text: "Trying 10.201.3.77 port 7001..."},
			{Text: "(no answer after 1s)"},
		},
		Host: &prober.HostCheck{Tried: true, Ports: []prober.ControlAnswer{{Port: 7002}, {Port: 7010}},
			Note: "no control port (7002, 7010) answered either: the host is down, or every packet to it is dropped"},
	}
	return []prober.Result{forged, lastRouter, dark}
}

var hostTargets = []string{"10.201.3.2:7025", "10.201.3.2:7024", "10.201.3.77:7001"}

// TestGoldenHostText: the host line and the TTL-by-TTL table of the two
// traces under the verdict block; the reason's own telnet words.
func TestGoldenHostText(t *testing.T) {
	var b bytes.Buffer
	tw := newTextWriter(context.Background(), Options{Stdout: &b}, testPlan("v4_control", hostTargets...))
	for i, r := range hostResults() {
		tw.done(i, &r)
	}
	tw.finish()
	out := b.String()
	for _, want := range []string{"ttl       TTL  PORT 7025", "hop 1 (10.201.1.1) forged it", "nothing more can be told", "the host is down, or every packet to it is dropped"} {
		if !strings.Contains(out, want) {
			t.Errorf("the text lacks %q", want)
		}
	}
	golden(t, "host.golden", out)
}

// TestHostJSON: the host object carries the metrics' values and both traces.
func TestHostJSON(t *testing.T) {
	var b bytes.Buffer
	if err := writeJSON(&b, testPlan("v4_control", hostTargets...), hostResults(), nil); err != nil {
		t.Fatal(err)
	}
	golden(t, "host.json.golden", b.String())
}
