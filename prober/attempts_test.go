package prober

import (
	"testing"

	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

func attemptProbes(classes ...verdict.Class) []*probe {
	subs := make([]*probe, len(classes))
	for i, c := range classes {
		subs[i] = &probe{}
		subs[i].res.Class = c
	}
	return subs
}

// The verdict of several attempts: theirs when they agree; else the
// failure most attempts met, ties going to the class first in the
// taxonomy; a connected attempt that failed its session before a clean one.
func TestPickAttempt(t *testing.T) {
	c, fw, ref, un := verdict.Connected, verdict.Firewall, verdict.Refused, verdict.Unreachable
	cases := []struct {
		name    string
		classes []verdict.Class
		want    int
	}{
		{"all connected", []verdict.Class{c, c, c}, 0},
		{"all firewall", []verdict.Class{fw, fw}, 0},
		{"half firewall", []verdict.Class{c, c, fw, c, fw}, 2},
		{"most failures win", []verdict.Class{fw, un, un, c}, 1},
		{"a tie goes to the taxonomy's order", []verdict.Class{un, fw, c}, 1},
		{"refused before firewall on a tie", []verdict.Class{fw, ref}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := pickAttempt(attemptProbes(tc.classes...), 0); got != tc.want {
				t.Errorf("pickAttempt(%v) = %d, want %d", tc.classes, got, tc.want)
			}
		})
	}
	subs := attemptProbes(c, c, c)
	subs[2].res.Failure = "query_response[0]: expected"
	if got := pickAttempt(subs, 0); got != 2 {
		t.Errorf("a connected attempt that failed its expectation: picked %d, want 2", got)
	}
}

// With an expected verdict, the probe's verdict is an attempt that breaks
// it, when one does: a probe expected blocked whose attempts partly connect
// reports connected (a breach), not the firewall most attempts met.
func TestPickAttemptWithAnExpectation(t *testing.T) {
	c, fw, ref, un := verdict.Connected, verdict.Firewall, verdict.Refused, verdict.Unreachable
	blocked := verdict.AliasExpectation(verdict.AliasBlocked)
	reachable := verdict.AliasExpectation(verdict.AliasReachable)
	cases := []struct {
		name    string
		expect  verdict.Expectation
		classes []verdict.Class
		want    int
	}{
		{"blocked, some connect", blocked, []verdict.Class{fw, fw, c, fw, c}, 2},
		{"blocked, some refused, more connect", blocked, []verdict.Class{fw, ref, c, c}, 2},
		{"blocked, all blocked", blocked, []verdict.Class{un, fw, fw}, 1},
		{"reachable, some dropped", reachable, []verdict.Class{c, c, fw, c}, 2},
		{"reachable, all connect", reachable, []verdict.Class{c, c}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			subs := attemptProbes(tc.classes...)
			got := pickAttempt(subs, tc.expect)
			if got != tc.want {
				t.Fatalf("pickAttempt(%v, %s) = %d, want %d", tc.classes, tc.expect, got, tc.want)
			}
			r := Result{Class: subs[got].res.Class}
			r.judge(tc.expect)
			for _, s := range subs {
				if !tc.expect.Holds(s.res.Class) && r.Expected {
					t.Errorf("attempt %s breaks %s, but the probe's verdict %s holds it", s.res.Class, tc.expect, r.Class)
				}
			}
		})
	}
}

// AttemptCounts counts every class, a single attempt's verdict once, a
// refused probe's nothing; Intermittent is more than one class.
func TestAttemptCounts(t *testing.T) {
	one := Result{Class: verdict.Firewall}
	if n := one.AttemptCounts(); n[verdict.Firewall.Index()] != 1 || sum(n) != 1 || one.Intermittent() {
		t.Errorf("one attempt: counts %v, intermittent %v", n, one.Intermittent())
	}
	var refused Result
	if n := refused.AttemptCounts(); sum(n) != 0 {
		t.Errorf("no verdict: counts %v, want none", n)
	}
	mixed := Result{Class: verdict.Firewall, Attempts: []AttemptResult{
		{Class: verdict.Connected}, {Class: verdict.Firewall}, {Class: verdict.Connected}, {Class: verdict.Firewall}, {Class: verdict.Firewall},
	}}
	n := mixed.AttemptCounts()
	if n[verdict.Connected.Index()] != 2 || n[verdict.Firewall.Index()] != 3 || sum(n) != 5 || !mixed.Intermittent() {
		t.Errorf("mixed: counts %v, intermittent %v; want 2 connected, 3 firewall, intermittent", n, mixed.Intermittent())
	}
	same := Result{Class: verdict.Connected, Attempts: []AttemptResult{{Class: verdict.Connected}, {Class: verdict.Connected}}}
	if same.Intermittent() {
		t.Error("all connected: intermittent")
	}
}

func sum(n []int) int {
	s := 0
	for _, v := range n {
		s += v
	}
	return s
}
