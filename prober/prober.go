// Package prober dials a TCP target, watches what happens and classifies the
// outcome from the kernel's evidence (errno, the ICMP error queue, how the
// session ends). It knows nothing of Prometheus: it returns a Result.
package prober

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/tcp-verdict/tcp_verdict_exporter/config"
	"github.com/tcp-verdict/tcp_verdict_exporter/limits"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// Options tune one probe.
type Options struct {
	// Trace asks for a telnet-style transcript in Result.Transcript. It costs
	// allocations, so only debug output and the check command ask for it.
	Trace bool
	// Resolver resolves names; nil means net.DefaultResolver.
	Resolver *net.Resolver
	// TraceBudget bounds the sockets path traces hold across concurrent
	// probes; nil means no bound (the check command).
	TraceBudget *limits.Budget
	// Drains bounds the sessions that drain in the background after their
	// probe (closePolitely) and lets a command wait for them; nil lets
	// none drain: each closes at once, after dropping what had arrived.
	Drains *limits.Drains
	// Conntrack is this host's connection tracking table: a silent connect
	// while it is full is this host's error, not the network's. nil: not
	// consulted.
	Conntrack Conntrack
}

// probe carries one probe's state between its phases.
type probe struct {
	res      Result
	start    time.Time
	deadline time.Time
	trace    bool
	// sub marks the probe of one address among several (tcp.addresses
	// "all"): its transcript speaks as telnet does when it walks a list,
	// and unable keeps its failure's words for the list's last line.
	sub    bool
	unable string
	// attempt numbers the probe of one attempt among several (tcp.attempts,
	// from 1); 0 for a probe that makes one. flow is the attempt's own
	// address and port, once its SYN was sent (attempts.go).
	attempt int
	flow    netip.AddrPort
	budget  *limits.Budget
	drains  *limits.Drains
	// conntrack is Options.Conntrack.
	conntrack Conntrack
	// shown and notShown count the peer's bytes the transcript shows and
	// leaves out (logReceived).
	shown, notShown int
}

func (p *probe) logf(format string, args ...any) {
	if p.trace {
		p.res.Transcript = append(p.res.Transcript, Line{At: time.Since(p.start), Text: fmt.Sprintf(format, args...)})
	}
}

func (p *probe) phase(name Phase, since time.Time) {
	p.res.Phases = append(p.res.Phases, PhaseDuration{name, time.Since(since)})
}

func (p *probe) verdict(r verdict.Reason, responder netip.Addr, err error) {
	p.res.Class, p.res.Reason, p.res.Responder, p.res.Err = r.Class(), r, responder, err
}

// Probe runs one probe of target with module m. It never panics on input
// and always returns a classified Result; the context's deadline (or the
// module's timeout) bounds the whole probe.
func Probe(ctx context.Context, target Target, m config.Module, opts Options) Result {
	var res Result
	ProbeTo(ctx, target, &m, opts, &res)
	return res
}

// ProbeTo is Probe writing its Result to res. Everything goes by pointer:
// a probe parks in the poller for up to its timeout with this call chain on
// its goroutine's stack, and a stack beyond 8 KB doubles to 16 KB for every
// probe in flight (docs/performance.md, "A burst of probes in flight").
func ProbeTo(ctx context.Context, target Target, m *config.Module, opts Options, res *Result) {
	p := &probe{start: time.Now(), trace: opts.Trace, budget: opts.TraceBudget, drains: opts.Drains, conntrack: opts.Conntrack}
	p.res.Target = target
	p.res.Phases = make([]PhaseDuration, 0, 5)
	timeout := m.ProbeTimeout()
	if d, ok := ctx.Deadline(); !ok || time.Until(d) > timeout {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	p.deadline, _ = ctx.Deadline()

	p.run(ctx, m, opts.Resolver)
	p.fillAttempts(m.TCP.Attempts)
	if _, ok := p.res.PhaseDuration(PhaseHold); !ok { // resolve, connect and hold are always reported
		p.fillPhases()
	}
	p.res.Duration = time.Since(p.start)
	p.res.Success = p.res.Class == verdict.Connected && p.res.Failure == ""
	p.res.judge(m.Expectation)
	*res = p.res
}

// judge holds the verdict against the expected one, when there is one:
// probe_success then says the intent held, so that blackbox-style SLO
// queries count a path blocked as intended as a success
// (docs/expectations.md, "What probe_success means"). A connected session
// that was expected must still meet the session's own expectations
// (query_response, TLS); a refused policy check is no verdict to judge.
func (r *Result) judge(e verdict.Expectation) {
	r.Expectation = e
	if !e.IsSet() || r.Refusal != nil {
		return
	}
	r.Expected = e.Holds(r.Class)
	r.Success = r.Expected && (r.Class != verdict.Connected || r.Failure == "")
}

// fillPhases adds zero durations for the phases a failed probe never reached.
func (p *probe) fillPhases() {
	for _, name := range []Phase{PhaseResolve, PhaseConnect, PhaseHold} {
		if _, ok := p.res.PhaseDuration(name); !ok {
			p.res.Phases = append(p.res.Phases, PhaseDuration{Phase: name})
		}
	}
}

func (p *probe) run(ctx context.Context, m *config.Module, resolver *net.Resolver) {
	tcp := &m.TCP
	// The list of addresses to dial exists here, before any dial: the one
	// place a check of every address (the target policy) belongs.
	ips, ok := p.resolve(ctx, tcp, resolver)
	if !ok {
		return
	}
	if !p.admit(m.Policy, ips) {
		return
	}
	if tcp.Addresses == config.AddressesAll {
		p.dialAll(ctx, tcp, ips)
		return
	}
	if tcp.Attempts > 1 {
		p.dialAttempts(ctx, tcp, ips[0], m.Expectation)
		return
	}
	p.dial(ctx, tcp, ips[0])
}

// dial probes one address: connect, then the session, or the path trace
// after a failed connect.
func (p *probe) dial(ctx context.Context, tcp *config.TCPProbe, ip netip.Addr) {
	addr := netip.AddrPortFrom(ip, p.res.Target.Port)
	p.res.Addr = addr
	p.res.IPProtocol = 4
	if ip.Is6() {
		p.res.IPProtocol = 6
	}
	connectCtx, cancel := p.connectContext(ctx, tcp)
	conn, ok := p.connect(connectCtx, tcp, addr)
	cancel()
	if !ok {
		if !p.sub && p.attempt == 0 { // dialAll and dialAttempts explain the verdict's own only
			p.explainFailure(ctx, tcp, addr)
		}
		return
	}
	defer p.endSession(conn, tcp)
	p.session(conn, tcp)
}

// endSession closes a session after its probe: at once when the peer has
// ended it already, so that a plain close() is as polite as closePolitely
// and costs neither its shutdown() nor a drain (docs/performance.md, "Hot
// path"); politely otherwise. The peer has ended it when it reset it (the
// socket is dead: close() sends nothing), or when its FIN was read at the
// end of a plaintext stream (nothing is left unread and nothing more can
// come). Above TLS an EOF may be the close_notify alert, read before the
// FIN: such a session closes politely.
func (p *probe) endSession(conn net.Conn, tcp *config.TCPProbe) {
	switch {
	case p.res.Reason == verdict.Reset,
		p.res.Reason == verdict.Fin && !usesTLS(tcp):
		_ = conn.Close() // the peer ended the session; a close error changes nothing
	default:
		closePolitely(conn, p.drains)
	}
}

// usesTLS reports whether a session of tcp speaks TLS at some point.
func usesTLS(tcp *config.TCPProbe) bool {
	if tcp.TLS {
		return true
	}
	for _, qr := range tcp.QueryResponse {
		if qr.StartTLS {
			return true
		}
	}
	return false
}

// resolve turns the target's host into the addresses to dial, honouring the
// module's IP family preference and fallback as blackbox_exporter does:
// one address in tcp.addresses "first" mode, up to tcp.max_addresses in
// "all" mode (dialList).
func (p *probe) resolve(ctx context.Context, tcp *config.TCPProbe, resolver *net.Resolver) ([]netip.Addr, bool) {
	start := time.Now()
	defer p.phase(PhaseResolve, start)
	t := p.res.Target
	if t.IP.IsValid() {
		// A literal of the other family, with the fallback off, fails as
		// in blackbox_exporter (its resolver filters literals by family
		// too): nothing is dialled (test/blackbox).
		if want4 := tcp.IPProtocol == "ip4"; t.IP.Is4() != want4 && !tcp.IPProtocolFallback {
			p.verdict(verdict.DNSFailure, netip.Addr{}, fmt.Errorf("target %s is not an %s address and ip_protocol_fallback is off", t.IP, tcp.IPProtocol))
			p.logf("%s: not an %s address", t.IP, tcp.IPProtocol)
			return nil, false
		}
		return []netip.Addr{t.IP}, true
	}
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	p.logf("Resolving %s...", t.Host)
	ips, err := resolver.LookupNetIP(ctx, "ip", t.Host)
	if err != nil {
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
			p.verdict(verdict.NXDomain, netip.Addr{}, fmt.Errorf("resolving %s: %w", t.Host, err))
			p.logf("%s: Name or service not known", t.Host)
		} else {
			p.verdict(verdict.DNSFailure, netip.Addr{}, fmt.Errorf("resolving %s: %w", t.Host, err))
			p.logf("%s: Temporary failure in name resolution (%v)", t.Host, err)
		}
		return nil, false
	}
	list, skipped := dialList(ips, tcp)
	if len(list) == 0 {
		p.verdict(verdict.DNSFailure, netip.Addr{}, fmt.Errorf("resolving %s: no %s address and ip_protocol_fallback is off", t.Host, tcp.IPProtocol))
		p.logf("%s: no %s address", t.Host, tcp.IPProtocol)
		return nil, false
	}
	if skipped > 0 {
		p.logf("(dialling %d of the %d addresses of %s: tcp.max_addresses is %d)", len(list), len(list)+skipped, t.Host, tcp.MaxAddresses)
	}
	return list, true
}

// connect dials addr with the ICMP error queue armed, and classifies a
// failure from the queue and errno.
func (p *probe) connect(ctx context.Context, tcp *config.TCPProbe, addr netip.AddrPort) (net.Conn, bool) {
	start := time.Now()
	defer p.phase(PhaseConnect, start)
	v6 := addr.Addr().Is6()
	var src netip.Addr
	if tcp.SourceIPAddress != "" {
		src, _ = netip.ParseAddr(tcp.SourceIPAddress) // validated by config
		src = src.Unmap()
		if src.Is6() != v6 {
			p.verdict(verdict.LocalError, netip.Addr{}, fmt.Errorf("source_ip_address %s and target %s are of different IP families", src, addr.Addr()))
			p.logf("telnet: source address %s cannot reach %s", src, addr.Addr())
			return nil, false
		}
		if owned, err := ownAddrs.owns(src); !owned {
			p.notOurs(src, err)
			return nil, false
		}
		p.res.Source = src
	}
	if p.trace { // the arguments cost allocations even when logf drops them
		p.logf("Trying %s...", addrText(addr))
	}
	// Nagle only matters when we send; our own address only when a person
	// reads the answer; our port only to an attempt (its flow).
	var want dialWant
	if len(tcp.QueryResponse) > 0 {
		want |= wantNoDelay
	}
	if p.trace {
		want |= wantLocal
	}
	if p.attempt > 0 {
		want |= wantFlow
	}
	var info dialInfo
	conn, ev, err := dialTCP(ctx, src, addr, want, &info)
	p.flow = info.Local
	if err == nil {
		if info.Local.IsValid() {
			p.res.Source = info.Local.Addr()
		}
		p.res.SynRetransmits = info.SynRetransmits
		if p.trace {
			if p.sub {
				p.logf("Connected to %s.", p.res.Target.Host) // telnet names what it was given
			} else {
				p.logf("Connected to %s.", addr.Addr())
			}
		}
		return conn, true
	}
	if errors.Is(err, errSelfConnect) {
		p.selfConnected(addr, err)
		return nil, false
	}
	if ev.ICMP != nil && ev.ICMP.Local && ev.ICMP.Offender == addr.Addr() {
		// Probing one of our own addresses: the ICMP is the target's answer.
		ev.ICMP.Local = false
	}
	if ev.Syscall == "connect" && !ev.TimedOut && ev.Errno == 0 && ev.ICMP == nil {
		ev.Syscall = "unknown" // neither a network answer nor a timeout
	}
	reason := verdict.ClassifyDial(ev)
	if reason == verdict.NoResponse && p.conntrackFull() {
		return nil, false
	}
	p.res.ICMP = ev.ICMP
	var responder netip.Addr
	switch {
	case ev.ICMP != nil && !ev.ICMP.Local && reason.Class() != verdict.Error:
		responder = ev.ICMP.Offender
	case reason == verdict.ConnRefused, reason == verdict.Reset:
		responder = addr.Addr()
	}
	p.verdict(reason, responder, fmt.Errorf("connecting to %s: %w", addrText(addr), err))
	p.logDialFailure(ev, reason)
	return nil, false
}

// notOurs refuses a source_ip_address this host does not own (or whose
// ownership it could not read): our own configuration's failure.
func (p *probe) notOurs(src netip.Addr, err error) {
	if err == nil {
		err = fmt.Errorf("source_ip_address %s is not assigned to any interface of this host", src)
	}
	p.verdict(verdict.LocalError, netip.Addr{}, err)
	p.logf("telnet: bind: %v (a failure of this host, not of the network)", err)
}

// selfConnected gives the verdict of a dial whose every try connected to
// itself. The kernel never picks a source port that any socket has bound
// (a listener included), so the port it picked has no listener: the SYN
// would have met a RST, and the verdict is refused
// (docs/kernel-evidence.md, "Other host facts").
func (p *probe) selfConnected(addr netip.AddrPort, err error) {
	p.verdict(verdict.ConnRefused, addr.Addr(), fmt.Errorf("connecting to %s: %w; no socket is bound to that port, so nothing listens", addrText(addr), err))
	p.logf("(the socket connected to itself: the kernel chose port %d as the source port, so no socket is bound to it)", addr.Port())
	p.logf("telnet: Unable to connect to remote host: Connection refused")
}

func (p *probe) logDialFailure(ev verdict.DialEvidence, reason verdict.Reason) {
	if !p.trace {
		return
	}
	switch {
	case reason == verdict.LocalError:
		p.logf("telnet: %v (a failure of this host, not of the network)", p.res.Err)
	case ev.TimedOut:
		p.logf("(no answer after %s)", RoundDuration(time.Since(p.start)))
	}
	if ev.ICMP != nil {
		p.logf("ICMP: %s", ev.ICMP)
	}
	var unable string
	if reason != verdict.LocalError && !ev.TimedOut {
		unable = capitalize(ev.Errno.Error())
	} else if ev.TimedOut && ev.ICMP != nil {
		unable = reason.Info().Evidence
	}
	switch {
	case unable == "":
	case p.sub:
		p.unable = unable
		p.logf("telnet: connect to address %s: %s", p.res.Addr.Addr(), unable)
	default:
		p.logf("telnet: Unable to connect to remote host: %s", unable)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// addrText writes an address as telnet does: IPv6 without brackets.
func addrText(a netip.AddrPort) string {
	return fmt.Sprintf("%s port %d", a.Addr(), a.Port())
}

func capitalize(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}
