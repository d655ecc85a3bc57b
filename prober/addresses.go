package prober

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/tcp-verdict/tcp_verdict_exporter/config"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// AddressResult is the verdict of one address of a name, when the module
// dials them all (tcp.addresses "all").
type AddressResult struct {
	Addr      netip.AddrPort
	Class     verdict.Class
	Reason    verdict.Reason
	Responder netip.Addr // as Result.Responder
	Success   bool       // connected and every expectation met
	Err       error      // the underlying error; nil when connected
	Failure   string     // why Success is false although the class is connected
	Duration  time.Duration
}

// dialList picks the addresses to dial from the resolver's answer: those of
// the preferred family first, in the resolver's order, then (when
// ip_protocol_fallback allows) the others. In "first" mode that is one
// address, as blackbox_exporter picks it; in "all" mode every allowed
// address up to tcp.max_addresses, skipped counting the rest. With a
// source_ip_address, "all" mode keeps its family only: a client bound to
// it cannot reach the others.
func dialList(ips []netip.Addr, tcp *config.TCPProbe) (list []netip.Addr, skipped int) {
	want4 := tcp.IPProtocol == "ip4"
	var preferred, other []netip.Addr
	for _, ip := range ips {
		ip = ip.Unmap()
		if ip.Is4() == want4 {
			preferred = append(preferred, ip)
		} else {
			other = append(other, ip)
		}
	}
	if tcp.Addresses != config.AddressesAll {
		switch {
		case len(preferred) > 0:
			return preferred[:1], 0
		case len(other) > 0 && tcp.IPProtocolFallback:
			return other[:1], 0
		}
		return nil, 0
	}
	list = preferred
	if tcp.IPProtocolFallback {
		list = append(list, other...)
	}
	if src, err := netip.ParseAddr(tcp.SourceIPAddress); err == nil {
		src = src.Unmap()
		kept := list[:0:0]
		for _, ip := range list {
			if ip.Is4() == src.Is4() {
				kept = append(kept, ip)
			}
		}
		list = kept
	}
	if len(list) > tcp.MaxAddresses {
		return list[:tcp.MaxAddresses], len(list) - tcp.MaxAddresses
	}
	return list, 0
}

// dialAll probes every address at once, each as dial does, and reports
// what a client that walks the list in order gets, as telnet does: the
// first address that connects, else the first address's failure. Each
// address's verdict goes to Result.Addresses. The path trace (tcp.trace)
// runs once, for the address behind the verdict.
func (p *probe) dialAll(ctx context.Context, tcp *config.TCPProbe, ips []netip.Addr) {
	subs := make([]*probe, len(ips))
	var wg sync.WaitGroup
	for i, ip := range ips {
		s := p.subProbe()
		s.sub = true
		subs[i] = s
		wg.Go(func() { s.dialTimed(ctx, tcp, ip) })
	}
	wg.Wait()

	chosen := subs[0]
	for _, s := range subs {
		if s.res.Class == verdict.Connected {
			chosen = s
			break
		}
	}
	// The verdict is the chosen address's, with this probe's resolve phase
	// and transcript before it.
	phases := append(p.res.Phases, chosen.res.Phases...)
	transcript := p.res.Transcript
	res := chosen.res
	res.Phases, res.Transcript, res.Duration = phases, transcript, 0
	res.Addresses = make([]AddressResult, len(subs))
	for i, s := range subs {
		r := &s.res
		res.Addresses[i] = AddressResult{Addr: r.Addr, Class: r.Class, Reason: r.Reason, Responder: r.Responder,
			Success: r.Class == verdict.Connected && r.Failure == "", Err: r.Err, Failure: r.Failure, Duration: r.Duration}
		res.Transcript = append(res.Transcript, r.Transcript...)
	}
	p.res = res
	if chosen.res.Class != verdict.Connected && chosen.unable != "" {
		p.logf("telnet: Unable to connect to remote host: %s", chosen.unable)
	}
	if chosen.res.Class != verdict.Connected {
		p.explainFailure(ctx, tcp, res.Addr)
	}
}

// subProbe is a probe of one address or one attempt within p: it shares
// p's clock, deadline, trace setting and the limits and host state p was
// given, so that every sub-probe counts and judges as p itself would.
func (p *probe) subProbe() *probe {
	s := &probe{start: p.start, deadline: p.deadline, trace: p.trace, budget: p.budget, drains: p.drains, conntrack: p.conntrack}
	s.res.Target = p.res.Target
	return s
}

// dialTimed dials ip and records how long the sub-probe took.
func (p *probe) dialTimed(ctx context.Context, tcp *config.TCPProbe, ip netip.Addr) {
	start := time.Now()
	p.dial(ctx, tcp, ip)
	p.res.Duration = time.Since(start)
}
