package verdict

import (
	"strings"
	"testing"
)

func TestParseExpectation(t *testing.T) {
	for _, tc := range []struct {
		in, want string // want is the canonical form
		err      []string
	}{
		{in: "", want: ""},
		{in: " , ", want: ""},
		{in: "blocked", want: "firewall,unreachable"},
		{in: "reachable", want: "connected,closed_by_peer,refused"},
		{in: "refused, blocked", want: "refused,firewall,unreachable"},
		{in: "unreachable,firewall,firewall", want: "firewall,unreachable"},
		{in: "dns_error", want: "dns_error"},
		{in: "blok", err: []string{`unknown word "blok"`, "blocked (firewall,unreachable)", "reachable (connected,closed_by_peer,refused)", "connected, closed_by_peer"}},
		{in: "open,firewall,shut", err: []string{`unknown words "open", "shut"`}},
		{in: "Firewall", err: []string{`"Firewall"`}}, // class names are lower case, as on the metrics
	} {
		e, err := ParseExpectation(tc.in)
		if tc.err != nil {
			if err == nil {
				t.Errorf("ParseExpectation(%q) = %q, want an error", tc.in, e)
				continue
			}
			for _, w := range tc.err {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("ParseExpectation(%q) error %q does not contain %q", tc.in, err, w)
				}
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseExpectation(%q): %v", tc.in, err)
			continue
		}
		if e.String() != tc.want {
			t.Errorf("ParseExpectation(%q) = %q, want %q", tc.in, e, tc.want)
		}
		if e.IsSet() != (tc.want != "") {
			t.Errorf("ParseExpectation(%q).IsSet() = %v", tc.in, e.IsSet())
		}
		// The canonical form reads back to the same expectation.
		if back, err := ParseExpectation(e.String()); err != nil || back != e {
			t.Errorf("ParseExpectation(%q) = %v, %v; want %v", e.String(), back, err, e)
		}
	}
}

// The aliases split the classes a segmentation test tells apart: whether
// the SYN reached a TCP stack. They never share a class, and each alias's
// classes exist.
func TestAliases(t *testing.T) {
	b, r := AliasExpectation(AliasBlocked), AliasExpectation(AliasReachable)
	if b.Overlaps(r) {
		t.Errorf("blocked %q and reachable %q share a class", b, r)
	}
	for _, a := range Aliases {
		if len(AliasExpectation(a.Name).Classes()) != len(a.Classes) {
			t.Errorf("alias %s names a class the taxonomy lacks: %v", a.Name, a.Classes)
		}
	}
	if !r.Holds(Refused) || !b.Holds(Firewall) || b.Holds(Connected) || r.Holds(DNSError) {
		t.Errorf("aliases do not say what the issue asks: blocked %q, reachable %q", b, r)
	}
}

func TestExpectationHolds(t *testing.T) {
	e, _ := ParseExpectation("blocked")
	for _, c := range Classes {
		want := c.Class == Firewall || c.Class == Unreachable
		if e.Holds(c.Class) != want {
			t.Errorf("blocked.Holds(%s) = %v", c.Class, !want)
		}
	}
	if e.Holds("nonsense") {
		t.Error("an unknown class holds")
	}
	var none Expectation
	if none.Holds(Connected) || none.String() != "" {
		t.Error("no expectation holds something")
	}
}

// Any input parses or fails with an error, never a panic; what parses
// reads back from its canonical form to the same expectation, and holds
// exactly its classes.
func FuzzParseExpectation(f *testing.F) {
	for _, s := range []string{"", "blocked", "reachable,dns_error", " firewall , ", "blok", ",,", "error,error"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseExpectation(s)
		if err != nil {
			if e != 0 {
				t.Errorf("ParseExpectation(%q) failed but returned %q", s, e)
			}
			return
		}
		back, err := ParseExpectation(e.String())
		if err != nil || back != e {
			t.Errorf("ParseExpectation(%q) = %q, which reads back as %q, %v", s, e, back, err)
		}
		for _, c := range e.Classes() {
			if !e.Holds(c) {
				t.Errorf("%q does not hold its own class %s", e, c)
			}
		}
	})
}
