// Package report writes a probe Result for people: the telnet-style
// transcript and the verdict block with its meaning and who fixes it. The
// /probe debug output and the check command share it.
package report

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tcp-verdict/tcp_verdict_exporter/prober"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// KeyWidth is the width of the key column of the verdict block.
const KeyWidth = 9

// VerdictBlock writes the verdict, its evidence, the phase timings, what it
// means and whom to ask, as aligned "key  value" lines.
func VerdictBlock(w io.Writer, r *prober.Result) {
	Rows(r, func(k, v string) { fmt.Fprintf(w, "%-*s %s\n", KeyWidth, k, v) })
}

// Rows calls row with each key and value of the verdict block, in order:
// the block's content without its layout, for writers that style it (the
// check command colours it on a terminal).
func Rows(r *prober.Result, row func(key, value string)) {
	ci := r.Class.Info()
	ri := r.Reason.Info()
	row("verdict", r.Summary())
	row("evidence", ri.Evidence)
	if r.ICMP != nil {
		row("icmp", r.ICMP.String())
	}
	row("phases", Phases(r))
	if r.Banner != "" {
		row("banner", r.Banner)
	}
	if r.Failure != "" {
		row("failed", r.Failure)
	}
	if r.Err != nil && r.Class != verdict.Connected {
		row("error", r.Err.Error())
	}
	if len(r.Hops) > 0 {
		row("path", Path(r))
	}
	row("meaning", ri.Meaning)
	if ri.Ambiguity != "" {
		row("but", ri.Ambiguity)
	}
	row("ask", Ask(ci, r))
}

// Ask fills the class's "ask" sentence with our own address where it has one.
func Ask(ci verdict.ClassInfo, r *prober.Result) string {
	src := "this host"
	if r.Source.IsValid() {
		src = r.Source.String()
	}
	return ci.AskFor(src)
}

// Phases renders the phase durations as "resolve 0s, connect 1.2ms, hold 500ms".
func Phases(r *prober.Result) string {
	parts := make([]string, 0, len(r.Phases))
	for _, p := range r.Phases {
		parts = append(parts, fmt.Sprintf("%s %s", p.Phase, round(p.Duration)))
	}
	return strings.Join(parts, ", ")
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	default:
		return d.Round(time.Microsecond)
	}
}

// Path sums the path trace up in one sentence: where the traffic was last
// seen, and whether a hop stopped it.
func Path(r *prober.Result) string {
	if len(r.Hops) == 0 {
		return "no trace ran"
	}
	top := r.Hops[len(r.Hops)-1].TTL
	h, ok := r.LastHop()
	switch {
	case !ok:
		return fmt.Sprintf("no hop answered from TTL 1 to %d: the SYN is dropped before the first router, or the routers send no ICMP", top)
	case h.Reached:
		return fmt.Sprintf("hop %d is the target %s; it answered the trace: %s", h.TTL, h.Addr, h.Answer())
	case h.Final():
		return fmt.Sprintf("hop %d, %s, stops the SYN: %s", h.TTL, h.Addr, h.Answer())
	case h.TTL == top:
		return fmt.Sprintf("last seen at hop %d, %s, the trace's last TTL: the path is longer than the trace", h.TTL, h.Addr)
	}
	return fmt.Sprintf("last seen at hop %d, %s; nothing answered from hop %d to %d: the SYN is dropped there or just beyond", h.TTL, h.Addr, h.TTL+1, top)
}

// HopRows lays the path trace out as a table: a header, then one row per
// TTL (TTL, address, RTT, what it said), a run of silent TTLs taking one
// row ("2-16"). It is empty when no trace ran.
func HopRows(r *prober.Result) [][]string {
	if len(r.Hops) == 0 {
		return nil
	}
	rows := [][]string{{"TTL", "ADDRESS", "RTT", "ANSWER"}}
	hops := r.Hops
	for i := 0; i < len(hops); i++ {
		h := hops[i]
		if h.Answered() {
			rows = append(rows, []string{fmt.Sprint(h.TTL), h.Addr.String(), round(h.RTT).String(), h.Answer()})
			continue
		}
		j := i
		for j+1 < len(hops) && !hops[j+1].Answered() {
			j++
		}
		ttl := fmt.Sprint(h.TTL)
		if j > i {
			ttl += fmt.Sprintf("-%d", hops[j].TTL)
		}
		rows = append(rows, []string{ttl, "*", "", h.Answer()})
		i = j
	}
	return rows
}
