package check

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testenv"
	"github.com/tcp-verdict/tcp_verdict_exporter/prober"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// Exit codes with an expected verdict: 0 only when it held, ExitUnexpected
// when it did not, whatever the class; error's own code when this host
// failed, for then nothing was judged.
func TestExpectExitCodes(t *testing.T) {
	blocked := verdict.AliasExpectation(verdict.AliasBlocked)
	reachable := verdict.AliasExpectation(verdict.AliasReachable)
	for _, tc := range []struct {
		r    prober.Result
		want int
	}{
		{prober.Result{Class: verdict.Firewall, Expectation: blocked, Expected: true, Success: true}, ExitOK},
		{prober.Result{Class: verdict.Connected, Expectation: blocked}, ExitUnexpected},
		{prober.Result{Class: verdict.Refused, Expectation: blocked}, ExitUnexpected},
		{prober.Result{Class: verdict.Firewall, Expectation: reachable}, ExitUnexpected},
		{prober.Result{Class: verdict.Refused, Expectation: reachable, Expected: true, Success: true}, ExitOK},
		{prober.Result{Class: verdict.Connected, Expectation: reachable, Expected: true, Failure: "expect timed out"}, ExitExpectFailed},
		{prober.Result{Class: verdict.Error, Expectation: blocked}, verdict.Error.Info().ExitCode},
	} {
		if got := ExitCode(&tc.r); got != tc.want {
			t.Errorf("%s expecting %s (expected %v): exit %d, want %d", tc.r.Class, tc.r.Expectation, tc.r.Expected, got, tc.want)
		}
	}
	if ExitUnexpected <= verdict.Error.Info().ExitCode || ExitUnexpected > 125 {
		t.Errorf("ExitUnexpected %d must be above every class's code and below the signals'", ExitUnexpected)
	}
	if !strings.Contains(ExitStatusHelp(), fmt.Sprintf("%d a verdict was not the expected one", ExitUnexpected)) {
		t.Errorf("--help does not list %d: %s", ExitUnexpected, ExitStatusHelp())
	}
}

// --expect on loopback: a refused port is reachable, so "blocked" fails
// with ExitUnexpected, "reachable" holds with 0; the report says so.
func TestExpectOnLoopback(t *testing.T) {
	l := newLab(t)
	refused, open := l.refused(), l.silent()
	r := runCheck(t, Options{Targets: []string{refused, open}, Expect: "blocked", Timeout: time.Second})
	if r.code != ExitUnexpected {
		t.Errorf("expect blocked: exit %d, want %d\n%s", r.code, ExitUnexpected, r.stdout)
	}
	for _, want := range []string{"expected  firewall,unreachable: NOT held, found refused", "EXPECTED", "firewall,unreachable NOT HELD"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("text output lacks %q:\n%s", want, r.stdout)
		}
	}
	r = runCheck(t, Options{Targets: []string{refused, open}, Expect: "reachable", Timeout: time.Second})
	if r.code != ExitOK {
		t.Errorf("expect reachable: exit %d, want 0\n%s", r.code, r.stdout)
	}
	if !strings.Contains(r.stdout, "connected,closed_by_peer,refused held") {
		t.Errorf("table lacks the held expectation:\n%s", r.stdout)
	}
}

// writeFile writes a file under dir and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// A Prometheus file_sd file, JSON or YAML, gives each entry its module and
// expectation, from the plain labels or the __param_ ones; --expect and
// --module fill in for an entry that has none.
func TestTargetsFile(t *testing.T) {
	l := newLab(t)
	refused, open := l.refused(), l.silent()
	dir := t.TempDir()
	jsonFile := writeFile(t, dir, "targets.json", fmt.Sprintf(`[
  {"targets": [%q], "labels": {"module": "tcp", "expect": "reachable", "zone": "db"}},
  {"targets": [%q], "labels": {"__param_expect": "refused"}},
  {"targets": [%q], "labels": {"module": "tcp"}}
]`, open, refused, open))
	yamlFile := writeFile(t, dir, "targets.yml", fmt.Sprintf(`
- targets: [%q]
  labels: {module: tcp, expect: reachable}
- targets: [%q]
  labels: {__param_expect: refused}
- targets: [%q]
  labels: {module: tcp}
`, open, refused, open))
	for _, file := range []string{jsonFile, yamlFile} {
		t.Run(filepath.Ext(file), func(t *testing.T) {
			r := runCheck(t, Options{TargetsFile: file, Expect: "blocked", Output: OutputJSON, Timeout: time.Second})
			var doc jsonReport
			if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
				t.Fatalf("%v\n%s%s", err, r.stdout, r.stderr)
			}
			if len(doc.Results) != 3 {
				t.Fatalf("%d results, want 3", len(doc.Results))
			}
			// The third entry has no expect: --expect's blocked, which an
			// open port breaks.
			for i, want := range []struct {
				expectation string
				expected    bool
			}{{"connected,closed_by_peer,refused", true}, {"refused", true}, {"firewall,unreachable", false}} {
				res := doc.Results[i]
				if res.Expectation != want.expectation || res.Expected == nil || *res.Expected != want.expected || res.Module != "tcp" {
					t.Errorf("result %d (%s): module %q expectation %q expected %v; want tcp %q %v", i, res.Target, res.Module, res.Expectation, res.Expected, want.expectation, want.expected)
				}
			}
			if r.code != ExitUnexpected || doc.ExitCode != ExitUnexpected {
				t.Errorf("exit %d (JSON %d), want %d", r.code, doc.ExitCode, ExitUnexpected)
			}
		})
	}
}

// Bad target files and expectations: exit 2, one line naming the file and
// the entry, nothing probed.
func TestTargetsFileErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, file, content string
		want                []string
	}{
		{"bad JSON", "a.json", "[\n  {\"targets\": [\"db:5432\"],\n  \"labels\": {\"expect\": \"blocked\",}}\n]", []string{"a.json: parsing JSON: line 3"}},
		{"bad YAML", "b.yml", "- targets: [db:5432\n  labels: {}\n", []string{"b.yml: parsing YAML: line"}},
		{"unknown field", "c.yaml", "- targets: [\"db:5432\"]\n  lables: {expect: blocked}\n", []string{"c.yaml: parsing YAML: line 2: field lables not found"}},
		{"missing port", "d.json", `[{"targets": ["db.example.net"], "labels": {"expect": "blocked"}}]`, []string{`d.json: entry 1, target "db.example.net": `, "has no port"}},
		{"unknown class", "e.yml", "- targets: ['127.0.0.1:5432']\n- targets: ['127.0.0.1:22']\n  labels: {expect: 'blocked,opne'}\n", []string{`e.yml: entry 2, target "127.0.0.1:22": expect: unknown word "opne"`}},
		{"unknown module", "f.json", `[{"targets": ["127.0.0.1:1"], "labels": {"module": "tpc"}}]`, []string{`f.json: entry 1, target "127.0.0.1:1": unknown module "tpc"`, "has: "}},
		{"no targets", "g.json", `[{"labels": {"module": "tcp"}}]`, []string{"g.json: entry 1: no targets"}},
		{"wrong extension", "h.txt", `[]`, []string{"h.txt: a targets file ends in .json, .yml or .yaml"}},
		{"empty", "i.yml", "", []string{"i.yml: the file is empty"}},
		{"not a list", "j.json", `{"targets": ["127.0.0.1:1"]}`, []string{"j.json: parsing JSON: line 1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runCheck(t, Options{TargetsFile: writeFile(t, dir, c.file, c.content)})
			if r.code != ExitBadInput || r.stdout != "" {
				t.Errorf("exit %d, stdout %q; want %d and nothing probed", r.code, r.stdout, ExitBadInput)
			}
			if strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("stderr is not one line: %q", r.stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr %q lacks %q", r.stderr, w)
				}
			}
		})
	}
	r := runCheck(t, Options{Targets: []string{"127.0.0.1:1"}, Expect: "open,shut"})
	if r.code != ExitBadInput || !strings.Contains(r.stderr, `--expect: unknown words "open", "shut"`) {
		t.Errorf("bad --expect: exit %d, stderr %q", r.code, r.stderr)
	}
	r = runCheck(t, Options{Targets: []string{"127.0.0.1:1"}, Baseline: writeFile(t, dir, "base.json", "{not json")})
	if r.code != ExitBadInput || !strings.Contains(r.stderr, "base.json is not the JSON of check --output=json") {
		t.Errorf("bad --baseline: exit %d, stderr %q", r.code, r.stderr)
	}
}

// --baseline: the second run names what changed since the first (a port
// that was refused now answers), in every output, and nothing when
// nothing changed.
func TestBaseline(t *testing.T) {
	l := newLab(t)
	open := l.silent()
	dir := t.TempDir()
	// The first run saw the open port refused and a target this run lacks.
	base := writeFile(t, dir, "before.json", fmt.Sprintf(`{"module": "tcp", "exit_code": 5, "results": [
  {"target": %q, "module": "tcp", "class": "refused", "refused": ""},
  {"target": "127.0.0.1:9", "module": "tcp", "class": "firewall", "refused": ""}]}`, open))
	want := fmt.Sprintf("%s (module tcp): refused -> connected; expected firewall,unreachable: NOT held", open)
	gone := "127.0.0.1:9 (module tcp): firewall -> (gone)"
	for _, out := range []string{OutputText, OutputJSON, OutputJUnit, OutputTAP} {
		r := runCheck(t, Options{Targets: []string{open}, Expect: "blocked", Baseline: base, Output: out, Timeout: time.Second})
		if r.code != ExitUnexpected {
			t.Errorf("%s: exit %d, want %d", out, r.code, ExitUnexpected)
		}
		if out == OutputJSON {
			var doc jsonReport
			if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
				t.Fatal(err)
			}
			if len(doc.Changes) != 2 || doc.Changes[0].Before != "refused" || doc.Changes[0].After != "connected" || doc.Changes[1].After != "" {
				t.Errorf("json changes %+v", doc.Changes)
			}
			continue
		}
		for _, w := range []string{want, gone} {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("%s output lacks %q:\n%s", out, w, r.stdout)
			}
		}
	}
	// The same run twice: no change.
	first := runCheck(t, Options{Targets: []string{open}, Output: OutputJSON, Timeout: time.Second})
	same := writeFile(t, dir, "same.json", first.stdout)
	r := runCheck(t, Options{Targets: []string{open}, Baseline: same, Timeout: time.Second})
	if !strings.Contains(r.stdout, "No change since "+same) {
		t.Errorf("no change not reported:\n%s", r.stdout)
	}
}

// The JUnit output is read by a real consumer, Debian's python3-junitparser
// (CI installs it): its `verify` fails on the failing testcase and passes
// on the held one, and its parser finds each testcase's name, failure type
// and message as written.
func TestJUnitReadByJunitparser(t *testing.T) {
	testenv.NeedTools(t, "/usr/bin/python3")
	if err := exec.Command("/usr/bin/python3", "-c", "import junitparser").Run(); err != nil {
		testenv.Skip(t, "python3-junitparser is not installed (apt-get install python3-junitparser)")
	}
	l := newLab(t)
	refused, open := l.refused(), l.silent()
	dir := t.TempDir()
	file := writeFile(t, dir, "targets.yml", fmt.Sprintf("- targets: [%q]\n  labels: {expect: blocked}\n- targets: [%q]\n  labels: {expect: reachable}\n", open, refused))
	r := runCheck(t, Options{TargetsFile: file, Output: OutputJUnit, Timeout: time.Second})
	if r.code != ExitUnexpected {
		t.Errorf("exit %d, want %d", r.code, ExitUnexpected)
	}
	report := writeFile(t, dir, "report.xml", r.stdout)
	if err := exec.Command("/usr/bin/python3", "-m", "junitparser", "verify", report).Run(); err == nil {
		t.Errorf("junitparser verify passed a report with a breach:\n%s", r.stdout)
	}
	const read = `import sys, junitparser
xml = junitparser.JUnitXml.fromfile(sys.argv[1])
for suite in xml:
    print("suite", suite.name, suite.tests, suite.failures, suite.errors)
    for case in suite:
        outcome = "passed" if case.is_passed else ";".join("%s:%s:%s" % (type(r).__name__, r.type, r.message) for r in case.result)
        print("case", case.classname, "|", case.name, "|", outcome)
`
	out, err := exec.Command("/usr/bin/python3", "-c", read, report).CombinedOutput()
	if err != nil {
		t.Fatalf("junitparser: %v\n%s", err, out)
	}
	for _, w := range []string{
		"suite " + JUnitSuiteName + " 2 1 0",
		fmt.Sprintf("case tcp_verdict.tcp | %s expect firewall,unreachable | Failure:unexpected:expected firewall,unreachable, found connected (syn-ack from 127.0.0.1", open),
		fmt.Sprintf("case tcp_verdict.tcp | %s expect connected,closed_by_peer,refused | passed", refused),
	} {
		if !strings.Contains(string(out), w) {
			t.Errorf("junitparser read lacks %q:\n%s", w, out)
		}
	}
	held := runCheck(t, Options{Targets: []string{refused}, Expect: "reachable", Output: OutputJUnit, Timeout: time.Second})
	if err := exec.Command("/usr/bin/python3", "-m", "junitparser", "verify", writeFile(t, dir, "held.xml", held.stdout)).Run(); err != nil || held.code != ExitOK {
		t.Errorf("a held expectation: exit %d, junitparser verify: %v\n%s", held.code, err, held.stdout)
	}
}

// The TAP output is read by a real consumer, Perl's prove (TAP::Harness):
// it fails on the breach and passes on the held expectation.
func TestTAPReadByProve(t *testing.T) {
	testenv.NeedTools(t, "prove")
	l := newLab(t)
	refused, open := l.refused(), l.silent()
	dir := t.TempDir()
	prove := func(tap string) (string, error) {
		out, err := exec.Command("prove", "-v", "--exec", "cat", writeFile(t, dir, "out.tap", tap)).CombinedOutput()
		return string(out), err
	}
	r := runCheck(t, Options{Targets: []string{open, refused}, Expect: "blocked", Output: OutputTAP, Timeout: time.Second})
	out, err := prove(r.stdout)
	if err == nil || !strings.Contains(out, "Failed 2/2 subtests") {
		t.Errorf("prove passed two breaches (%v):\n%s\n%s", err, r.stdout, out)
	}
	r = runCheck(t, Options{Targets: []string{refused}, Expect: "refused", Output: OutputTAP, Timeout: time.Second})
	if out, err := prove(r.stdout); err != nil || !strings.Contains(out, "Result: PASS") || r.code != ExitOK {
		t.Errorf("prove failed a held expectation (exit %d, %v):\n%s\n%s", r.code, err, r.stdout, out)
	}
}
