package collector

import "github.com/tcp-verdict/tcp_verdict_exporter/prober"

// addressVerdictFamily is the verdict of each address of a name, when the
// module dials them all (tcp.addresses "all"): at most tcp.max_addresses
// series per probe. In "first" mode tcp_verdict_info already names the one
// address, so the family is absent.
var addressVerdictFamily = newFamily("tcp_address_verdict_info",
	"Verdict of each address dialled when the module dials every address of the name (tcp.addresses: all): its class, reason and responder, as tcp_verdict_info has them for the verdict.",
	"address", "class", "reason", "responder")

func addressSamples(s []sample, r *prober.Result) []sample {
	for _, a := range r.Addresses {
		s = append(s, sample{addressVerdictFamily, []string{addrText(a.Addr.Addr()), string(a.Class), string(a.Reason), addrText(a.Responder)}, 1})
	}
	return s
}
