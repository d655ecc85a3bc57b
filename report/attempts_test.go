package report

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tcp-verdict/tcp_verdict_exporter/prober"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// One lost SYN reads as the issue wrote it; a mixed probe says
// "intermittent" and its counts first; agreeing attempts read as one.
func TestAttemptWords(t *testing.T) {
	lost := &prober.Result{Class: verdict.Connected, Reason: verdict.SynAck, Success: true, SynRetransmits: 1,
		Phases: []prober.PhaseDuration{{Phase: prober.PhaseConnect, Duration: 1003 * time.Millisecond}}}
	if got, want := LostSYNs(lost), "connected after 1 SYN retransmission (1.0 s): a SYN or SYN-ACK was lost"; got != want {
		t.Errorf("LostSYNs = %q, want %q", got, want)
	}
	if got := LostSYNs(&prober.Result{Class: verdict.Connected}); got != "" {
		t.Errorf("no retransmission: LostSYNs = %q, want none", got)
	}

	src := netip.MustParseAddrPort("192.0.2.1:40000")
	mixed := &prober.Result{Class: verdict.Firewall, Reason: verdict.NoResponse, Duration: 2 * time.Second, SynRetransmits: 2,
		Attempts: []prober.AttemptResult{
			{Source: src, Class: verdict.Connected, Reason: verdict.SynAck, SynRetransmits: 2, Connect: 3 * time.Second},
			{Source: src, Class: verdict.Firewall, Reason: verdict.NoResponse},
			{Source: src, Class: verdict.Connected, Reason: verdict.SynAck},
		}}
	if got, want := VerdictLine(mixed), "intermittent: 2 of 3 attempts connected, 1 firewall; firewall (no-response after 2s)"; got != want {
		t.Errorf("VerdictLine = %q, want %q", got, want)
	}
	if got, want := LostSYNs(mixed), "attempt 1 connected after 2 SYN retransmissions (3.0 s): a SYN or SYN-ACK was lost"; got != want {
		t.Errorf("LostSYNs = %q, want %q", got, want)
	}
	block := VerdictBlock(mixed)
	for _, want := range []string{"attempts   1  192.0.2.1:40000  connected", verdict.Intermittent().Meaning, verdict.Intermittent().Ask} {
		if !strings.Contains(block, want) {
			t.Errorf("verdict block lacks %q:\n%s", want, block)
		}
	}

	same := &prober.Result{Class: verdict.Connected, Reason: verdict.SynAck, Success: true,
		Attempts: []prober.AttemptResult{{Class: verdict.Connected}, {Class: verdict.Connected}}}
	if got := VerdictLine(same); strings.Contains(got, "intermittent") {
		t.Errorf("agreeing attempts: %q", got)
	}
}

// The expected row names the attempts when they disagree: the verdict is
// the attempt that broke the expectation, and the others may have held it.
func TestExpectationTextNamesTheAttempts(t *testing.T) {
	blocked := verdict.AliasExpectation(verdict.AliasBlocked)
	attempts := func(classes ...verdict.Class) []prober.AttemptResult {
		a := make([]prober.AttemptResult, len(classes))
		for i, c := range classes {
			a[i].Class = c
		}
		return a
	}
	cases := []struct {
		name string
		r    prober.Result
		want string
	}{
		{"held", prober.Result{Class: verdict.Firewall, Expectation: blocked, Expected: true}, "firewall,unreachable: held"},
		{"one attempt", prober.Result{Class: verdict.Connected, Expectation: blocked}, "firewall,unreachable: NOT held, found connected"},
		{"attempts that disagree", prober.Result{Class: verdict.Connected, Expectation: blocked,
			Attempts: attempts(verdict.Firewall, verdict.Connected, verdict.Firewall)},
			"firewall,unreachable: NOT held, found connected (1 of 3 attempts connected, 2 firewall)"},
		{"attempts that agree", prober.Result{Class: verdict.Connected, Expectation: blocked,
			Attempts: attempts(verdict.Connected, verdict.Connected)},
			"firewall,unreachable: NOT held, found connected"},
	}
	for _, tc := range cases {
		if got := ExpectationText(&tc.r); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
