package report

import (
	"fmt"
	"strings"

	"github.com/tcp-verdict/tcp_verdict_exporter/prober"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// AttemptCounts renders the attempts of each class, connected first, then
// the other classes in taxonomy order: "4 of 8 attempts connected, 3
// firewall, 1 refused". Empty for a probe of one attempt.
func AttemptCounts(r *prober.Result) string {
	if len(r.Attempts) == 0 {
		return ""
	}
	counts := r.AttemptCounts()
	var parts []string
	for i, n := range counts {
		if n == 0 {
			continue
		}
		c := verdict.Classes[i].Class
		if len(parts) == 0 {
			parts = append(parts, fmt.Sprintf("%d of %d attempts %s", n, len(r.Attempts), c))
			continue
		}
		parts = append(parts, fmt.Sprintf("%d %s", n, c))
	}
	return strings.Join(parts, ", ")
}

// VerdictLine is the verdict block's first value: the summary, and for a
// probe whose attempts disagree, "intermittent: " and their counts first,
// so it shows at a glance.
func VerdictLine(r *prober.Result) string {
	if r.Refusal == nil && r.Intermittent() {
		return fmt.Sprintf("%s: %s; %s", verdict.Intermittent().Name, AttemptCounts(r), r.Summary())
	}
	return r.Summary()
}

// LostSYNs says that connections completed only after their SYN was sent
// again, from tcp_info: for one attempt "connected after 1 SYN
// retransmission (1.0 s): a SYN or SYN-ACK was lost"; for several, how
// many attempts it took that long. Empty when no SYN was sent again.
func LostSYNs(r *prober.Result) string {
	if r.SynRetransmits == 0 {
		return ""
	}
	if len(r.Attempts) == 0 {
		connect, _ := r.PhaseDuration(prober.PhaseConnect)
		return verdict.LostSYNText(r.SynRetransmits, connect.Seconds())
	}
	var lines []string
	for i, a := range r.Attempts {
		if a.SynRetransmits > 0 {
			lines = append(lines, fmt.Sprintf("attempt %d %s", i+1, verdict.LostSYNText(a.SynRetransmits, a.Connect.Seconds())))
		}
	}
	return strings.Join(lines, "; ")
}

// attemptRows adds the attempts' rows to the verdict block: each attempt
// with its own address and port and its verdict.
func attemptRows(r *prober.Result, row func(key, value string)) {
	for i, a := range r.Attempts {
		key := ""
		if i == 0 {
			key = "attempts"
		}
		from := "-"
		if a.Source.IsValid() {
			from = a.Source.String()
		}
		line := fmt.Sprintf("%2d  %s  %s", i+1, from, a.Summary())
		if a.SynRetransmits > 0 {
			line += fmt.Sprintf(", %d SYN retransmission(s)", a.SynRetransmits)
		}
		row(key, line)
	}
}
