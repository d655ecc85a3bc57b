package verdict

import "fmt"

// Symptom is something a probe can show beside its class: its words, as
// the taxonomy's classes have theirs, for the check command, the debug
// output and the alerts (docs/intermittent.md).
type Symptom struct {
	Name    string
	Meaning string // one sentence for humans
	Owner   string // who fixes it
	Ask     string // completes "ask ..."
	Team    string // the routing key of Owner, as ClassInfo.Team
}

// Intermittent is a probe whose attempts (tcp.attempts) ended in more than
// one class: the same address and port connects for some flows and not for
// others. It is the network's: the flows differ only in their source port,
// which is what a per-flow hash chooses a path or a member by.
func Intermittent() Symptom {
	network := Firewall.Info()
	return Symptom{
		Name:    "intermittent",
		Meaning: "connections to the same address and port succeed from some source ports and fail from others: a per-flow hash (ECMP, a LAG, a load balancer's pool) sends some flows to a broken member or path",
		Owner:   network.Owner,
		Ask:     "a network engineer to find the member of the ECMP group, LAG or load balancer pool, at or after the last hop of the failing flow's trace, that drops these flows",
		Team:    network.Team,
	}
}

// LostSYN is a connection that completed only after the kernel sent its
// SYN again: the SYN or the SYN-ACK was lost on the way, and the client
// waited a retransmission timeout (1 s, then 2 s, ...) for it.
func LostSYN() Symptom {
	network := Firewall.Info()
	return Symptom{
		Name:    "lost-syn",
		Meaning: "a SYN or SYN-ACK was lost",
		Owner:   network.Owner,
		Ask:     "a network engineer to look for loss on the path (a lossy link, a policer, a full queue)",
		Team:    network.Team,
	}
}

// LostSYNText says how a connection completed after n SYN
// retransmissions, its connect phase taking d: "connected after 1 SYN
// retransmission (1.0 s): a SYN or SYN-ACK was lost".
func LostSYNText(n int, seconds float64) string {
	plural := "s"
	if n == 1 {
		plural = ""
	}
	return fmt.Sprintf("%s after %d SYN retransmission%s (%.1f s): %s", Connected, n, plural, seconds, LostSYN().Meaning)
}
