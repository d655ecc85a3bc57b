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
	row("meaning", ri.Meaning)
	if ri.Ambiguity != "" {
		row("but", ri.Ambiguity)
	}
	row("ask", Ask(ci, r))
}

// Ask fills the class's "ask" sentence with our own address where it has one.
func Ask(ci verdict.ClassInfo, r *prober.Result) string {
	if !strings.Contains(ci.Ask, "%s") {
		return ci.Ask
	}
	src := "this host"
	if r.Source.IsValid() {
		src = r.Source.String()
	}
	return fmt.Sprintf(ci.Ask, src)
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
