package prober

import (
	"crypto/tls"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/tcp-verdict/tcp_verdict_exporter/policy"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// Phase names a timed step of a probe.
type Phase string

// The phases, in the order a probe runs them.
const (
	PhaseResolve Phase = "resolve"
	PhaseConnect Phase = "connect"
	PhaseTLS     Phase = "tls"
	PhaseQuery   Phase = "query"
	PhaseHold    Phase = "hold"
	PhaseTrace   Phase = "trace" // the path trace after a failed connect (tcp.trace)
	// PhaseControl is the host check after a refused or silent connect
	// (tcp.control_ports); beside the path trace after a silent one.
	PhaseControl Phase = "control"
)

// PhaseDuration is how long one phase took.
type PhaseDuration struct {
	Phase    Phase
	Duration time.Duration
}

// Result is everything a probe found out. Metrics, logs, debug output and
// the check command all read from it.
type Result struct {
	Target     Target
	Class      verdict.Class
	Reason     verdict.Reason
	Responder  netip.Addr     // who produced the evidence; invalid when nobody answered
	Addr       netip.AddrPort // the address dialled; invalid when resolution failed
	Source     netip.Addr     // our own address, when known
	IPProtocol int            // 4 or 6; 0 when resolution failed
	ICMP       *verdict.ICMP  // the ICMP error behind the verdict, if any
	Err        error          // the underlying error, for logs; nil when connected

	// Refusal is set when the target policy refused an address the probe
	// would have dialled: then nothing was dialled, and Class and Reason
	// are empty, for a refusal is no verdict on the network.
	Refusal *policy.Refusal

	// Phases always holds resolve, connect and hold, plus tls and query
	// when the module uses them, and trace when a path trace ran.
	Phases   []PhaseDuration
	Duration time.Duration

	Banner    string // first line the peer sent, bounded and sanitised
	BannerCut bool   // the line was longer than Banner shows
	// Success is probe_success: connected and every expectation of the
	// session met; with an expected verdict (Expectation), the verdict is
	// one of the expected classes and, when that class is connected, the
	// session met its expectations too (docs/expectations.md, "What
	// probe_success means").
	Success bool
	// Expectation is the module's expected verdict (its expect key or the
	// probe's expect parameter); zero when none. Expected says the class
	// is one of it.
	Expectation      verdict.Expectation
	Expected         bool
	FailedDueToRegex bool // a query_response expectation was not met
	ExpectLabels     []ExpectLabel
	Failure          string // why Success is false although the class is connected: the real error
	// Cause names the step of the session that failed (TLS handshake,
	// query_response, hold), bounded for metrics; empty when none failed.
	Cause verdict.Cause
	// TLS is the state of the last TLS handshake that succeeded (tls, or a
	// query_response starttls); nil when none did.
	TLS *tls.ConnectionState

	// Hops is the path trace, TTL 1 upwards, up to the hop that ended it
	// (the target, or a hop that rejects) or the module's max_hops. It is
	// nil when no trace ran (tcp.trace off, or the verdict not a network
	// one); a trace that ran holds at least TTL 1. Extra evidence: the
	// verdict never depends on it.
	Hops []Hop
	// TraceSkipped says why a path trace that was due (tcp.trace, a network
	// verdict) did not run; empty when it ran or was not due. TraceErr is
	// the error behind it, for the log.
	TraceSkipped TraceSkip
	TraceErr     error

	// Host is what the control ports (tcp.control_ports) told about the
	// host after a refused or silent connect; nil when none was asked.
	Host *HostCheck

	// Addresses holds each dialled address's verdict, in the order dialled
	// (preferred family first), when the module dials every address of a
	// name (tcp.addresses "all"); nil otherwise. The verdict above is the
	// first that connected, else the first address's.
	Addresses []AddressResult

	// Attempts holds each connection attempt's verdict, in the order
	// started, when the module makes several (tcp.attempts > 1); nil
	// otherwise. The verdict above is then the attempt's that AttemptCounts
	// and docs/intermittent.md say.
	Attempts []AttemptResult
	// SynRetransmits counts the SYNs the kernel sent again before a
	// handshake completed, over every attempt that completed one: a SYN or
	// its SYN-ACK was lost (docs/intermittent.md, "Lost SYNs").
	SynRetransmits int

	Transcript []Line // telnet-style log; only when Options.Trace
}

// ExpectLabel is a label filled from a query_response match.
type ExpectLabel struct{ Name, Value string }

// Line is one transcript entry.
type Line struct {
	At   time.Duration // since the probe started
	Text string
	Path bool // part of the path trace's traceroute-like block
}

// PhaseDuration returns a phase's duration and whether it ran.
func (r *Result) PhaseDuration(p Phase) (time.Duration, bool) {
	for _, pd := range r.Phases {
		if pd.Phase == p {
			return pd.Duration, true
		}
	}
	return 0, false
}

// LastHop returns the hop with the highest TTL that answered the path
// trace; ok is false when no trace ran or nothing answered.
func (r *Result) LastHop() (h Hop, ok bool) {
	for i := len(r.Hops) - 1; i >= 0; i-- {
		if r.Hops[i].Answered() {
			return r.Hops[i], true
		}
	}
	return Hop{}, false
}

// HopsAnswered counts the hops of the path trace that answered.
func (r *Result) HopsAnswered() int {
	n := 0
	for _, h := range r.Hops {
		if h.Answered() {
			n++
		}
	}
	return n
}

// Summary is a one-line description of the verdict, e.g.
// "closed_by_peer (fin from 192.0.2.10 after 3ms)"; for a probe the
// target policy refused, that refusal.
func (r *Result) Summary() string {
	if r.Refusal != nil {
		return "no verdict: " + r.Refusal.Error()
	}
	return summary(r.Class, r.Reason, r.Responder, r.Duration)
}

// Summary is a one-line description of the address's verdict, as
// Result.Summary.
func (a *AddressResult) Summary() string { return summary(a.Class, a.Reason, a.Responder, a.Duration) }

func summary(c verdict.Class, reason verdict.Reason, responder netip.Addr, d time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s", c, reason)
	if responder.IsValid() {
		fmt.Fprintf(&b, " from %s", responder)
	}
	fmt.Fprintf(&b, " after %s)", RoundDuration(d))
	return b.String()
}

// TranscriptText renders the transcript, one line each.
func (r *Result) TranscriptText() string {
	var b strings.Builder
	for _, l := range r.Transcript {
		fmt.Fprintf(&b, "%s\n", l.Text)
	}
	return b.String()
}

// RoundDuration is the one rounding of a duration shown to people: the
// transcript, the verdict line, the phases, the hop RTTs and the check
// command's table. It keeps three significant digits, and no finer than a
// microsecond: 87µs, 1.1ms, 4.61ms, 500ms, 1.23s. It lives here, not in
// report, because the transcript is written while the probe runs and
// prober does not import report (data flows prober -> report).
func RoundDuration(d time.Duration) time.Duration {
	unit := time.Duration(1)
	for d/unit >= 1000 {
		unit *= 10
	}
	return d.Round(max(unit, time.Microsecond))
}

// HopRuns groups the path trace as people read it: each hop that answered
// alone, each run of consecutive silent TTLs together ("2-16  *"). The
// runs are sub-slices of r.Hops, in TTL order; nil when no trace ran.
func (r *Result) HopRuns() [][]Hop {
	var runs [][]Hop
	hops := r.Hops
	for i := 0; i < len(hops); i++ {
		j := i
		if !hops[i].Answered() {
			for j+1 < len(hops) && !hops[j+1].Answered() {
				j++
			}
		}
		runs = append(runs, hops[i:j+1])
		i = j
	}
	return runs
}
