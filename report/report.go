// Package report renders a probe Result for people: the verdict block with
// its meaning and who fixes it, the path trace's hop table, durations
// (Duration) and aligned columns (Key, Columns). The /probe debug output
// and the check command use it rather than laying text out themselves.
package report

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tcp-verdict/tcp_verdict_exporter/prober"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// KeyWidth is the width of the key column of the verdict block.
const KeyWidth = 9

// VerdictBlock is the verdict, its evidence, the phase timings, what it
// means and whom to ask, as aligned "key value" lines.
func VerdictBlock(r *prober.Result) string {
	var b strings.Builder
	Rows(r, func(k, v string) { b.WriteString(Key(k) + " " + v + "\n") })
	return b.String()
}

// Rows calls row with each key and value of the verdict block, in order:
// the block's content without its layout, for writers that style it (the
// check command colours it on a terminal).
func Rows(r *prober.Result, row func(key, value string)) {
	e := Explain(r)
	row("verdict", VerdictLine(r))
	if r.Expectation.IsSet() && r.Refusal == nil {
		row("expected", ExpectationText(r))
	}
	attemptRows(r, row) // tcp.attempts > 1
	if s := LostSYNs(r); s != "" {
		row("handshake", s)
	}
	for i, a := range r.Addresses { // tcp.addresses: all
		key := ""
		if i == 0 {
			key = "addresses"
		}
		row(key, a.Addr.Addr().String()+"  "+a.Summary())
	}
	row("evidence", e.Evidence)
	if r.ICMP != nil {
		row("icmp", r.ICMP.String())
	}
	row("phases", Phases(r))
	if r.Banner != "" {
		banner := r.Banner
		if r.BannerCut {
			banner += " [cut]"
		}
		row("banner", banner)
	}
	if r.Failure != "" {
		row("failed", r.Failure)
	}
	if r.Cause != "" {
		row("cause", fmt.Sprintf("%s (phase %s)", r.Cause, r.Cause.Info().Phase))
	}
	if r.Err != nil && r.Class != verdict.Connected {
		row("error", r.Err.Error())
	}
	if len(r.Hops) > 0 {
		row("path", Path(r))
	} else if r.TraceErr != nil {
		row("path", r.TraceErr.Error()) // a due trace that could not run says so
	}
	if h := r.Host; h != nil {
		switch {
		case h.Note != "":
			row("host", h.Note)
		case h.Err != nil:
			row("host", h.Err.Error()) // a due host check that could not run says so
		}
	}
	row("meaning", e.Meaning)
	if e.Ambiguity != "" {
		row("but", e.Ambiguity)
	}
	row("ask", e.Ask)
}

// Explanation is what a verdict means for people: the evidence, what it
// most likely means, what else it can mean, and whom to ask.
type Explanation struct {
	Evidence, Meaning, Ambiguity, Owner, Ask string
}

// Explain explains a result. A connected probe whose session then failed
// (probe_success 0) is explained by its failure cause, never by the
// connected class, whose words ("all is well") would be false: the TCP
// path is fine, a later step failed, and its cause names whom to ask.
func Explain(r *prober.Result) Explanation {
	ci, ri := r.Class.Info(), r.Reason.Info()
	if r.Refusal == nil && r.Intermittent() {
		// The failing attempts' evidence, the split's meaning and owner.
		s := verdict.Intermittent()
		return Explanation{Evidence: ri.Evidence, Meaning: s.Meaning, Ambiguity: ri.Ambiguity, Owner: s.Owner, Ask: s.Ask}
	}
	if r.Class == verdict.Connected && r.Failure != "" { // the session failed after connecting
		fi := r.Cause.Info() // a generic failed-session text when no cause was named
		return Explanation{Evidence: fi.FailedEvidence(), Meaning: fi.Meaning, Owner: fi.Owner, Ask: fi.Ask}
	}
	return Explanation{Evidence: ri.Evidence, Meaning: ri.Meaning, Ambiguity: ri.Ambiguity, Owner: ci.Owner, Ask: Ask(ci, r)}
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
		parts = append(parts, fmt.Sprintf("%s %s", p.Phase, Duration(p.Duration)))
	}
	return strings.Join(parts, ", ")
}

// Duration renders a duration as every people-facing output does, by
// prober.RoundDuration's one rule.
func Duration(d time.Duration) string { return prober.RoundDuration(d).String() }

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
	for _, run := range r.HopRuns() {
		h := run[0]
		if h.Answered() {
			rows = append(rows, []string{fmt.Sprint(h.TTL), h.Addr.String(), Duration(h.RTT), h.Answer()})
			continue
		}
		ttl := fmt.Sprint(h.TTL)
		if len(run) > 1 {
			ttl += fmt.Sprintf("-%d", run[len(run)-1].TTL)
		}
		rows = append(rows, []string{ttl, "*", "", h.Answer()})
	}
	return rows
}

// HostHopRows lays the host check's two traces out side by side, TTL by
// TTL (tcp.control_ports after a refused connect): a header naming the
// probed port and the control port, then one row per TTL with who answered
// each. It is empty when no hop counts were measured.
func HostHopRows(r *prober.Result) [][]string {
	h := r.Host
	if h == nil || h.ResetTrace == nil && h.HostTrace == nil {
		return nil
	}
	rows := [][]string{{"TTL", fmt.Sprintf("PORT %d", r.Addr.Port()), fmt.Sprintf("CONTROL PORT %d", h.HostPort)}}
	for i := range max(len(h.ResetTrace), len(h.HostTrace)) {
		rows = append(rows, []string{fmt.Sprint(i + 1), hostHop(h.ResetTrace, i), hostHop(h.HostTrace, i)})
	}
	return rows
}

// hostHop is one TTL of a host check's trace; "" past its end.
func hostHop(hops []prober.Hop, i int) string {
	if i >= len(hops) {
		return ""
	}
	return prober.HopAnswer(hops[i])
}

// Key pads a key of the verdict block to the block's key column.
func Key(k string) string { return fmt.Sprintf("%-*s", KeyWidth, k) }

// Columns lays rows out as a table, columns two spaces apart and the last
// one unpadded, and returns its lines. Widths count runes, so a styled
// cell still lines up: style, when not nil, is applied to each cell's text
// before its padding (a terminal's colour codes take no columns).
func Columns(rows [][]string, style func(row, col int, cell string) string) []string {
	if len(rows) == 0 {
		return nil
	}
	width := make([]int, len(rows[0]))
	for _, row := range rows {
		for c, cell := range row {
			width[c] = max(width[c], utf8.RuneCountInString(cell))
		}
	}
	lines := make([]string, len(rows))
	for n, row := range rows {
		var b strings.Builder
		for c, cell := range row {
			pad := ""
			if c < len(row)-1 {
				pad = strings.Repeat(" ", width[c]-utf8.RuneCountInString(cell)+2)
			}
			if style != nil {
				cell = style(n, c, cell)
			}
			b.WriteString(cell + pad)
		}
		lines[n] = b.String()
	}
	return lines
}

// ExpectationText says what verdict was expected and whether it held, as
// the verdict block's "expected" row.
func ExpectationText(r *prober.Result) string {
	if r.Expected {
		return r.Expectation.String() + ": held"
	}
	if counts := AttemptCounts(r); counts != "" && r.Intermittent() {
		// The verdict is an attempt that broke the expectation, which the
		// others may have held.
		return fmt.Sprintf("%s: NOT held, found %s (%s)", r.Expectation, r.Class, counts)
	}
	return fmt.Sprintf("%s: NOT held, found %s", r.Expectation, r.Class)
}
