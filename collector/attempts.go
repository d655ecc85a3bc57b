package collector

import (
	"github.com/tcp-verdict/tcp_verdict_exporter/prober"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

var (
	// attemptsFamily counts the attempts of each class when the module
	// makes several (tcp.attempts > 1): every class, 0s included, as the
	// state set has them. With one attempt tcp_verdict already says it, so
	// the family is absent and such a probe reads as it always did
	// (docs/intermittent.md).
	attemptsFamily = newFamily("tcp_verdict_attempts",
		"Connection attempts of the probe by verdict class, when the module makes several (tcp.attempts > 1), each from its own source port. More than one class above 0 is an intermittent path (docs/intermittent.md).",
		"class")
	// synRetransmitsFamily is on every probe: a single attempt loses SYNs
	// as well.
	synRetransmitsFamily = newFamily("tcp_syn_retransmits",
		"SYNs the kernel had to send again before the handshake completed (tcp_info's tcpi_total_retrans when it completed), summed over the probe's connected attempts: above 0, a SYN or its SYN-ACK was lost.")
)

func attemptSamples(s []sample, r *prober.Result) []sample {
	s = append(s, sample{synRetransmitsFamily, nil, float64(r.SynRetransmits)})
	if len(r.Attempts) == 0 {
		return s
	}
	counts := r.AttemptCounts()
	for i := range verdict.Classes {
		s = append(s, sample{attemptsFamily, classValues[i], float64(counts[i])})
	}
	return s
}
