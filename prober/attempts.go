package prober

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/tcp-verdict/tcp_verdict_exporter/config"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// AttemptResult is the verdict of one connection attempt, when the module
// makes several (tcp.attempts > 1; docs/intermittent.md).
type AttemptResult struct {
	// Source is our own address and port: the port puts the attempt in its
	// own bucket of a per-flow hash. Invalid when nothing was dialled (the
	// name did not resolve).
	Source    netip.AddrPort
	Class     verdict.Class
	Reason    verdict.Reason
	Responder netip.Addr // as Result.Responder
	Success   bool       // connected and every expectation met
	// SynRetransmits as Result's, for this attempt's handshake.
	SynRetransmits int
	Connect        time.Duration // the connect phase
	Duration       time.Duration
	Err            error // the underlying error; nil when connected
}

// Summary is a one-line description of the attempt's verdict, as
// Result.Summary.
func (a *AttemptResult) Summary() string {
	return summary(a.Class, a.Reason, a.Responder, a.Duration)
}

// AttemptCounts counts the attempts of each class, in the taxonomy's class
// order (verdict.Classes). A probe that makes one attempt counts its
// verdict once; a probe with no verdict (the target policy refused it)
// counts nothing.
func (r *Result) AttemptCounts() []int {
	n := make([]int, len(verdict.Classes))
	if len(r.Attempts) == 0 {
		if i := r.Class.Index(); i >= 0 {
			n[i] = 1
		}
		return n
	}
	for i := range r.Attempts {
		if c := r.Attempts[i].Class.Index(); c >= 0 {
			n[c]++
		}
	}
	return n
}

// Intermittent reports whether the attempts of the probe ended in more
// than one class: some connect and some fail, or they fail differently
// (docs/intermittent.md). A probe of one attempt never is.
func (r *Result) Intermittent() bool {
	classes := 0
	for _, n := range r.AttemptCounts() {
		if n > 0 {
			classes++
		}
	}
	return classes > 1
}

// dialAttempts makes tcp.attempts connections to addr at once, each on a
// socket of its own, so from its own source port, and each as dial does
// (connect, then the session). The verdict is the attempts' when they agree;
// when they do not, the failure's that most attempts met (classes in
// taxonomy order break a tie), so that probe_success is 0 and the verdict
// names what breaks (docs/intermittent.md, "The verdict of a mixed probe").
// With an expected verdict, what breaks is an attempt the expectation does
// not hold for: a probe expected blocked whose attempts partly connect is a
// breach, not a firewall verdict. The path trace runs once, for a failing
// chosen attempt, from its own address and port (traceFlow).
func (p *probe) dialAttempts(ctx context.Context, tcp *config.TCPProbe, ip netip.Addr, expect verdict.Expectation) {
	subs := make([]*probe, tcp.Attempts)
	var wg sync.WaitGroup
	for i := range subs {
		s := p.subProbe()
		s.attempt = i + 1
		s.res.Phases = make([]PhaseDuration, 0, 4)
		subs[i] = s
		wg.Go(func() { s.dialTimed(ctx, tcp, ip) })
	}
	wg.Wait()

	chosen := subs[pickAttempt(subs, expect)]
	phases := append(p.res.Phases, chosen.res.Phases...)
	transcript := p.res.Transcript
	res := chosen.res
	res.Phases, res.Transcript, res.Duration, res.SynRetransmits = phases, transcript, 0, 0
	res.Attempts = make([]AttemptResult, len(subs))
	for i, s := range subs {
		r := &s.res
		connect, _ := r.PhaseDuration(PhaseConnect)
		src := s.flow
		if !src.IsValid() && r.Source.IsValid() {
			src = netip.AddrPortFrom(r.Source, 0)
		}
		res.Attempts[i] = AttemptResult{Source: src, Class: r.Class, Reason: r.Reason, Responder: r.Responder,
			Success: r.Class == verdict.Connected && r.Failure == "", SynRetransmits: r.SynRetransmits,
			Connect: connect, Duration: r.Duration, Err: r.Err}
		res.SynRetransmits += r.SynRetransmits
		if p.trace {
			res.Transcript = append(res.Transcript, Line{At: time.Since(p.start),
				Text: fmt.Sprintf("(attempt %d of %d, from %s: %s)", i+1, len(subs), flowText(src), res.Attempts[i].Summary())})
			res.Transcript = append(res.Transcript, r.Transcript...)
		}
	}
	p.res = res
	if p.res.Class != verdict.Connected {
		p.flow = chosen.flow
		p.tracePath(ctx, tcp, res.Addr)
	}
}

// pickAttempt chooses the attempt whose verdict the probe reports. With an
// expected verdict that some attempts break, it is the first of the class
// most of those met (ties go to the class first in the taxonomy), so the
// probe's verdict breaks the expectation as they did
// (docs/expectations.md, "Attempts that disagree"). Otherwise it is the
// first of the failing class most attempts met (ties as above), else the
// first connected attempt that failed an expectation, else the first
// attempt.
func pickAttempt(subs []*probe, expect verdict.Expectation) int {
	if expect.IsSet() {
		breaks := func(c verdict.Class) bool { return !expect.Holds(c) }
		if i := mostMet(subs, breaks); i >= 0 {
			return i
		}
	}
	if i := mostMet(subs, func(c verdict.Class) bool { return c != verdict.Connected }); i >= 0 {
		return i
	}
	for i, s := range subs {
		if s.res.Class == verdict.Connected && s.res.Failure != "" {
			return i
		}
	}
	return 0
}

// mostMet is the first attempt of the class, among those counted, that
// most attempts met (ties go to the class first in the taxonomy); -1 when
// no attempt's class is counted.
func mostMet(subs []*probe, counted func(verdict.Class) bool) int {
	count := make([]int, len(verdict.Classes))
	first := make([]int, len(verdict.Classes))
	for i, s := range subs {
		c := s.res.Class.Index()
		if c < 0 || !counted(s.res.Class) {
			continue
		}
		if count[c] == 0 {
			first[c] = i
		}
		count[c]++
	}
	best := -1
	for c := range count {
		if count[c] > 0 && (best < 0 || count[c] > count[best]) {
			best = c
		}
	}
	if best < 0 {
		return -1
	}
	return first[best]
}

// fillAttempts gives a probe of several attempts that never dialled (the
// name did not resolve) its count: every attempt met the one verdict.
func (p *probe) fillAttempts(n int) {
	if n <= 1 || p.res.Attempts != nil || p.res.Class == "" {
		return
	}
	p.res.Attempts = make([]AttemptResult, n)
	for i := range p.res.Attempts {
		p.res.Attempts[i] = AttemptResult{Class: p.res.Class, Reason: p.res.Reason, Responder: p.res.Responder, Err: p.res.Err}
	}
}

// flowText writes our end of a flow as the transcript does: "10.0.0.1
// port 40000", or the address alone when the port is unknown.
func flowText(a netip.AddrPort) string {
	switch {
	case !a.IsValid():
		return "this host"
	case a.Port() == 0:
		return a.Addr().String()
	}
	return addrText(a)
}
