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
}

type jsonResult struct {
	Target           string             `json:"target"`
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
	ExpectLabels     map[string]string  `json:"expect_labels"`
	ICMP             *jsonICMP          `json:"icmp"`
	Error            string             `json:"error"`
	Evidence         string             `json:"evidence"`
	Meaning          string             `json:"meaning"`
	Ambiguity        string             `json:"ambiguity"`
	Owner            string             `json:"owner"`
	Ask              string             `json:"ask"`
	Transcript       []string           `json:"transcript"`
}

type jsonICMP struct {
	Protocol string `json:"protocol"`
	Type     uint8  `json:"type"`
	Code     uint8  `json:"code"`
	Offender string `json:"offender"`
}

func newJSONResult(target string, r *prober.Result) jsonResult {
	ci, ri := r.Class.Info(), r.Reason.Info()
	j := jsonResult{
		Target:           target,
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
		Evidence:         ri.Evidence,
		Meaning:          ri.Meaning,
		Ambiguity:        ri.Ambiguity,
		Owner:            ci.Owner,
		Ask:              report.Ask(ci, r),
		Transcript:       make([]string, 0, len(r.Transcript)),
	}
	for _, p := range r.Phases {
		j.Phases[string(p.Phase)] = p.Duration.Seconds()
	}
	for _, l := range r.ExpectLabels {
		j.ExpectLabels[l.Name] = l.Value
	}
	if r.ICMP != nil {
		j.ICMP = &jsonICMP{Protocol: "icmp", Type: r.ICMP.Type, Code: r.ICMP.Code, Offender: r.ICMP.Offender.String()}
		if r.ICMP.V6 {
			j.ICMP.Protocol = "icmp6"
		}
	}
	if r.Err != nil && r.Class != verdict.Connected {
		j.Error = r.Err.Error()
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

func writeJSON(w io.Writer, module string, targets []string, results []prober.Result) error {
	doc := jsonReport{Module: module, ExitCode: ExitStatus(results), Results: make([]jsonResult, len(results))}
	for i := range results {
		doc.Results[i] = newJSONResult(targets[i], &results[i])
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // banners and transcripts hold '<' and '>'
	return enc.Encode(doc)
}
