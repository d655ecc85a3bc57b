package check

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"github.com/tcp-verdict/tcp_verdict_exporter/prober"
	"github.com/tcp-verdict/tcp_verdict_exporter/report"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// JUnit XML, as CI systems and change-management tools read it (the
// Ant/Surefire layout that most accept): one testsuite, one testcase per
// target. A testcase fails when its expectation did not hold (or, without
// one, when the probe failed), and is an error when nothing could be
// judged: the target policy refused it, or this host failed to probe.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name      string          `xml:"name,attr"`
	Tests     int             `xml:"tests,attr"`
	Failures  int             `xml:"failures,attr"`
	Errors    int             `xml:"errors,attr"`
	Time      string          `xml:"time,attr"`
	Cases     []junitCase     `xml:"testcase"`
	SystemOut *junitCharacter `xml:"system-out,omitempty"`
}

type junitCase struct {
	Name      string          `xml:"name,attr"`
	ClassName string          `xml:"classname,attr"`
	Time      string          `xml:"time,attr"`
	Failure   *junitProblem   `xml:"failure,omitempty"`
	Error     *junitProblem   `xml:"error,omitempty"`
	SystemOut *junitCharacter `xml:"system-out,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",cdata"`
}

type junitCharacter struct {
	Text string `xml:",cdata"`
}

// JUnitSuiteName names the suite; a testcase's classname is it and the
// module, so a report groups targets by module.
const JUnitSuiteName = "tcp_verdict_exporter check"

// Failure types of a testcase.
const (
	junitUnexpected     = "unexpected"         // the verdict was not the expected one
	junitSessionFailed  = "expectation-failed" // connected, but the session failed its own expectations
	junitFailedVerdict  = "verdict"            // no expectation, and the probe failed
	junitRefused        = "refused"            // the target policy refused it: not probed
	junitExporterFailed = "error"              // this host failed to probe
)

func junitCaseOf(target, module string, r *prober.Result) junitCase {
	name := target
	if r.Expectation.IsSet() {
		name += " expect " + r.Expectation.String()
	}
	c := junitCase{Name: name, ClassName: "tcp_verdict." + module, Time: seconds(r.Duration.Seconds())}
	if t := r.TranscriptText(); t != "" {
		c.SystemOut = &junitCharacter{Text: t}
	}
	detail := report.VerdictBlock(r)
	switch code := ExitCode(r); {
	case r.Refusal != nil:
		c.Error = &junitProblem{Message: "not probed: " + r.Refusal.Error(), Type: junitRefused, Text: detail}
	case r.Class == verdict.Error:
		c.Error = &junitProblem{Message: "this host failed to probe: " + r.Summary(), Type: junitExporterFailed, Text: detail}
	case code == ExitUnexpected:
		c.Failure = &junitProblem{Message: fmt.Sprintf("expected %s, found %s", r.Expectation, r.Summary()), Type: junitUnexpected, Text: detail}
	case code == ExitExpectFailed:
		c.Failure = &junitProblem{Message: "connected, but " + r.Failure, Type: junitSessionFailed, Text: detail}
	case code != ExitOK:
		c.Failure = &junitProblem{Message: r.Summary(), Type: junitFailedVerdict, Text: detail}
	}
	return c
}

func seconds(s float64) string { return fmt.Sprintf("%.3f", s) }

func writeJUnit(w io.Writer, p *plan, results []prober.Result, changes []change) error {
	suite := junitSuite{Name: JUnitSuiteName, Tests: len(results)}
	var total float64
	for i := range results {
		r := &results[i]
		c := junitCaseOf(p.targets[i].text, p.targets[i].moduleName, r)
		if c.Failure != nil {
			suite.Failures++
		}
		if c.Error != nil {
			suite.Errors++
		}
		total = max(total, r.Duration.Seconds()) // the probes run at once
		suite.Cases = append(suite.Cases, c)
	}
	suite.Time = seconds(total)
	if p.baseline != nil {
		var b strings.Builder
		if len(changes) == 0 {
			b.WriteString("No change since the baseline.\n")
		}
		for _, c := range changes {
			b.WriteString("changed: " + c.String() + "\n")
		}
		suite.SystemOut = &junitCharacter{Text: b.String()}
	}
	doc := junitSuites{Name: JUnitSuiteName, Tests: suite.Tests, Failures: suite.Failures, Errors: suite.Errors, Time: suite.Time, Suites: []junitSuite{suite}}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
