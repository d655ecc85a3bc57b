package prober

import (
	"net/netip"

	"github.com/tcp-verdict/tcp_verdict_exporter/policy"
)

// admit checks every address the probe is about to dial against the
// module's target policy, once, after resolution and before any dial or
// path trace: checking what is dialled, not the name asked for, defeats
// DNS rebinding and v4-mapped tricks (policy.Normalize). One refused
// address refuses the whole probe; the Result carries the refusal and the
// refused address, and nothing is dialled.
func (p *probe) admit(pol policy.Chain, ips []netip.Addr) bool {
	for _, ip := range ips {
		if r := pol.Check(ip); r != nil {
			p.res.Refusal, p.res.Err = r, r
			p.res.Addr = netip.AddrPortFrom(ip, p.res.Target.Port)
			p.logf("telnet: %s", r)
			return false
		}
	}
	return true
}
