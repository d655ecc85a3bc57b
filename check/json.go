package check

import (
	"encoding/json"
	"io"

	"github.com/tcp-verdict/tcp_verdict_exporter/prober"
	"github.com/tcp-verdict/tcp_verdict_exporter/report"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// The JSON document; the package comment documents it field by field.
type jsonReport struct {
	Module   string       `json:"module"`
	ExitCode int          `json:"exit_code"`
	Results  []jsonResult `json:"results"`
	Changes  []jsonChange `json:"changes"`
}

// jsonChange is one change since the baseline (--baseline).
type jsonChange struct {
	Target      string `json:"target"`
	Module      string `json:"module"`
	Before      string `json:"before"`
	After       string `json:"after"`
	Expectation string `json:"expectation"`
	Expected    *bool  `json:"expected"`
}

type jsonResult struct {
	Target           string             `json:"target"`
	Module           string             `json:"module"`
	Expectation      string             `json:"expectation"`
	Expected         *bool              `json:"expected"`
	Class            string             `json:"class"`
	Reason           string             `json:"reason"`
	Responder        string             `json:"responder"`
	Success          bool               `json:"success"`
	ExitCode         int                `json:"exit_code"`
	Address          string             `json:"address"`
	Source           string             `json:"source"`
	IPProtocol       int                `json:"ip_protocol"`
	DurationSeconds  float64            `json:"duration_seconds"`
	Phases           map[string]float64 `json:"phases"`
	Banner           string             `json:"banner"`
	FailedDueToRegex bool               `json:"failed_due_to_regex"`
	Failure          string             `json:"failure"`
	FailurePhase     string             `json:"failure_phase"`
	FailureCause     string             `json:"failure_cause"`
	ExpectLabels     map[string]string  `json:"expect_labels"`
	ICMP             *jsonICMP          `json:"icmp"`
	Trace            *jsonTrace         `json:"trace"`
	Addresses        []jsonAddress      `json:"addresses"`
	Host             *jsonHost          `json:"host"`
	Intermittent     bool               `json:"intermittent"`
	AttemptCounts    map[string]int     `json:"attempt_counts"`
	Attempts         []jsonAttempt      `json:"attempts"`
	SynRetransmits   int                `json:"syn_retransmits"`
	Error            string             `json:"error"`
	Refused          string             `json:"refused"`
	Evidence         string             `json:"evidence"`
	Meaning          string             `json:"meaning"`
	Ambiguity        string             `json:"ambiguity"`
	Owner            string             `json:"owner"`
	Ask              string             `json:"ask"`
	Transcript       []string           `json:"transcript"`
}

// jsonAddress is one address's verdict (tcp.addresses: all), with the
// field names of the result's own.
type jsonAddress struct {
	Address         string  `json:"address"`
	Class           string  `json:"class"`
	Reason          string  `json:"reason"`
	Responder       string  `json:"responder"`
	Success         bool    `json:"success"`
	DurationSeconds float64 `json:"duration_seconds"`
	Failure         string  `json:"failure"`
	Error           string  `json:"error"`
}

func newJSONAddresses(r *prober.Result) []jsonAddress {
	if r.Addresses == nil {
		return nil
	}
	out := make([]jsonAddress, len(r.Addresses))
	for i, a := range r.Addresses {
		out[i] = jsonAddress{Address: a.Addr.String(), Class: string(a.Class), Reason: string(a.Reason),
			Responder: addrText(a.Responder.IsValid(), a.Responder.String), Success: a.Success,
			DurationSeconds: a.Duration.Seconds(), Failure: a.Failure}
		if a.Err != nil && a.Class != verdict.Connected {
			out[i].Error = a.Err.Error()
		}
	}
	return out
}

// jsonAttempt is one attempt's verdict (tcp.attempts > 1).
type jsonAttempt struct {
	Source          string  `json:"source"`
	Class           string  `json:"class"`
	Reason          string  `json:"reason"`
	Responder       string  `json:"responder"`
	Success         bool    `json:"success"`
	SynRetransmits  int     `json:"syn_retransmits"`
	ConnectSeconds  float64 `json:"connect_seconds"`
	DurationSeconds float64 `json:"duration_seconds"`
	Error           string  `json:"error"`
}

func newJSONAttempts(r *prober.Result) (map[string]int, []jsonAttempt) {
	counts := make(map[string]int, len(verdict.Classes))
	n := r.AttemptCounts()
	for i, ci := range verdict.Classes {
		counts[string(ci.Class)] = n[i]
	}
	if r.Attempts == nil {
		return counts, nil
	}
	out := make([]jsonAttempt, len(r.Attempts))
	for i, a := range r.Attempts {
		out[i] = jsonAttempt{Source: addrText(a.Source.IsValid(), a.Source.String), Class: string(a.Class), Reason: string(a.Reason),
			Responder: addrText(a.Responder.IsValid(), a.Responder.String), Success: a.Success, SynRetransmits: a.SynRetransmits,
			ConnectSeconds: a.Connect.Seconds(), DurationSeconds: a.Duration.Seconds()}
		if a.Err != nil && a.Class != verdict.Connected {
			out[i].Error = a.Err.Error()
		}
	}
	return counts, out
}

type jsonICMP struct {
	Protocol string `json:"protocol"`
	Type     uint8  `json:"type"`
	Code     uint8  `json:"code"`
	Offender string `json:"offender"`
}

// jsonTrace is the path trace; its first four fields are the tcp_trace_*
// metrics' values.
type jsonTrace struct {
	HopsAnswered   int       `json:"hops_answered"`
	LastHop        int       `json:"last_hop"`
	LastHopAddress string    `json:"last_hop_address"`
	LastHopReason  string    `json:"last_hop_reason"`
	Path           string    `json:"path"`
	Hops           []jsonHop `json:"hops"`
}

type jsonHop struct {
	TTL        int       `json:"ttl"`
	Address    string    `json:"address"`
	RTTSeconds float64   `json:"rtt_seconds"`
	Reason     string    `json:"reason"`
	Answer     string    `json:"answer"`
	Reached    bool      `json:"reached"`
	ICMP       *jsonICMP `json:"icmp"`
}

func newJSONICMP(i *verdict.ICMP) *jsonICMP {
	if i == nil {
		return nil
	}
	return &jsonICMP{Protocol: i.Protocol(), Type: i.Type, Code: i.Code, Offender: i.Offender.String()}
}

func newJSONTrace(r *prober.Result) *jsonTrace {
	if len(r.Hops) == 0 {
		return nil
	}
	j := &jsonTrace{HopsAnswered: r.HopsAnswered(), Path: report.Path(r)}
	if h, ok := r.LastHop(); ok {
		j.LastHop, j.LastHopAddress, j.LastHopReason = h.TTL, h.Addr.String(), string(h.Reason)
	}
	j.Hops = newJSONHops(r.Hops)
	return j
}

// jsonHost is the host check (tcp.control_ports): its first fields are
// the tcp_host_* metrics' values.
type jsonHost struct {
	Tried        bool          `json:"tried"`
	Up           bool          `json:"up"`
	HostHops     int           `json:"host_hops"`
	ResetHops    int           `json:"reset_hops"`
	HostPort     int           `json:"host_port"`
	Note         string        `json:"note"`
	Skipped      string        `json:"skipped"`
	Error        string        `json:"error"`
	ControlPorts []jsonControl `json:"control_ports"`
	ResetTrace   []jsonHop     `json:"reset_trace"`
	HostTrace    []jsonHop     `json:"host_trace"`
}

type jsonControl struct {
	Port   int    `json:"port"`
	Reason string `json:"reason"`
	From   string `json:"from"`
	Host   bool   `json:"host"`
}

func newJSONHops(hops []prober.Hop) []jsonHop {
	if hops == nil {
		return nil
	}
	out := make([]jsonHop, len(hops))
	for i, h := range hops {
		out[i] = jsonHop{TTL: h.TTL, Address: addrText(h.Addr.IsValid(), h.Addr.String), RTTSeconds: h.RTT.Seconds(),
			Reason: string(h.Reason), Answer: h.Answer(), Reached: h.Reached, ICMP: newJSONICMP(h.ICMP)}
	}
	return out
}

func newJSONHost(r *prober.Result) *jsonHost {
	h := r.Host
	if h == nil {
		return nil
	}
	j := &jsonHost{Tried: h.Tried, Up: h.Up, HostHops: h.HostHops, ResetHops: h.ResetHops, HostPort: int(h.HostPort),
		Note: h.Note, Skipped: string(h.Skipped), ResetTrace: newJSONHops(h.ResetTrace), HostTrace: newJSONHops(h.HostTrace)}
	if h.Err != nil {
		j.Error = h.Err.Error()
	}
	for _, a := range h.Ports {
		j.ControlPorts = append(j.ControlPorts, jsonControl{Port: int(a.Port), Reason: string(a.Reason),
			From: addrText(a.From.IsValid(), a.From.String), Host: a.Host})
	}
	return j
}

func newJSONResult(target, module string, r *prober.Result) jsonResult {
	e := report.Explain(r)
	j := jsonResult{
		Target:           target,
		Module:           module,
		Expectation:      r.Expectation.String(),
		Expected:         expected(r),
		Class:            string(r.Class),
		Reason:           string(r.Reason),
		Responder:        addrText(r.Responder.IsValid(), r.Responder.String),
		Success:          r.Success,
		ExitCode:         ExitCode(r),
		Address:          addrText(r.Addr.IsValid(), r.Addr.String),
		Source:           addrText(r.Source.IsValid(), r.Source.String),
		IPProtocol:       r.IPProtocol,
		DurationSeconds:  r.Duration.Seconds(),
		Phases:           make(map[string]float64, len(r.Phases)),
		Banner:           r.Banner,
		FailedDueToRegex: r.FailedDueToRegex,
		Failure:          r.Failure,
		ExpectLabels:     make(map[string]string, len(r.ExpectLabels)),
		Evidence:         e.Evidence,
		Meaning:          e.Meaning,
		Ambiguity:        e.Ambiguity,
		Owner:            e.Owner,
		Ask:              e.Ask,
		ICMP:             newJSONICMP(r.ICMP),
		Trace:            newJSONTrace(r),
		Addresses:        newJSONAddresses(r),
		Host:             newJSONHost(r),
		Transcript:       make([]string, 0, len(r.Transcript)),
	}
	j.Intermittent, j.SynRetransmits = r.Intermittent(), r.SynRetransmits
	j.AttemptCounts, j.Attempts = newJSONAttempts(r)
	if r.Cause != "" {
		j.FailureCause, j.FailurePhase = string(r.Cause), r.Cause.Info().Phase
	}
	for _, p := range r.Phases {
		j.Phases[string(p.Phase)] = p.Duration.Seconds()
	}
	for _, l := range r.ExpectLabels {
		j.ExpectLabels[l.Name] = l.Value
	}
	if r.Err != nil && r.Class != verdict.Connected {
		j.Error = r.Err.Error()
	}
	if r.Refusal != nil {
		j.Refused = r.Refusal.Error()
	}
	for _, l := range r.Transcript {
		j.Transcript = append(j.Transcript, l.Text)
	}
	return j
}

func addrText(valid bool, s func() string) string {
	if !valid {
		return ""
	}
	return s()
}

func writeJSON(w io.Writer, p *plan, results []prober.Result, changes []change) error {
	doc := jsonReport{Module: p.moduleName, ExitCode: ExitStatus(results), Results: make([]jsonResult, len(results))}
	for i := range results {
		doc.Results[i] = newJSONResult(p.targets[i].text, p.targets[i].moduleName, &results[i])
	}
	if p.baseline != nil {
		doc.Changes = make([]jsonChange, len(changes))
		for i, c := range changes {
			doc.Changes[i] = jsonChange{Target: c.target, Module: c.module, Before: c.before, After: c.after,
				Expectation: c.expectation, Expected: c.expected}
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // banners and transcripts hold '<' and '>'
	return enc.Encode(doc)
}

// expected is a result's verdict held against its expectation: null when
// it has none, or the target policy refused it.
func expected(r *prober.Result) *bool {
	if !r.Expectation.IsSet() || r.Refusal != nil {
		return nil
	}
	v := r.Expected
	return &v
}
