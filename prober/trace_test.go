package prober

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/tcp-verdict/tcp_verdict_exporter/config"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

var (
	hopR1     = netip.MustParseAddr("192.0.2.1")
	hopR2     = netip.MustParseAddr("192.0.2.2")
	hopTarget = netip.MustParseAddr("198.51.100.7")
)

func timeExceeded(ttl int, from netip.Addr) Hop {
	return Hop{TTL: ttl, Addr: from, RTT: time.Millisecond, Reason: verdict.TimeExceeded,
		ICMP: &verdict.ICMP{Type: 11, Offender: from}}
}

func TestHopAnswer(t *testing.T) {
	cases := []struct {
		hop          Hop
		answer       string
		final, heard bool
	}{
		{Hop{TTL: 4}, "no answer", false, false},
		{timeExceeded(1, hopR1), "time-exceeded (icmp 11/0)", false, true},
		{Hop{TTL: 3, Addr: hopR2, Reason: verdict.AdminProhibited, ICMP: &verdict.ICMP{Type: 3, Code: 13, Offender: hopR2}},
			"admin-prohibited (icmp 3/13)", true, true},
		{Hop{TTL: 3, Addr: hopR2, Reason: verdict.AdminProhibited, ICMP: &verdict.ICMP{V6: true, Type: 1, Code: 1, Offender: hopR2}},
			"admin-prohibited (icmp6 1/1)", true, true},
		{Hop{TTL: 3, Addr: hopTarget, Reason: verdict.PortUnreach, Reached: true, ICMP: &verdict.ICMP{Type: 3, Code: 3, Offender: hopTarget}},
			"port-unreach (icmp 3/3, the target)", true, true},
		{Hop{TTL: 3, Addr: hopTarget, Reason: verdict.SynAck, Reached: true}, "syn-ack (the target)", true, true},
		{Hop{TTL: 3, Addr: hopTarget, Reason: verdict.ConnRefused, Reached: true}, "conn-refused (the target)", true, true},
		// An ICMP message that explains nothing (here: fragmentation needed)
		// does not end the path.
		{Hop{TTL: 2, Addr: hopR1, ICMP: &verdict.ICMP{Type: 3, Code: 4, Offender: hopR1}}, "icmp (icmp 3/4)", false, true},
	}
	for _, c := range cases {
		if got := c.hop.Answer(); got != c.answer {
			t.Errorf("Answer() = %q, want %q", got, c.answer)
		}
		if got := c.hop.Final(); got != c.final {
			t.Errorf("%s: Final() = %v, want %v", c.answer, got, c.final)
		}
		if got := c.hop.Answered(); got != c.heard {
			t.Errorf("%s: Answered() = %v, want %v", c.answer, got, c.heard)
		}
	}
}

func TestLastHop(t *testing.T) {
	var none Result
	if _, ok := none.LastHop(); ok || none.HopsAnswered() != 0 {
		t.Error("a result without a trace has a last hop")
	}
	silent := Result{Hops: []Hop{{TTL: 1}, {TTL: 2}}}
	if _, ok := silent.LastHop(); ok || silent.HopsAnswered() != 0 {
		t.Error("a trace nobody answered has a last hop")
	}
	// A silent hop in the middle (a router that sends no time-exceeded)
	// does not hide the hops after it.
	r := Result{Hops: []Hop{timeExceeded(1, hopR1), {TTL: 2}, timeExceeded(3, hopR2), {TTL: 4}, {TTL: 5}}}
	h, ok := r.LastHop()
	if !ok || h.TTL != 3 || h.Addr != hopR2 {
		t.Errorf("LastHop() = %+v, %v; want TTL 3 from %s", h, ok, hopR2)
	}
	if n := r.HopsAnswered(); n != 2 {
		t.Errorf("HopsAnswered() = %d, want 2", n)
	}
}

func TestEndTrace(t *testing.T) {
	reject := Hop{TTL: 3, Addr: hopR2, Reason: verdict.AdminProhibited, ICMP: &verdict.ICMP{Type: 3, Code: 13, Offender: hopR2}}
	reject4 := reject
	reject4.TTL = 4
	hops := []Hop{timeExceeded(1, hopR1), timeExceeded(2, hopR2), reject, reject4, {TTL: 5}}
	if got := endTrace(hops); len(got) != 3 || got[2].Reason != verdict.AdminProhibited {
		t.Errorf("endTrace cut at %d hops, want 3 (the reject)", len(got))
	}
	open := []Hop{timeExceeded(1, hopR1), {TTL: 2}, {TTL: 3}}
	if got := endTrace(open); len(got) != 3 {
		t.Errorf("endTrace with no final hop kept %d hops, want all 3", len(got))
	}

	done := []bool{true, false, true, false, false}
	if traceComplete(hops, done) {
		t.Error("complete although TTL 2, below the reject, is still waiting")
	}
	done[1] = true
	if !traceComplete(hops, done) {
		t.Error("not complete although TTLs 1-3 are done and 3 rejects")
	}
	if traceComplete(open, []bool{true, true, true}) {
		t.Error("complete without a hop that ends the path")
	}
}

func TestTraceWorthy(t *testing.T) {
	for _, ri := range verdict.Reasons {
		want := (ri.Class == verdict.Firewall || ri.Class == verdict.Unreachable) &&
			ri.Reason != verdict.LocalProhibited && ri.Reason != verdict.NoRoute
		if got := traceWorthy(ri.Reason); got != want {
			t.Errorf("traceWorthy(%s) = %v, want %v", ri.Reason, got, want)
		}
	}
}

// The trace's timeout is taken out of the connect's time; a budget shorter
// than twice the trace's timeout is split in half.
func TestConnectContextReservesTheTrace(t *testing.T) {
	tr := config.Trace{Enabled: true, MaxHops: 16, Timeout: time.Second}
	for _, c := range []struct {
		budget, reserve time.Duration
	}{
		{5 * time.Second, time.Second},
		{time.Second, 500 * time.Millisecond},
	} {
		p := &probe{deadline: time.Now().Add(c.budget)}
		ctx, cancel := p.connectContext(context.Background(), &config.TCPProbe{Trace: tr})
		d, ok := ctx.Deadline()
		cancel()
		if got := p.deadline.Sub(d); !ok || got > c.reserve || got < c.reserve-time.Millisecond {
			t.Errorf("budget %s: connect ends %s before the deadline, want %s", c.budget, got, c.reserve)
		}
	}
	p := &probe{deadline: time.Now().Add(5 * time.Second)}
	tr.Enabled = false
	ctx, cancel := p.connectContext(context.Background(), &config.TCPProbe{Trace: tr})
	defer cancel()
	if _, ok := ctx.Deadline(); ok {
		t.Error("a disabled trace shortened the connect")
	}
	// Control ports reserve the same time for the host check.
	ctx, cancel = p.connectContext(context.Background(), &config.TCPProbe{Trace: tr, ControlPorts: config.ControlPorts{22}})
	defer cancel()
	if d, ok := ctx.Deadline(); !ok || p.deadline.Sub(d) < time.Second-time.Millisecond {
		t.Errorf("control ports reserved %v before the deadline (set: %v), want %s", p.deadline.Sub(d), ok, tr.Timeout)
	}
}
