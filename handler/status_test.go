package handler

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/tcp-verdict/tcp_verdict_exporter/history"
	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testnet"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

func serveGet(h http.Handler, url string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, url, nil))
	return rec
}

// tableRows returns the rows of the page's table with the given id, each
// row's cells as text (tags stripped).
func tableRows(t *testing.T, page, id string) [][]string {
	t.Helper()
	m := regexp.MustCompile(`(?s)<table id="` + id + `">.*?<tbody>(.*?)</tbody>`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no table %q in the page:\n%s", id, page)
	}
	tag := regexp.MustCompile(`<[^>]*>`)
	var rows [][]string
	for _, tr := range regexp.MustCompile(`(?s)<tr>(.*?)</tr>`).FindAllStringSubmatch(m[1], -1) {
		var cells []string
		for _, td := range regexp.MustCompile(`(?s)<td[^>]*>(.*?)</td>`).FindAllStringSubmatch(tr[1], -1) {
			cells = append(cells, tag.ReplaceAllString(td[1], ""))
		}
		rows = append(rows, cells)
	}
	return rows
}

// Four probes through /probe into a history of three: the page lists the
// last three, newest first, each verdict in its class's colour with a
// transcript link, and the current verdict per target with its since.
func TestStatusPageShowsRecentProbes(t *testing.T) {
	p, _ := newProbe(t)
	p.History = history.New(3)
	closing := testnet.Serve(t, "tcp4", "127.0.0.1:0", func(c *net.TCPConn) { _ = c.Close() })
	closed := testnet.ClosedPort(t, "tcp4", "127.0.0.1:0")
	for _, target := range []string{closed, closing, closed, closing} {
		if rec := get(t, p, "target="+target, nil); rec.Code != http.StatusOK {
			t.Fatalf("probe %s: status %d %s", target, rec.Code, rec.Body.String())
		}
	}
	status := &Status{History: p.History, Version: "1.2.3 (revision abc, built 2026-12-02 16:38 UTC)"}
	rec := serveGet(status, "/")
	page := rec.Body.String()
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("status %d, content type %q", rec.Code, rec.Header().Get("Content-Type"))
	}

	recent := tableRows(t, page, "recent")
	want := [][]string{
		{closing, "tcp", string(verdict.ClosedByPeer), string(verdict.Fin), "127.0.0.1", "#4"},
		{closed, "tcp", string(verdict.Refused), string(verdict.ConnRefused), "127.0.0.1", "#3"},
		{closing, "tcp", string(verdict.ClosedByPeer), string(verdict.Fin), "127.0.0.1", "#2"},
	}
	if len(recent) != len(want) {
		t.Fatalf("%d recent rows, want %d: %v", len(recent), len(want), recent)
	}
	for i, w := range want {
		r := recent[i]
		// Time | Target | Module | Verdict | Reason | Responder | Duration | Transcript
		got := []string{r[1], r[2], r[3], r[4], r[5], r[7]}
		if fmt.Sprint(got) != fmt.Sprint(w) {
			t.Errorf("recent row %d = %v, want %v", i, got, w)
		}
		if !regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$`).MatchString(r[0]) || r[6] == "" {
			t.Errorf("recent row %d: time %q, duration %q", i, r[0], r[6])
		}
	}
	for _, id := range []string{"4", "3", "2"} {
		if !strings.Contains(page, `<a href="transcript?id=`+id+`">`) {
			t.Errorf("no transcript link for probe %s", id)
		}
	}
	if strings.Contains(page, `transcript?id=1"`) {
		t.Error("the evicted probe 1 is still linked")
	}

	current := tableRows(t, page, "current")
	if len(current) != 2 || current[0][0] != closing || current[0][2] != string(verdict.ClosedByPeer) ||
		current[1][0] != closed || current[1][2] != string(verdict.Refused) {
		t.Fatalf("current verdicts %v, want %s closed_by_peer then %s refused", current, closing, closed)
	}

	// Colours: each verdict's badge has its class's colour from the
	// taxonomy's table.
	for _, c := range []verdict.Class{verdict.ClosedByPeer, verdict.Refused} {
		if !strings.Contains(page, `<span class="verdict v-`+string(c)+`">`+string(c)+`</span>`) {
			t.Errorf("no %s badge", c)
		}
		if !strings.Contains(page, ".v-"+string(c)+" { background: "+c.Colour().Hex+";") {
			t.Errorf("class %s is not drawn in %s", c, c.Colour().Hex)
		}
	}
	for _, w := range []string{"Version: 1.2.3 (revision abc, built 2026-12-02 16:38 UTC)", `name="target"`, `name="module"`} {
		if !strings.Contains(page, w) {
			t.Errorf("page lacks %q", w)
		}
	}
	if strings.Contains(page, "debug/pprof") {
		t.Error("pprof linked while it is off")
	}
	status.Pprof = true
	if page := serveGet(status, "/").Body.String(); !strings.Contains(page, `href="debug/pprof/heap"`) ||
		!strings.Contains(page, `href="debug/pprof/profile?seconds=30"`) {
		t.Error("pprof on, but not linked")
	}
	if rec := serveGet(status, "/nope"); rec.Code != http.StatusNotFound {
		t.Errorf("/nope: status %d, want 404", rec.Code)
	}
}

// A transcript link serves the probe's debug output, with the transcript
// when the probe ran with debug=true; an ID outside the history is 404.
func TestTranscript(t *testing.T) {
	p, _ := newProbe(t)
	p.History = history.New(2)
	closed := testnet.ClosedPort(t, "tcp4", "127.0.0.1:0")
	for _, q := range []string{"", "", "&debug=true"} { // probe 1 leaves the history
		if rec := get(t, p, "target="+closed+q, nil); rec.Code != http.StatusOK {
			t.Fatalf("probe: status %d %s", rec.Code, rec.Body.String())
		}
	}
	tr := &Transcript{History: p.History}
	cases := []struct {
		id     string
		status int
		want   []string
		absent []string
	}{
		{"2", http.StatusOK, []string{"Probe #2, ended ", "no transcript", "verdict   refused (conn-refused from 127.0.0.1",
			`tcp_verdict{class="refused"} 1`}, []string{"Trying"}},
		{"3", http.StatusOK, []string{"Probe #3, ended ", "Trying 127.0.0.1 port", "verdict   refused", "Metrics that would have been returned"},
			[]string{"no transcript"}},
		{"1", http.StatusNotFound, []string{"probe #1 is not in the history", "--history.limit=2"}, nil},
		{"4", http.StatusNotFound, []string{"probe #4 is not in the history"}, nil},
		{"0", http.StatusNotFound, nil, nil},
		{"x", http.StatusBadRequest, []string{`id="x" is not a probe number`}, nil},
		{"", http.StatusBadRequest, nil, nil},
	}
	for _, tc := range cases {
		t.Run("id="+tc.id, func(t *testing.T) {
			rec := serveGet(tr, "/transcript?id="+tc.id)
			body := rec.Body.String()
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, body)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("content type %q", ct)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("lacks %q:\n%s", w, body)
				}
			}
			for _, a := range tc.absent {
				if strings.Contains(body, a) {
					t.Errorf("holds %q:\n%s", a, body)
				}
			}
		})
	}
}

// --history.limit=0: probes still answer, the page says history is off
// and no transcript is found.
func TestHistoryOff(t *testing.T) {
	p, _ := newProbe(t)
	p.History = history.New(0)
	closed := testnet.ClosedPort(t, "tcp4", "127.0.0.1:0")
	if rec := get(t, p, "target="+closed, nil); rec.Code != http.StatusOK {
		t.Fatalf("probe: status %d", rec.Code)
	}
	page := serveGet(&Status{History: p.History}, "/").Body.String()
	if !strings.Contains(page, "history is off") || strings.Contains(page, "<table") {
		t.Errorf("page with history off:\n%s", page)
	}
	if rec := serveGet(&Transcript{History: p.History}, "/transcript?id=1"); rec.Code != http.StatusNotFound {
		t.Errorf("transcript with history off: status %d", rec.Code)
	}
}

func TestTextOn(t *testing.T) {
	cases := map[string]string{"#000000": "#fff", "#ffffff": "#000", "#fade2a": "#000", "#8f3bb8": "#fff", "#73bf69": "#000", "bogus": "#000"}
	for bg, want := range cases {
		if got := textOn(bg); got != want {
			t.Errorf("textOn(%s) = %s, want %s", bg, got, want)
		}
	}
}

// A target whose last probe has left the history keeps its current
// verdict, without a link that would be 404.
func TestCurrentVerdictOutlivesItsProbe(t *testing.T) {
	p, _ := newProbe(t)
	p.History = history.New(2)
	closed := testnet.ClosedPort(t, "tcp4", "127.0.0.1:0")
	other := testnet.ClosedPort(t, "tcp4", "127.0.0.1:0")
	for _, target := range []string{closed, other, other} {
		if rec := get(t, p, "target="+target, nil); rec.Code != http.StatusOK {
			t.Fatalf("probe: status %d", rec.Code)
		}
	}
	page := serveGet(&Status{History: p.History}, "/").Body.String()
	current := tableRows(t, page, "current")
	if len(current) != 2 || current[1][0] != closed {
		t.Fatalf("current verdicts %v, want %s second", current, closed)
	}
	if strings.Contains(page, `transcript?id=1"`) || !strings.Contains(page, `transcript?id=3"`) {
		t.Errorf("want a link to probe 3 and none to the evicted probe 1:\n%s", page)
	}
}
