package collector

import (
	"strings"

	"github.com/tcp-verdict/tcp_verdict_exporter/prober"
)

// The path trace's series (tcp.trace). They appear only on a probe whose
// trace ran (tcp.trace enabled and a network verdict), and then always all
// three, with the same label names: an empty address and reason mean that
// no hop answered.
var (
	traceHopsFamily = newFamily("tcp_trace_hops_answered",
		"Hops of the path trace that answered (ICMP time-exceeded, a rejecting hop's ICMP, or the target). Only when a trace ran.")
	traceLastHopFamily = newFamily("tcp_trace_last_hop",
		"TTL of the last hop that answered the path trace: where the traffic was last seen; 0 when none answered. Only when a trace ran.")
	traceLastHopInfoFamily = newFamily("tcp_trace_last_hop_info",
		"The last hop that answered the path trace: its address, and what it said (time-exceeded, a reject such as admin-prohibited, syn-ack or conn-refused from the target); both empty when none answered. Only when a trace ran.",
		"address", "reason")
)

// traceSkippedFamily says that a due trace could not run, and why.
var traceSkippedFamily = newFamily("tcp_trace_skipped",
	"1 when a path trace was due (tcp.trace, a firewall or unreachable verdict) but could not run, with the reason ("+traceSkipNames()+"). Only then.",
	"reason")

func traceSkipNames() string {
	names := make([]string, len(prober.TraceSkips))
	for i, s := range prober.TraceSkips {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

// traceSamples adds the path trace's series to s when a trace ran, or the
// reason it could not when it was due.
func traceSamples(s []sample, r *prober.Result) []sample {
	if r.TraceSkipped != "" {
		return append(s, sample{traceSkippedFamily, []string{string(r.TraceSkipped)}, 1})
	}
	if len(r.Hops) == 0 {
		return s
	}
	address, reason, ttl := "", "", 0
	if h, ok := r.LastHop(); ok {
		address, reason, ttl = h.Addr.String(), string(h.Reason), h.TTL
		if reason == "" && h.ICMP != nil {
			reason = "icmp" // a message the taxonomy does not name
		}
	}
	return append(s,
		sample{traceHopsFamily, nil, float64(r.HopsAnswered())},
		sample{traceLastHopFamily, nil, float64(ttl)},
		sample{traceLastHopInfoFamily, []string{address, reason}, 1},
	)
}
