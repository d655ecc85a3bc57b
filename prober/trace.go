package prober

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"syscall"
	"time"

	"github.com/tcp-verdict/tcp_verdict_exporter/config"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// Hop is one TTL of a path trace: who answered the SYN sent with that TTL.
type Hop struct {
	TTL int
	// Addr is who answered: the router that sent the ICMP, or the target.
	// Invalid when nothing answered before the trace's timeout.
	Addr netip.Addr
	// RTT runs from sending the SYN to reading the answer; 0 when nothing
	// answered.
	RTT time.Duration
	// Reason is what the hop said, in the taxonomy's words: time-exceeded
	// from a router on the way; syn-ack or conn-refused from the target; the
	// unreachable or prohibited reason of a hop that stops the SYN. Empty
	// when nothing answered, or for an ICMP message that explains nothing.
	Reason verdict.Reason
	ICMP   *verdict.ICMP // the answer, when it was an ICMP message
	// Reached is true when the target itself answered: SYN-ACK, RST, or an
	// ICMP message from the target's own address.
	Reached bool
}

// Answered reports whether anything answered this hop's SYN.
func (h Hop) Answered() bool { return h.Addr.IsValid() }

// Final reports whether the hop ends the path: the target answered, or a
// hop stopped the SYN with an unreachable or prohibited message. Every
// higher TTL meets the same answer, so a trace lists no hop beyond it.
func (h Hop) Final() bool {
	return h.Reached || h.Reason != "" && h.Reason != verdict.TimeExceeded
}

// Answer says what the hop said, e.g. "time-exceeded (icmp 11/0)",
// "admin-prohibited (icmp6 1/1)", "syn-ack (the target)" or "no answer".
func (h Hop) Answer() string {
	if !h.Answered() {
		return "no answer"
	}
	what := string(h.Reason)
	if what == "" {
		what = "icmp"
	}
	var detail []string
	if h.ICMP != nil {
		detail = append(detail, fmt.Sprintf("%s %d/%d", h.ICMP.Protocol(), h.ICMP.Type, h.ICMP.Code))
	}
	if h.Reached {
		detail = append(detail, "the target")
	}
	if h.ICMP != nil && h.ICMP.Local {
		detail = append(detail, "this host")
	}
	if len(detail) == 0 {
		return what
	}
	return what + " (" + strings.Join(detail, ", ") + ")"
}

// TraceSkip is why a path trace that was due could not run: a bounded set,
// a metric's label values.
type TraceSkip string

// The reasons a due trace did not run.
const (
	TraceNoDescriptors TraceSkip = "descriptors" // EMFILE or ENFILE: no sockets for the TTLs
	TraceLocalError    TraceSkip = "local-error" // any other failure of this host
	TraceNoTime        TraceSkip = "no-time"     // the probe's deadline left no time for it
	TraceOverBudget    TraceSkip = "over-budget" // other traces held the sockets of Options.TraceBudget
)

// TraceSkips lists every TraceSkip, for documentation and tests.
var TraceSkips = []TraceSkip{TraceNoDescriptors, TraceLocalError, TraceNoTime, TraceOverBudget}

// skipTrace records that a due trace could not run, and why.
func (p *probe) skipTrace(why TraceSkip, err error) {
	p.res.TraceSkipped, p.res.TraceErr = why, err
	p.logPath("traceroute: %v", err)
}

// traceWorthy reports whether a failed connect's verdict calls for a path
// trace: a network verdict (firewall or unreachable) whose evidence is not
// this host's own. A reject in our own OUTPUT chain or a missing route of
// our own is located already; tracing it would only wait.
func traceWorthy(r verdict.Reason) bool {
	switch r.Class() {
	case verdict.Firewall, verdict.Unreachable:
		return r != verdict.LocalProhibited && r != verdict.NoRoute
	}
	return false
}

// connectContext reserves the path trace's time out of the probe's
// deadline: the connect must fail early enough for the trace to finish
// before the scrape gives up. When the probe's budget is shorter than twice
// the trace's timeout, each gets half. The host check of control ports
// (tcp.control_ports) runs in the same reserve, beside the trace.
func (p *probe) connectContext(ctx context.Context, tcp *config.TCPProbe) (context.Context, context.CancelFunc) {
	tr := tcp.Trace
	if !tr.Enabled && len(tcp.ControlPorts) == 0 || p.deadline.IsZero() {
		return ctx, func() {}
	}
	reserve := min(tr.Timeout, time.Until(p.deadline)/2)
	if reserve <= 0 {
		return ctx, func() {}
	}
	return context.WithDeadline(ctx, p.deadline.Add(-reserve))
}

// tracePath runs the path trace after a failed connect, when the module asks
// for one and the verdict is a network one. It never changes the verdict.
func (p *probe) tracePath(ctx context.Context, tcp *config.TCPProbe, addr netip.AddrPort) {
	tr := tcp.Trace
	if !tr.Enabled || !traceWorthy(p.res.Reason) {
		return
	}
	wait := min(tr.Timeout, time.Until(p.deadline))
	if wait <= 0 || ctx.Err() != nil {
		p.skipTrace(TraceNoTime, errors.New("path trace skipped: the probe's deadline left no time for it"))
		return
	}
	// A trace of one flow (several attempts: traceFlow) holds one socket at
	// a time; the others one per TTL at once.
	flow := p.flow.IsValid() && p.flow.Port() != 0
	sockets := tr.MaxHops
	if flow {
		sockets = 1
	}
	if p.budget != nil {
		if !p.budget.TryTake(sockets) {
			p.skipTrace(TraceOverBudget, fmt.Errorf("path trace skipped: its %d sockets would exceed the trace budget (%d of %d in use, --probe.trace-max-sockets)",
				sockets, p.budget.InUse(), p.budget.Max()))
			return
		}
		defer p.budget.Give(sockets)
	}
	start := time.Now()
	defer p.phase(PhaseTrace, start)
	var src netip.Addr
	if tcp.SourceIPAddress != "" {
		src = p.res.Source // the connect checked its family
	}
	shown := wait.Round(10 * time.Millisecond) // the connect took a little of it
	if wait < 10*time.Millisecond {
		shown = RoundDuration(wait)
	}
	var hops []Hop
	var err error
	if flow {
		p.logPath("traceroute to %s port %d (TCP SYN) from %s, the failed attempt's flow, %d hops max, %s wait", addr.Addr(), addr.Port(), flowText(p.flow), tr.MaxHops, shown)
		hops, err = traceFlow(ctx, p.flow, addr, tr.MaxHops, wait)
	} else {
		p.logPath("traceroute to %s port %d (TCP SYN), %d hops max, %s wait", addr.Addr(), addr.Port(), tr.MaxHops, shown)
		hops, err = traceRoute(ctx, src, addr, tr.MaxHops, wait, p.drains)
	}
	if err != nil {
		why := TraceLocalError
		if e := errnoOf(err); e == syscall.EMFILE || e == syscall.ENFILE {
			why = TraceNoDescriptors
		}
		p.skipTrace(why, fmt.Errorf("path trace could not run: %w", err))
		return
	}
	p.res.Hops = hops
	p.logHops()
}

// logPath adds a line of the traceroute-like block to the transcript.
func (p *probe) logPath(format string, args ...any) {
	if p.trace {
		p.res.Transcript = append(p.res.Transcript, Line{At: time.Since(p.start), Text: fmt.Sprintf(format, args...), Path: true})
	}
}

// logHops writes the hops as traceroute does, one line per TTL, except that
// a run of silent TTLs takes one line ("2-16  *").
func (p *probe) logHops() {
	if !p.trace {
		return
	}
	for _, run := range p.res.HopRuns() {
		h := run[0]
		if !h.Answered() {
			if len(run) > 1 {
				p.logPath("%2d-%d  *", h.TTL, run[len(run)-1].TTL)
			} else {
				p.logPath("%2d  *", h.TTL)
			}
			continue
		}
		line := fmt.Sprintf("%2d  %s  %.3f ms", h.TTL, h.Addr, float64(h.RTT.Microseconds())/1000)
		if h.Reason != verdict.TimeExceeded {
			line += "  " + h.Answer()
		}
		p.logPath("%s", line)
	}
}

// endTrace cuts a trace's hops after the first that ends the path; with
// none, every TTL stays, answered or not.
func endTrace(hops []Hop) []Hop {
	for i, h := range hops {
		if h.Final() {
			return hops[:i+1]
		}
	}
	return hops
}

// traceComplete reports whether waiting longer cannot change the trace: a
// hop ends the path and every TTL below it is done.
func traceComplete(hops []Hop, done []bool) bool {
	for i, h := range hops {
		if !done[i] {
			return false
		}
		if h.Final() {
			return true
		}
	}
	return false
}
