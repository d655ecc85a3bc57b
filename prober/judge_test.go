package prober

import (
	"testing"

	"github.com/tcp-verdict/tcp_verdict_exporter/policy"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// With an expected verdict, probe_success says whether the intent held; a
// connected session that was expected must still meet its own
// expectations; without one, nothing changes.
func TestJudge(t *testing.T) {
	blocked := verdict.AliasExpectation(verdict.AliasBlocked)
	reachable := verdict.AliasExpectation(verdict.AliasReachable)
	cases := []struct {
		name                   string
		r                      Result
		e                      verdict.Expectation
		wantSuccess, wantExpOK bool
	}{
		{"no expectation, connected", Result{Class: verdict.Connected, Success: true}, 0, true, false},
		{"no expectation, firewall", Result{Class: verdict.Firewall}, 0, false, false},
		{"blocked, firewall", Result{Class: verdict.Firewall}, blocked, true, true},
		{"blocked, unreachable", Result{Class: verdict.Unreachable}, blocked, true, true},
		{"blocked, connected", Result{Class: verdict.Connected, Success: true}, blocked, false, false},
		{"blocked, refused", Result{Class: verdict.Refused}, blocked, false, false},
		{"blocked, error", Result{Class: verdict.Error}, blocked, false, false},
		{"reachable, refused", Result{Class: verdict.Refused}, reachable, true, true},
		{"reachable, closed_by_peer", Result{Class: verdict.ClosedByPeer}, reachable, true, true},
		{"reachable, connected, session failed", Result{Class: verdict.Connected, Failure: "expect timed out"}, reachable, false, true},
		{"reachable, firewall", Result{Class: verdict.Firewall}, reachable, false, false},
		{"refused by the policy", Result{Refusal: &policy.Refusal{}}, blocked, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.r
			r.judge(tc.e)
			if r.Success != tc.wantSuccess || r.Expected != tc.wantExpOK || r.Expectation != tc.e {
				t.Errorf("success %v expected %v expectation %q; want %v %v %q", r.Success, r.Expected, r.Expectation, tc.wantSuccess, tc.wantExpOK, tc.e)
			}
		})
	}
}
