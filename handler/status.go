package handler

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tcp-verdict/tcp_verdict_exporter/config"
	"github.com/tcp-verdict/tcp_verdict_exporter/history"
	"github.com/tcp-verdict/tcp_verdict_exporter/report"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

//go:embed status.html
var statusHTML string

var statusPage = template.Must(template.New("status").Parse(statusHTML))

// classCSS gives each class's verdict badge its colour from the taxonomy's
// colour table, the dashboard's, with black or white text, whichever reads
// better on it.
var classCSS = func() template.CSS {
	var b strings.Builder
	for _, c := range verdict.Classes {
		bg := c.Class.Colour().Hex
		fmt.Fprintf(&b, ".v-%s { background: %s; color: %s; }\n", c.Class, bg, textOn(bg))
	}
	return template.CSS(b.String()) // trusted: built from the taxonomy's constants, not from input
}()

// textOn is black or white, whichever contrasts more with the "#rrggbb"
// background (WCAG 2's contrast ratio of relative luminances).
func textOn(hex string) string {
	v, err := strconv.ParseUint(strings.TrimPrefix(hex, "#"), 16, 32)
	if err != nil {
		return "#000"
	}
	lin := func(c uint64) float64 {
		s := float64(c) / 255
		if s <= 0.04045 {
			return s / 12.92
		}
		return math.Pow((s+0.055)/1.055, 2.4)
	}
	l := 0.2126*lin(v>>16&0xff) + 0.7152*lin(v>>8&0xff) + 0.0722*lin(v&0xff)
	if (l+0.05)/0.05 >= 1.05/(l+0.05) {
		return "#000"
	}
	return "#fff"
}

// Status serves the status page at /: links, the probe form, the current
// verdict of each recently probed target, the recent probes with links to
// their transcripts, and the profiles when they are served.
type Status struct {
	History *history.History
	Version string // the build's version line
	Pprof   bool   // --web.enable-pprof: link the profiles
}

// timeLayout shows probe times in UTC to the second, as the logs do.
const timeLayout = "2006-01-02 15:04:05Z"

type currentRow struct {
	Target, Module, Reason, Since, For, Last string
	Class                                    verdict.Class
	LastID                                   uint64
}

type recentRow struct {
	Time, Target, Module, Reason, Responder, Duration string
	Class                                             verdict.Class
	ID                                                uint64
}

func (s *Status) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	now := time.Now()
	data := struct {
		ClassCSS        template.CSS
		Version, Module string
		Pprof           bool
		Limit           int
		Current         []currentRow
		Recent          []recentRow
	}{ClassCSS: classCSS, Version: s.Version, Module: config.DefaultModuleName, Pprof: s.Pprof, Limit: s.History.Limit()}
	recent := s.History.Recent()
	for _, c := range s.History.Current() {
		if len(recent) == 0 || c.LastID < recent[len(recent)-1].ID {
			c.LastID = 0 // its last probe has left the history: no link
		}
		data.Current = append(data.Current, currentRow{Target: c.Target.String(), Module: c.Module, Class: c.Class,
			Reason: string(c.Reason), Since: c.Since.UTC().Format(timeLayout),
			For: report.Duration(now.Sub(c.Since).Truncate(time.Second)), Last: c.Last.UTC().Format(timeLayout), LastID: c.LastID})
	}
	for _, e := range recent {
		responder := "-"
		if e.Result.Responder.IsValid() {
			responder = e.Result.Responder.String()
		}
		data.Recent = append(data.Recent, recentRow{Time: e.Time.UTC().Format(timeLayout), Target: e.Result.Target.String(),
			Module: e.Module, Class: e.Result.Class, Reason: string(e.Result.Reason), Responder: responder,
			Duration: report.Duration(e.Result.Duration), ID: e.ID})
	}
	var b bytes.Buffer
	if err := statusPage.Execute(&b, data); err != nil {
		http.Error(w, "rendering the status page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(b.Bytes()) //nolint:errcheck // the client left; nothing to tell
}

// Transcript serves /transcript?id=N: a recorded probe's debug output,
// rendered now from its stored Result. An ID that was never handed out or
// has left the history is 404.
type Transcript struct {
	History *history.History
	// Disabled refuses every transcript with 403 (--web.disable-debug): it
	// shows the banner and what debug=true showed.
	Disabled bool
}

func (t *Transcript) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if t.Disabled {
		http.Error(w, "transcripts are disabled on this exporter (--web.disable-debug)", http.StatusForbidden)
		return
	}
	id, err := strconv.ParseUint(r.URL.Query().Get("id"), 10, 64)
	if err != nil {
		badRequest(w, fmt.Sprintf("id=%q is not a probe number", r.URL.Query().Get("id")))
		return
	}
	e, ok := t.History.Get(id)
	if !ok {
		http.Error(w, fmt.Sprintf("probe #%d is not in the history: it left it (the last --history.limit=%d probes are kept) or never was",
			id, t.History.Limit()), http.StatusNotFound)
		return
	}
	// The preface goes first, so the Content-Type is set here: writeDebug's
	// own comes after the body has begun and is ignored.
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "Probe #%d, ended %s\n", e.ID, e.Time.UTC().Format(timeLayout)) //nolint:errcheck // the client left
	if len(e.Result.Transcript) == 0 {
		fmt.Fprintln(w, "(no transcript: the probe ran without debug=true; the verdict and metrics below are from its result)") //nolint:errcheck // the client left
	}
	writeDebug(w, e.Module, &e.Result)
}
