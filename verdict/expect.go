package verdict

import (
	"fmt"
	"strings"
)

// Expectation is the set of classes a probe is expected to find: a stated
// intent such as "this path must be blocked" (docs/expectations.md). The
// zero value is no expectation. It is a bit set over Classes' indexes, so
// that carrying one through a probe costs nothing.
type Expectation uint32

// ParseExpectation reads a comma-separated list of class names and
// aliases (Aliases), as /probe's expect parameter, a module's expect key
// and the check command's --expect take it. Blanks around words are
// ignored; an empty list is no expectation. Every unknown word is named in
// the error.
func ParseExpectation(s string) (Expectation, error) {
	var e Expectation
	var unknown []string
	for rest := s; rest != ""; { // Cut, not Split: /probe parses one per request
		var w string
		w, rest, _ = strings.Cut(rest, ",")
		w = strings.TrimSpace(w)
		if w == "" {
			continue
		}
		if i := Class(w).Index(); i >= 0 {
			e |= 1 << i
			continue
		}
		if cs := AliasClasses(w); cs != nil {
			e |= expectationOf(cs)
			continue
		}
		unknown = append(unknown, fmt.Sprintf("%q", w))
	}
	if len(unknown) > 0 {
		word := "word"
		if len(unknown) > 1 {
			word = "words"
		}
		return 0, fmt.Errorf("expect: unknown %s %s (use classes %s, or %s)", word, strings.Join(unknown, ", "),
			strings.Join(ClassNames(), ", "), aliasNames())
	}
	return e, nil
}

func aliasNames() string {
	names := make([]string, len(Aliases))
	for i, a := range Aliases {
		names[i] = fmt.Sprintf("%s (%s)", a.Name, expectationOf(a.Classes))
	}
	return strings.Join(names, " or ")
}

func expectationOf(cs []Class) Expectation {
	var e Expectation
	for _, c := range cs {
		if i := c.Index(); i >= 0 {
			e |= 1 << i
		}
	}
	return e
}

// ExpectationOf is the expectation of exactly the given classes.
func ExpectationOf(cs ...Class) Expectation { return expectationOf(cs) }

// AliasExpectation is the expectation of the named alias (0 when none).
func AliasExpectation(name string) Expectation { return expectationOf(AliasClasses(name)) }

// IsSet reports whether there is an expectation at all.
func (e Expectation) IsSet() bool { return e != 0 }

// Holds reports whether class c is one of the expected classes.
func (e Expectation) Holds(c Class) bool {
	i := c.Index()
	return i >= 0 && e&(1<<i) != 0
}

// Overlaps reports whether e and o share a class.
func (e Expectation) Overlaps(o Expectation) bool { return e&o != 0 }

// Classes lists the expected classes in taxonomy order.
func (e Expectation) Classes() []Class {
	var out []Class
	for i, c := range Classes {
		if e&(1<<i) != 0 {
			out = append(out, c.Class)
		}
	}
	return out
}

// String is the canonical form: the expected class names in taxonomy
// order, comma-separated, aliases spelled out ("" for none). It is the
// label value of tcp_verdict_expected and what the check command prints,
// so equal expectations always read the same.
func (e Expectation) String() string {
	if int(e) < len(expectationTexts) {
		return expectationTexts[e]
	}
	return e.text()
}

// expectationTexts holds every expectation's String, made once: /probe
// puts it in a label on every probe that has one.
var expectationTexts = func() []string {
	if len(Classes) > 10 {
		return nil // too many to list; String builds each
	}
	t := make([]string, 1<<len(Classes))
	for i := range t {
		t[i] = Expectation(i).text()
	}
	return t
}()

func (e Expectation) text() string {
	cs := e.Classes()
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = string(c)
	}
	return strings.Join(names, ",")
}
