package check

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	"github.com/tcp-verdict/tcp_verdict_exporter/prober"
)

// change is one target whose verdict differs from the baseline's, or that
// is new or gone: "" stands for "not in that run". Targets are told apart
// by target and module, for one file may probe a target with two modules.
type change struct {
	target, module, before, after string
	expectation                   string // now; "" when none or gone
	expected                      *bool  // now; nil when no expectation or gone
}

// readBaseline reads an earlier --output=json.
func readBaseline(path string) (*jsonReport, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading --baseline: %w", err)
	}
	var doc jsonReport
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("--baseline %s is not the JSON of check --output=json: %s", path, jsonError(data, err))
	}
	if doc.Results == nil {
		return nil, fmt.Errorf("--baseline %s has no results: give the output of check --output=json", path)
	}
	for i := range doc.Results {
		if doc.Results[i].Module == "" { // written before results named their module
			doc.Results[i].Module = doc.Module
		}
	}
	return &doc, nil
}

// outcome is a result's verdict in a change: its class, or "not probed"
// when the target policy refused it.
func outcome(class, refused string) string {
	if refused != "" {
		return "not probed"
	}
	return class
}

// diff lists what changed since the baseline: targets of this run in its
// order whose verdict differs, or that are new, then targets of the
// baseline that this run lacks, in the baseline's order.
func diff(base *jsonReport, p *plan, results []prober.Result) []change {
	type key struct{ target, module string }
	before := map[key]string{}
	for _, r := range base.Results {
		before[key{r.Target, r.Module}] = outcome(r.Class, r.Refused)
	}
	var out []change
	seen := map[key]bool{}
	for i := range results {
		r := &results[i]
		k := key{p.targets[i].text, p.targets[i].moduleName}
		seen[k] = true
		refused := ""
		if r.Refusal != nil {
			refused = r.Refusal.Error()
		}
		now := outcome(string(r.Class), refused)
		if was, ok := before[k]; ok && was == now {
			continue
		}
		out = append(out, change{target: k.target, module: k.module, before: before[k], after: now,
			expectation: r.Expectation.String(), expected: expected(r)})
	}
	for _, r := range base.Results {
		k := key{r.Target, r.Module}
		if !seen[k] {
			seen[k] = true
			out = append(out, change{target: k.target, module: k.module, before: outcome(r.Class, r.Refused)})
		}
	}
	return out
}

// String is the change in one line: target (module), before -> after, and
// whether the verdict now is the expected one.
func (c change) String() string {
	before, after := c.before, c.after
	if before == "" {
		before = "(new)"
	}
	if after == "" {
		after = "(gone)"
	}
	s := fmt.Sprintf("%s (module %s): %s -> %s", c.target, c.module, before, after)
	if c.expected != nil {
		held := "held"
		if !*c.expected {
			held = "NOT held"
		}
		s += fmt.Sprintf("; expected %s: %s", c.expectation, held)
	}
	return s
}
