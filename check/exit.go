package check

import (
	"fmt"
	"strings"

	"github.com/tcp-verdict/tcp_verdict_exporter/prober"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// Exit statuses that are not a class; the classes' own codes are
// verdict.ClassInfo.ExitCode.
const (
	ExitOK           = 0
	ExitBadInput     = 2
	ExitExpectFailed = 3
	// ExitUnexpected: a target's verdict was not the expected one (--expect,
	// an entry's expect label, or its module's expect).
	ExitUnexpected  = 10
	ExitInterrupted = 130
)

// ExitCode is one result's exit status: ExitBadInput when the target
// policy refused it; with an expected verdict, 0 when it held (and, for
// connected, the session met its expectations, else ExitExpectFailed),
// ExitUnexpected when it did not, but error's code when this host failed
// to probe, for then nothing is known; without one, 0 when it connected
// and met every expectation, ExitExpectFailed when it connected but an
// expectation failed, and its class's code otherwise.
func ExitCode(r *prober.Result) int {
	if r.Refusal != nil {
		return ExitBadInput
	}
	if r.Expectation.IsSet() && r.Class != verdict.Error {
		switch {
		case !r.Expected:
			return ExitUnexpected
		case r.Success:
			return ExitOK
		}
		return ExitExpectFailed
	}
	if r.Class == verdict.Connected {
		if r.Success {
			return ExitOK
		}
		return ExitExpectFailed
	}
	if code := r.Class.Info().ExitCode; code != 0 {
		return code
	}
	return verdict.Error.Info().ExitCode // a class the taxonomy does not know
}

// ExitStatus is the command's exit status for several results: the highest
// of their codes, the failure furthest from the service; but ExitBadInput
// when the target policy refused any of them, which a verdict's higher
// code must not hide, for that target was never checked.
func ExitStatus(results []prober.Result) int {
	status := ExitOK
	for i := range results {
		if results[i].Refusal != nil {
			return ExitBadInput
		}
		status = max(status, ExitCode(&results[i]))
	}
	return status
}

// ExitStatusHelp lists the exit statuses in one paragraph, for --help.
func ExitStatusHelp() string {
	parts := []string{"0 all connected (with --expect: every expectation held)", fmt.Sprintf("%d bad input or a target the target policy refuses", ExitBadInput),
		fmt.Sprintf("%d connected but an expectation failed", ExitExpectFailed)}
	for _, ci := range verdict.Classes {
		if ci.Class != verdict.Connected {
			parts = append(parts, fmt.Sprintf("%d %s", ci.ExitCode, ci.Class))
		}
	}
	parts = append(parts, fmt.Sprintf("%d a verdict was not the expected one", ExitUnexpected))
	return "Exit status: " + strings.Join(parts, ", ") +
		fmt.Sprintf(", %d interrupted; with several targets, the highest.", ExitInterrupted)
}
