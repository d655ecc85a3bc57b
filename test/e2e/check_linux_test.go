package e2e

import (
	"encoding/json"
	"testing"

	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// testCheckVerdicts runs `tcp_verdict_exporter check --output=json` in the
// client's namespace on every scenario the network answers at once with a
// firewall or unreachable verdict (not our own kernel's reject, whose ICMP
// the no-lock-dropped-icmp check must not count), one command per family
// with all its targets, and checks each target's class, reason, responder
// and exit code, and the command's exit status (the highest).
func (l *lab) testCheckVerdicts(t *testing.T) {
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			var picked []scenario
			var targets []string
			for _, sc := range scenarios {
				networkClass := sc.class == verdict.Firewall || sc.class == verdict.Unreachable
				if networkClass && sc.fast && !sc.underLock && sc.module == "" && (sc.only == nil || *sc.only == f) {
					picked = append(picked, sc)
					targets = append(targets, sc.target(f))
				}
			}
			if len(picked) < 5 {
				t.Fatalf("only %d fast firewall/unreachable scenarios; the table changed", len(picked))
			}
			out, stderr, code := l.runCheck(t, append([]string{"--module=" + f.name, "--output=json"}, targets...)...)
			var doc struct {
				ExitCode int `json:"exit_code"`
				Results  []struct {
					Target, Class, Reason, Responder string
					ExitCode                         int `json:"exit_code"`
				} `json:"results"`
			}
			if err := json.Unmarshal([]byte(out), &doc); err != nil {
				t.Fatalf("check output is not JSON: %v\n%s\nstderr: %s", err, out, stderr)
			}
			if len(doc.Results) != len(picked) {
				t.Fatalf("%d results for %d targets:\n%s", len(doc.Results), len(picked), out)
			}
			highest := 0
			for i, sc := range picked {
				r := doc.Results[i]
				wantResponder := ""
				if sc.responder != nil {
					wantResponder = sc.responder(f)
				}
				wantCode := sc.class.Info().ExitCode
				highest = max(highest, wantCode)
				if r.Class != string(sc.class) || r.Reason != string(sc.reason) || r.Responder != wantResponder || r.ExitCode != wantCode {
					t.Errorf("%s (%s): check says %s/%s from %q, exit %d; want %s/%s from %q, exit %d",
						sc.name, r.Target, r.Class, r.Reason, r.Responder, r.ExitCode, sc.class, sc.reason, wantResponder, wantCode)
				}
			}
			if code != highest || doc.ExitCode != highest {
				t.Errorf("exit status %d (JSON %d), want %d: the highest of the targets' codes\nstderr: %s", code, doc.ExitCode, highest, stderr)
			}
			t.Logf("check on %d targets: exit %d", len(picked), code)
		})
	}
}
