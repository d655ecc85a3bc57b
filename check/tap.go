package check

import (
	"fmt"
	"io"
	"strings"

	"github.com/tcp-verdict/tcp_verdict_exporter/prober"
	"github.com/tcp-verdict/tcp_verdict_exporter/report"
)

// writeTAP writes the Test Anything Protocol, version 13: one test point
// per target, ok when its exit code is 0, with the verdict block as a YAML
// diagnostic under a failing one, and the changes since the baseline as
// comments at the end.
func writeTAP(w io.Writer, p *plan, results []prober.Result, changes []change) error {
	var b strings.Builder
	fmt.Fprintf(&b, "TAP version 13\n1..%d\n", len(results))
	for i := range results {
		r := &results[i]
		ok := "ok"
		if ExitCode(r) != ExitOK {
			ok = "not ok"
		}
		desc := fmt.Sprintf("%s (module %s): %s", p.targets[i].text, p.targets[i].moduleName, r.Summary())
		if r.Expectation.IsSet() && r.Refusal == nil {
			desc += "; expected " + report.ExpectationText(r)
		}
		// '#' starts a directive in a description: keep it out.
		fmt.Fprintf(&b, "%s %d - %s\n", ok, i+1, strings.ReplaceAll(desc, "#", "\\#"))
		if ok == "ok" {
			continue
		}
		b.WriteString("  ---\n")
		fmt.Fprintf(&b, "  exit_code: %d\n", ExitCode(r))
		b.WriteString("  verdict_block: |\n")
		for _, l := range strings.Split(strings.TrimRight(report.VerdictBlock(r), "\n"), "\n") {
			b.WriteString("    " + l + "\n")
		}
		b.WriteString("  ...\n")
	}
	if p.baseline != nil {
		if len(changes) == 0 {
			b.WriteString("# no change since the baseline\n")
		}
		for _, c := range changes {
			b.WriteString("# changed: " + c.String() + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
