package check

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tcp-verdict/tcp_verdict_exporter/prober"
	"github.com/tcp-verdict/tcp_verdict_exporter/report"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// SGR codes used on a terminal.
const (
	sgrBold    = "1"
	sgrDim     = "2"
	sgrRed     = "31"
	sgrGreen   = "32"
	sgrYellow  = "33"
	sgrMagenta = "35"
)

// maxProgress bounds the progress line so that it never wraps on an
// 80-column terminal: a wrapped line cannot be erased with \r.
const maxProgress = 78

// textWriter writes the text report: each target's block in the order given
// as soon as it and those before it are done, a progress line meanwhile on a
// terminal, then the summary table.
type textWriter struct {
	ctx      context.Context // once it is done, no block is written
	w        io.Writer
	colour   bool
	progress bool
	targets  []string
	results  []*prober.Result
	next     int // the next block to write
	start    time.Time
	drawn    bool  // a progress line is on screen
	err      error // the first failed write of a block, for Run to report
}

func newTextWriter(ctx context.Context, o Options, p *plan) *textWriter {
	t := &textWriter{
		ctx:      ctx,
		w:        o.Stdout,
		colour:   o.IsTerminal && !o.NoColor,
		progress: o.IsTerminal,
		targets:  p.texts(),
		results:  make([]*prober.Result, len(p.targets)),
		start:    time.Now(),
	}
	t.drawProgress()
	return t
}

// done takes a finished result (or, with i < 0, a tick of the clock).
func (t *textWriter) done(i int, r *prober.Result) {
	if i >= 0 {
		t.results[i] = r
	}
	t.clearProgress()
	if t.ctx.Err() != nil {
		return // interrupted: a probe cut short has no verdict worth printing
	}
	for t.next < len(t.results) && t.results[t.next] != nil {
		if t.next > 0 {
			t.write("\n")
		}
		t.block(t.results[t.next])
		t.next++
	}
	t.drawProgress()
}

func (t *textWriter) finish() { t.clearProgress() }

// write writes to stdout and keeps the first error for Run to report: the
// probes' verdicts, not a closed pipe, decide the exit status.
func (t *textWriter) write(s string) {
	if _, err := io.WriteString(t.w, s); err != nil && t.err == nil {
		t.err = err
	}
}

func (t *textWriter) paint(sgr, s string) string {
	if !t.colour || s == "" {
		return s
	}
	return "\x1b[" + sgr + "m" + s + "\x1b[0m"
}

// refusedText stands for a verdict where the target policy refused the
// target.
const refusedText = "not probed, refused by the target policy"

// verdictColour is green for success, yellow for a connection that failed
// an expectation, magenta for a failure of this host, red otherwise.
func verdictColour(r *prober.Result) string {
	switch {
	case r.Expectation.IsSet() && !r.Expected && r.Refusal == nil:
		return sgrRed // whatever the class, the intent failed
	case r.Success:
		return sgrGreen
	case r.Class == verdict.Connected:
		return sgrYellow
	case r.Class == verdict.Error, r.Refusal != nil:
		return sgrMagenta
	}
	return sgrRed
}

// block writes the transcript, then the verdict block shared with
// /probe?debug=true, then the path trace's hops when one ran. The
// transcript's traceroute lines are left out: the hop table below says the
// same, with the answers spelt out.
func (t *textWriter) block(r *prober.Result) {
	var b strings.Builder
	for _, l := range r.Transcript {
		if !l.Path {
			b.WriteString(l.Text + "\n")
		}
	}
	if r.Refusal != nil {
		// No verdict: nothing was dialled, so there is nothing to explain.
		fmt.Fprintf(&b, "%s %s\n", t.paint(sgrDim, report.Key("verdict")),
			t.paint(sgrBold+";"+sgrMagenta, "none: "+refusedText))
		t.write(b.String())
		return
	}
	report.Rows(r, func(k, v string) {
		key := report.Key(k)
		switch k {
		case "verdict":
			v = t.paint(sgrBold+";"+verdictColour(r), v)
		case "ask":
			v = t.paint(sgrBold, v)
		}
		fmt.Fprintf(&b, "%s %s\n", t.paint(sgrDim, key), v)
	})
	t.hops(&b, r)
	t.hostHops(&b, r)
	t.write(b.String())
}

// hostHops writes the host check's two traces, TTL by TTL, under the
// verdict block's "ttl" key: the evidence of a forged reset, or of why
// nothing more could be told.
func (t *textWriter) hostHops(b *strings.Builder, r *prober.Result) {
	for n, text := range report.Columns(report.HostHopRows(r), nil) {
		key := ""
		if n == 0 {
			key = "ttl"
			text = t.paint(sgrDim, text)
		}
		fmt.Fprintf(b, "%s %s\n", t.paint(sgrDim, report.Key(key)), text)
	}
}

// hops writes the path trace as a table under the verdict block's "hops"
// key, aligned with its values.
func (t *textWriter) hops(b *strings.Builder, r *prober.Result) {
	rows := report.HopRows(r)
	if len(rows) == 0 {
		return
	}
	for n, text := range report.Columns(rows, nil) {
		key := ""
		if n == 0 {
			key = "hops"
			text = t.paint(sgrDim, text)
		}
		fmt.Fprintf(b, "%s %s\n", t.paint(sgrDim, report.Key(key)), text)
	}
}

func (t *textWriter) drawProgress() {
	if !t.progress || t.next >= len(t.results) {
		return
	}
	done, first, waiting := 0, "", 0
	for i, r := range t.results {
		if r != nil {
			done++
			continue
		}
		if first == "" {
			first = t.targets[i]
		}
		waiting++
	}
	line := fmt.Sprintf("checking: %d/%d done, %.1fs, waiting for %s",
		done, len(t.results), time.Since(t.start).Seconds(), first)
	if waiting > 1 {
		line += fmt.Sprintf(" and %d more", waiting-1)
	}
	if utf8.RuneCountInString(line) > maxProgress {
		line = string([]rune(line)[:maxProgress-1]) + "…"
	}
	t.write("\r\x1b[K" + t.paint(sgrDim, line))
	t.drawn = true
}

func (t *textWriter) clearProgress() {
	if t.drawn {
		t.write("\r\x1b[K")
		t.drawn = false
	}
}

// table writes one line per target when there are several.
func (t *textWriter) table(results []prober.Result) {
	if len(results) < 2 {
		return
	}
	rows := [][]string{{"TARGET", "VERDICT", "REASON", "RESPONDER", "TIME"}}
	expecting := false
	for i := range results {
		expecting = expecting || results[i].Expectation.IsSet()
	}
	if expecting {
		rows[0] = append(rows[0], "EXPECTED")
	}
	for i := range results {
		r := &results[i]
		v := string(r.Class)
		switch {
		case r.Cause != "":
			v += ", " + string(r.Cause)
		case r.Class == verdict.Connected && r.Failure != "":
			v += ", expectation failed"
		}
		if r.Refusal != nil {
			v = "not probed"
		} else if r.Intermittent() {
			v = "intermittent " + string(r.Class)
		}
		responder := "-"
		if r.Responder.IsValid() {
			responder = r.Responder.String()
		}
		reason := string(r.Reason)
		if r.Refusal != nil {
			reason = r.Refusal.Rule.Policy
		}
		row := []string{t.targets[i], v, reason, responder, report.Duration(r.Duration)}
		if expecting {
			row = append(row, expectedCell(r))
		}
		rows = append(rows, row)
	}
	t.write("\n")
	lines := report.Columns(rows, func(n, c int, cell string) string {
		switch {
		case n == 0:
			return t.paint(sgrDim, cell)
		case c == 1:
			return t.paint(verdictColour(&results[n-1]), cell)
		}
		return cell
	})
	for _, l := range lines {
		t.write(l + "\n")
	}
}

// expectedCell is the table's EXPECTED column: the expectation and whether
// it held; "-" for none.
func expectedCell(r *prober.Result) string {
	switch {
	case !r.Expectation.IsSet() || r.Refusal != nil:
		return "-"
	case r.Expected:
		return r.Expectation.String() + " held"
	}
	return r.Expectation.String() + " NOT HELD"
}

// changes writes what changed since the baseline, one line each.
func (t *textWriter) changes(baseline string, cs []change) {
	t.write("\n")
	if len(cs) == 0 {
		t.write(t.paint(sgrDim, fmt.Sprintf("No change since %s.", baseline)) + "\n")
		return
	}
	t.write(t.paint(sgrBold, fmt.Sprintf("Changed since %s:", baseline)) + "\n")
	for _, c := range cs {
		line := "  " + c.String()
		if c.expected != nil && !*c.expected {
			line = t.paint(sgrRed, line)
		}
		t.write(line + "\n")
	}
}
