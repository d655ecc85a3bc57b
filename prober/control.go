package prober

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tcp-verdict/tcp_verdict_exporter/config"
	"github.com/tcp-verdict/tcp_verdict_exporter/conntrack"
	"github.com/tcp-verdict/tcp_verdict_exporter/limits"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// HostCheck is what the control ports (tcp.control_ports) told about the
// host behind a refused or silent connect (docs/host-evidence.md): whether
// it answers at all, and from how many hops it does, against how many hops
// the probed port's RST came from. Result.Host is nil when none was asked.
type HostCheck struct {
	// Tried: at least one control port was asked, so Up is evidence
	// (tcp_host_up). False when the check was skipped (Skipped says why).
	Tried bool
	// Up: the host answered a control port (SYN-ACK, RST, or ICMP from its
	// own address).
	Up bool
	// Ports is each control port's answer to a plain SYN (after a silent
	// connect), in tcp.control_ports order.
	Ports []ControlAnswer
	// ResetHops is the TTL at which the probed port's RST first came back,
	// HostHops the TTL at which the host first answered HostPort; 0 when not
	// measured. Only after a refused connect.
	ResetHops, HostHops int
	HostPort            uint16
	// ResetTrace and HostTrace are the TTL-limited SYNs behind the hop
	// counts, TTL 1 upwards, to the probed port and to HostPort: the
	// evidence, TTL by TTL.
	ResetTrace, HostTrace []Hop
	// Note says what the evidence shows, or why it cannot tell more.
	Note string
	// Skipped says why a check that was due did not run (the same reasons
	// as a path trace's); Err is the error behind it, for the log.
	Skipped TraceSkip
	Err     error

	took time.Duration // a silent connect's check, which runs beside the trace
}

// ControlAnswer is one control port's answer to a plain SYN.
type ControlAnswer struct {
	Port uint16
	// Reason is what came back in the taxonomy's words: syn-ack,
	// conn-refused, an ICMP reason; empty when nothing did.
	Reason verdict.Reason
	From   netip.Addr // who answered; invalid when nothing did
	// Host: the answer came from the host itself, so the host is up.
	Host bool
}

// Answered reports whether anything answered the control port's SYN.
func (a ControlAnswer) Answered() bool { return a.From.IsValid() }

// conntrackFull turns a silent verdict into this host's own error when its
// connection tracking table is full: the kernel then drops new SYNs before
// they leave, so the silence says nothing about the network.
func (p *probe) conntrackFull() bool {
	if p.conntrack == nil {
		return false
	}
	fill, err := p.conntrack.Read()
	if err != nil || !fill.Full() {
		return false // no table (or an unreadable one) drops nothing we can name
	}
	p.verdict(verdict.LocalError, netip.Addr{}, fmt.Errorf(
		"this host's conntrack table is full (nf_conntrack_count %d >= nf_conntrack_max %d): its kernel drops new connections' SYNs before they leave, so the silence says nothing about the network; raise net.netfilter.nf_conntrack_max or probe less often (docs/host-evidence.md)",
		fill.Count, fill.Max))
	p.logf("telnet: %v (a failure of this host, not of the network)", p.res.Err)
	return true
}

// controlWait is how long the control ports get: the path trace's timeout
// (tcp.trace.timeout, reserved out of the probe's deadline by
// connectContext), and never past the deadline.
func (p *probe) controlWait(tcp *config.TCPProbe) time.Duration {
	return min(tcp.Trace.Timeout, time.Until(p.deadline))
}

// controlPorts are the module's control ports but the probed one.
func controlPorts(tcp *config.TCPProbe, probed uint16) []uint16 {
	ports := make([]uint16, 0, len(tcp.ControlPorts))
	for _, port := range tcp.ControlPorts {
		if port != probed {
			ports = append(ports, port)
		}
	}
	return ports
}

// takeSockets reserves n sockets of the trace budget b (nil: no bound) for
// the host check; it reports false, and records why in h, when they do not
// fit. The caller gives them back with b.Give(n). A function of b, not a
// method of the probe: nothing here may make the probe escape to the heap
// (every probe in flight would pay for it; docs/performance.md, "A burst of probes in flight").
func takeSockets(b *limits.Budget, h *HostCheck, n int) bool {
	if b == nil || b.TryTake(n) {
		return true
	}
	h.Skipped, h.Err = TraceOverBudget, fmt.Errorf("host check skipped: its %d sockets would exceed the trace budget (%d of %d in use, --probe.trace-max-sockets)",
		n, b.InUse(), b.Max())
	return false
}

// skipReason names a failure of this host to open the check's sockets.
func skipReason(err error) TraceSkip {
	if e := errnoOf(err); e == syscall.EMFILE || e == syscall.ENFILE {
		return TraceNoDescriptors
	}
	return TraceLocalError
}

// checkReset runs after a refused connect when the module has control
// ports: TTL-limited SYNs to the probed port and to a control port, at
// once, tell from how many hops the RST comes and from how many the host
// answers (verdict.ClassifyReset). A control port whose trace does not
// reach the host is followed by the next, while time is left.
func (p *probe) checkReset(ctx context.Context, tcp *config.TCPProbe, addr netip.AddrPort) {
	ports := controlPorts(tcp, addr.Port())
	if len(ports) == 0 {
		return
	}
	h := &HostCheck{}
	p.res.Host = h
	hops := tcp.Trace.MaxHops
	if !takeSockets(p.budget, h, 2*hops) {
		p.logPath("(%v)", h.Err)
		return
	}
	if p.budget != nil {
		defer p.budget.Give(2 * hops)
	}
	start := time.Now()
	defer p.phase(PhaseControl, start)
	src := p.traceSource(tcp)
	for i, port := range ports {
		wait := p.controlWait(tcp)
		if wait <= 0 || ctx.Err() != nil {
			if i == 0 {
				h.Skipped, h.Err = TraceNoTime, errors.New("host check skipped: the probe's deadline left no time for it")
			}
			break
		}
		control := netip.AddrPortFrom(addr.Addr(), port)
		p.logPath("(tracing port %d and control port %d of %s at once: TCP SYN, TTL 1 to %d, %s wait)", addr.Port(), port, addr.Addr(), hops, RoundDuration(wait))
		var resetTrace, hostTrace []Hop
		var resetErr, hostErr error
		var wg sync.WaitGroup
		if h.ResetTrace == nil {
			wg.Go(func() { resetTrace, resetErr = traceRoute(ctx, src, addr, hops, wait, p.drains) })
		}
		hostTrace, hostErr = traceRoute(ctx, src, control, hops, wait, p.drains)
		wg.Wait()
		h.Tried = true
		if err := errors.Join(resetErr, hostErr); err != nil {
			h.Skipped, h.Err = skipReason(err), fmt.Errorf("host check could not run: %w", err)
			p.logPath("(%v)", h.Err)
			return
		}
		if resetTrace != nil {
			h.ResetTrace, h.ResetHops = resetTrace, firstReset(resetTrace)
		}
		h.HostTrace, h.HostPort, h.HostHops = hostTrace, port, firstReached(hostTrace)
		if h.HostHops > 0 {
			h.Up = true
			break
		}
	}
	if !h.Tried {
		return
	}
	p.logHopPairs(addr.Port())
	reason := verdict.ClassifyReset(h.ResetHops, h.HostHops)
	h.Note = resetNote(h, reason, addr)
	p.logPath("(%s)", h.Note)
	switch reason {
	case verdict.ForgedReset:
		var responder netip.Addr
		if h.ResetHops >= 2 {
			responder = h.ResetTrace[h.ResetHops-2].Addr // the last hop before the RST; invalid if it was silent
		}
		p.verdict(reason, responder, fmt.Errorf("connecting to %s: %w; the RST came from %d hops, the host answers from %d: forged on the path", addrText(addr), syscall.ECONNREFUSED, h.ResetHops, h.HostHops))
	}
}

// resetNote explains the hop counts in one sentence.
func resetNote(h *HostCheck, reason verdict.Reason, addr netip.AddrPort) string {
	switch {
	case reason == verdict.ForgedReset && h.ResetHops == 1:
		return fmt.Sprintf("the RST for port %d came back at TTL 1, the host answers port %d from TTL %d: this host's own firewall (its OUTPUT chain) or a device at the first hop that resets before it checks the TTL forged it", addr.Port(), h.HostPort, h.HostHops)
	case reason == verdict.ForgedReset:
		fw := "a hop that sent no time-exceeded"
		if a := h.ResetTrace[h.ResetHops-2].Addr; a.IsValid() {
			fw = a.String()
		}
		return fmt.Sprintf("the RST for port %d came back from TTL %d, the host answers port %d from TTL %d: hop %d (%s) forged it", addr.Port(), h.ResetHops, h.HostPort, h.HostHops, h.ResetHops-1, fw)
	case h.HostHops == 0:
		return fmt.Sprintf("no control port (%s) answered the TTL-limited SYNs: the host's distance is unknown, so nothing more can be told", portList(h))
	case h.ResetHops == 0:
		return fmt.Sprintf("no RST came back to the TTL-limited SYNs for port %d (the host answers port %d from TTL %d): nothing more can be told", addr.Port(), h.HostPort, h.HostHops)
	case h.ResetHops == h.HostHops && h.HostHops == 1:
		return fmt.Sprintf("the RST for port %d came back from TTL 1, as the host's answer on port %d does: no router lies between, and the host and its own firewall look the same, so nothing more can be told", addr.Port(), h.HostPort)
	case h.ResetHops == h.HostHops:
		last := ""
		if h.HostHops >= 2 {
			if a := h.HostTrace[h.HostHops-2].Addr; a.IsValid() {
				last = " (" + a.String() + ")"
			}
		}
		return fmt.Sprintf("the RST for port %d came back from TTL %d, as the host's answer on port %d does: the host, its own firewall and a firewall at its last router%s all look the same, so nothing more can be told", addr.Port(), h.ResetHops, h.HostPort, last)
	}
	return fmt.Sprintf("the RST for port %d came back from TTL %d, beyond the host's TTL %d on port %d: the routes differ, so nothing more can be told", addr.Port(), h.ResetHops, h.HostHops, h.HostPort)
}

func portList(h *HostCheck) string {
	if h.HostPort == 0 {
		return "none tried"
	}
	return fmt.Sprintf("last tried: %d", h.HostPort)
}

// firstReset is the TTL at which a trace first met an RST to its SYN; 0 when none.
func firstReset(hops []Hop) int {
	for _, h := range hops {
		if h.Reached && h.Reason == verdict.ConnRefused && h.ICMP == nil {
			return h.TTL
		}
	}
	return 0
}

// firstReached is the TTL at which the target first answered a trace; 0 when it did not.
func firstReached(hops []Hop) int {
	for _, h := range hops {
		if h.Reached {
			return h.TTL
		}
	}
	return 0
}

// logHopPairs writes the two traces side by side, TTL by TTL.
func (p *probe) logHopPairs(probed uint16) {
	h := p.res.Host
	if !p.trace || h == nil {
		return
	}
	for i := range max(len(h.ResetTrace), len(h.HostTrace)) {
		p.logPath("%2d  port %d: %s  control port %d: %s", i+1, probed, hopText(h.ResetTrace, i), h.HostPort, hopText(h.HostTrace, i))
	}
}

// hopText is one TTL of a trace for the transcript: "-" past its end.
func hopText(hops []Hop, i int) string {
	if i >= len(hops) {
		return "-"
	}
	return HopAnswer(hops[i])
}

// HopAnswer is one TTL of a host check's trace with the address that
// answered, e.g. "10.0.0.1 time-exceeded (icmp 11/0)"; "*" when nothing
// did. An RST carries the target's address whoever sent it, so it reads
// "RST as from <target>", not as the target's answer.
func HopAnswer(h Hop) string {
	switch {
	case !h.Answered():
		return "*"
	case h.Reason == verdict.ConnRefused && h.ICMP == nil:
		return "RST as from " + h.Addr.String()
	}
	return h.Addr.String() + " " + h.Answer()
}

// checkSilent runs after a silent connect when the module has control
// ports: one plain SYN to each, at once, waiting at most wait. Any answer
// from the host means it is up and the port is filtered; none means it is
// down or dark (verdict.ClassifySilent). It takes what it needs as values
// and returns the check for the caller to apply (applySilent), so that it
// can run beside the path trace without sharing the probe.
func checkSilent(ctx context.Context, b *limits.Budget, drains *limits.Drains, wait time.Duration, src netip.Addr, addr netip.AddrPort, ports []uint16) *HostCheck {
	h := &HostCheck{}
	if !takeSockets(b, h, len(ports)) {
		return h
	}
	if b != nil {
		defer b.Give(len(ports))
	}
	if wait <= 0 || ctx.Err() != nil {
		h.Skipped, h.Err = TraceNoTime, errors.New("host check skipped: the probe's deadline left no time for it")
		return h
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	h.Ports = make([]ControlAnswer, len(ports))
	var wg sync.WaitGroup
	var failed error
	var mu sync.Mutex
	for i, port := range ports {
		wg.Go(func() {
			a, err := askControl(ctx, src, netip.AddrPortFrom(addr.Addr(), port), drains)
			if err != nil {
				mu.Lock()
				failed = errors.Join(failed, err)
				mu.Unlock()
			}
			h.Ports[i] = a
			if a.Host {
				cancel() // one answer from the host is enough
			}
		})
	}
	wg.Wait()
	for _, a := range h.Ports {
		h.Up = h.Up || a.Host
	}
	h.Tried = true
	if !h.Up && failed != nil {
		h.Tried, h.Skipped, h.Err = false, skipReason(failed), fmt.Errorf("host check could not run: %w", failed)
	}
	return h
}

// askControl sends one SYN to a control port and reads what comes back
// before ctx ends. A connection that completes is ended politely. err is
// a failure of this host (no socket), never an answer.
func askControl(ctx context.Context, src netip.Addr, dst netip.AddrPort, drains *limits.Drains) (ControlAnswer, error) {
	a := ControlAnswer{Port: dst.Port()}
	var info dialInfo
	conn, ev, err := dialTCP(ctx, src, dst, 0, &info)
	if err == nil {
		closePolitely(conn, drains)
		a.Reason, a.From, a.Host = verdict.SynAck, dst.Addr(), true
		return a, nil
	}
	if errors.Is(err, errSelfConnect) {
		a.Reason, a.From, a.Host = verdict.ConnRefused, dst.Addr(), true // nothing listens: the host answered
		return a, nil
	}
	if ev.Syscall != "connect" {
		return a, err
	}
	if ev.ICMP != nil {
		if r, ok := verdict.FromICMP(*ev.ICMP); ok {
			a.Reason = r
		}
		a.From = ev.ICMP.Offender
		a.Host = ev.ICMP.Offender == dst.Addr()
		return a, nil
	}
	switch ev.Errno {
	case syscall.ECONNREFUSED:
		a.Reason, a.From, a.Host = verdict.ConnRefused, dst.Addr(), true
	case syscall.ECONNRESET, syscall.EPIPE:
		a.Reason, a.From, a.Host = verdict.SynAck, dst.Addr(), true
	}
	return a, nil
}

// applySilent gives the verdict of a silent connect after its host check.
func (p *probe) applySilent(h *HostCheck, addr netip.AddrPort) {
	p.res.Host = h
	if h.Err != nil {
		p.logPath("(%v)", h.Err)
	}
	if !h.Tried {
		return
	}
	for _, a := range h.Ports {
		what := "no answer"
		if a.Answered() {
			what = string(a.Reason) + " from " + a.From.String()
			if !a.Host {
				what += " (not the host)"
			}
		}
		p.logPath("(control port %d: %s)", a.Port, what)
	}
	reason := verdict.ClassifySilent(h.Up)
	if h.Up {
		h.Note = fmt.Sprintf("the host answers on control port %s, so it is up: port %d alone is dropped", answeredPorts(h), addr.Port())
	} else {
		h.Note = fmt.Sprintf("no control port (%s) answered either: the host is down, or every packet to it is dropped", portsText(h))
	}
	p.logPath("(%s)", h.Note)
	if reason != p.res.Reason {
		p.verdict(reason, netip.Addr{}, fmt.Errorf("%w; no control port (%s) answered either", p.res.Err, portsText(h)))
	}
}

func answeredPorts(h *HostCheck) string {
	var s []string
	for _, a := range h.Ports {
		if a.Host {
			s = append(s, fmt.Sprintf("%d (%s)", a.Port, a.Reason))
		}
	}
	return strings.Join(s, ", ")
}

func portsText(h *HostCheck) string {
	s := make([]string, len(h.Ports))
	for i, a := range h.Ports {
		s[i] = fmt.Sprint(a.Port)
	}
	return strings.Join(s, ", ")
}

// traceSource is the address the check's sockets bind to: the probe's own
// when the module sets source_ip_address (the connect checked its family).
func (p *probe) traceSource(tcp *config.TCPProbe) netip.Addr {
	if tcp.SourceIPAddress != "" {
		return p.res.Source
	}
	return netip.Addr{}
}

// Conntrack is the table a probe consults before it calls a silence the
// network's; *conntrack.Table reads the real one.
type Conntrack interface {
	Read() (conntrack.Fill, error)
}

// explainFailure gathers the evidence a failed connect calls for: the host
// check when the module has control ports, and the path trace. After a
// refused connect the check's own traces are the path's evidence, so no
// path trace follows; after a silent one both run at once, within the time
// connectContext reserved.
func (p *probe) explainFailure(ctx context.Context, tcp *config.TCPProbe, addr netip.AddrPort) {
	switch {
	case len(tcp.ControlPorts) == 0:
	case p.res.Reason == verdict.ConnRefused:
		p.checkReset(ctx, tcp, addr)
		return
	case p.res.Reason == verdict.NoResponse:
		ports := controlPorts(tcp, addr.Port())
		if len(ports) == 0 {
			break
		}
		// The goroutine gets values, never p: a closure that captured p
		// would move every probe to the heap.
		b, drains, wait, src := p.budget, p.drains, p.controlWait(tcp), p.traceSource(tcp)
		done := make(chan *HostCheck, 1)
		go func() {
			start := time.Now()
			h := checkSilent(ctx, b, drains, wait, src, addr, ports)
			h.took = time.Since(start)
			done <- h
		}()
		p.tracePath(ctx, tcp, addr)
		h := <-done
		if h.Tried {
			p.res.Phases = append(p.res.Phases, PhaseDuration{PhaseControl, h.took})
		}
		p.applySilent(h, addr)
		return
	}
	p.tracePath(ctx, tcp, addr)
}
