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

// tracedResults are the path traces a loopback cannot produce: a reject at
// hop 3, and silence after hop 1.
func tracedResults() []prober.Result {
	r1, r2 := netip.MustParseAddr("10.201.1.1"), netip.MustParseAddr("10.201.2.2")
	te := func(ttl int, from netip.Addr, rtt time.Duration) prober.Hop {
		return prober.Hop{TTL: ttl, Addr: from, RTT: rtt, Reason: verdict.TimeExceeded,
			ICMP: &verdict.ICMP{Type: 11, Offender: from}}
	}
	phases := func(connect, trace time.Duration) []prober.PhaseDuration {
		return []prober.PhaseDuration{{Phase: prober.PhaseResolve}, {Phase: prober.PhaseConnect, Duration: connect},
			{Phase: prober.PhaseTrace, Duration: trace}, {Phase: prober.PhaseHold}}
	}
	reject := prober.Result{
		Class: verdict.Firewall, Reason: verdict.AdminProhibited, Responder: r2,
		Addr: netip.MustParseAddrPort("10.201.3.2:7022"), Source: netip.MustParseAddr("10.201.1.2"), IPProtocol: 4,
		ICMP:     &verdict.ICMP{Type: 3, Code: 13, Offender: r2},
		Err:      errors.New("connecting to 10.201.3.2 port 7022: dial tcp4 10.201.3.2:7022: connect: no route to host"),
		Phases:   phases(2*time.Millisecond, 3*time.Millisecond),
		Duration: 5 * time.Millisecond,
		Transcript: []prober.Line{
			{Text: "Trying 10.201.3.2 port 7022..."},
			{Text: "ICMP: icmp type 3 code 13 from 10.201.2.2"},
			{Text: "telnet: Unable to connect to remote host: No route to host"},
			{Text: "traceroute to 10.201.3.2 port 7022 (TCP SYN), 16 hops max, 1s wait", Path: true},
		},
		Hops: []prober.Hop{te(1, r1, 1100*time.Microsecond), te(2, r2, 1300*time.Microsecond),
			{TTL: 3, Addr: r2, RTT: 1400 * time.Microsecond, Reason: verdict.AdminProhibited,
				ICMP: &verdict.ICMP{Type: 3, Code: 13, Offender: r2}}},
	}
	drop := prober.Result{
		Class: verdict.Firewall, Reason: verdict.NoResponse,
		Addr: netip.MustParseAddrPort("10.201.3.2:7021"), IPProtocol: 4,
		Err:        errors.New("connecting to 10.201.3.2 port 7021: dial tcp4 10.201.3.2:7021: i/o timeout"),
		Phases:     phases(time.Second, time.Second),
		Duration:   2 * time.Second,
		Transcript: []prober.Line{{Text: "Trying 10.201.3.2 port 7021..."}, {Text: "(no answer after 1s)"}},
		Hops:       []prober.Hop{te(1, r1, 1100*time.Microsecond)},
	}
	for ttl := 2; ttl <= 16; ttl++ {
		drop.Hops = append(drop.Hops, prober.Hop{TTL: ttl})
	}
	return []prober.Result{reject, drop}
}

// TestGoldenTraceText: the hop table under the verdict block, the path
// sentence in it, and no traceroute lines from the transcript.
func TestGoldenTraceText(t *testing.T) {
	var b bytes.Buffer
	tw := newTextWriter(context.Background(), Options{Stdout: &b}, testPlan("tcp_trace", "10.201.3.2:7022", "10.201.3.2:7021"))
	for i, r := range tracedResults() {
		tw.done(i, &r)
	}
	tw.finish()
	out := b.String()
	if strings.Contains(out, "traceroute to") {
		t.Errorf("the transcript's traceroute lines were printed besides the hop table:\n%s", out)
	}
	golden(t, "trace.golden", out)
}

// TestTraceJSON: the trace object carries the metrics' values and every TTL.
func TestTraceJSON(t *testing.T) {
	results := tracedResults()
	var b bytes.Buffer
	if err := writeJSON(&b, testPlan("tcp_trace", "10.201.3.2:7022", "10.201.3.2:7021"), results, nil); err != nil {
		t.Fatal(err)
	}
	golden(t, "trace.json.golden", b.String())
}

// testPlan is a plan of targets, all with one module, for the writers.
func testPlan(module string, targets ...string) *plan {
	p := &plan{moduleName: module}
	for _, t := range targets {
		p.targets = append(p.targets, plannedTarget{text: t, moduleName: module})
	}
	return p
}
