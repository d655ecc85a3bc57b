package handler_test

// Benchmarks of the whole /probe handler (query parsing, the probe, the
// per-request registry and the encoding), beside a bare net.Dial + Close
// to the same loopback listener in the same run. scripts/bench.sh runs them
// and prints the ratios; scripts/loadtest.sh measures the served exporter.
//
// The listener accepts in a loop, waits for the dialler's FIN and answers
// it with an RST, so no TIME_WAIT sockets pile up; see benchtarget.

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/promslog"

	"github.com/tcp-verdict/tcp_verdict_exporter/bench/benchtarget"
	"github.com/tcp-verdict/tcp_verdict_exporter/collector"
	"github.com/tcp-verdict/tcp_verdict_exporter/config"
	"github.com/tcp-verdict/tcp_verdict_exporter/handler"
	"github.com/tcp-verdict/tcp_verdict_exporter/history"
	"github.com/tcp-verdict/tcp_verdict_exporter/limits"
)

// promAccept is what Prometheus 3 sends when it scrapes (default
// scrape_protocols), with Accept-Encoding: gzip.
const promAccept = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6," +
	"application/openmetrics-text;version=0.0.1;q=0.5," +
	"text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4," +
	"text/plain;version=0.0.4;q=0.3,*/*;q=0.2"

// benchHandler is the /probe handler as main.go wires it, with the shipped
// config.yml, an info-level logger writing nowhere, the default history
// and the limits derived as for an unknown RLIMIT_NOFILE.
func benchHandler(b *testing.B) *handler.Probe {
	b.Helper()
	data, err := os.ReadFile("../config.yml")
	if err != nil {
		b.Fatal(err)
	}
	store, err := config.NewStore("", data)
	if err != nil {
		b.Fatal(err)
	}
	m, err := store.Get().Lookup("tcp_connect")
	if err != nil {
		b.Fatal(err)
	}
	if m.TCP.Hold != 0 {
		b.Fatalf("module tcp_connect has hold %s; the benchmark needs 0s", m.TCP.Hold)
	}
	return &handler.Probe{
		Store:         store,
		Exporter:      collector.NewExporter(prometheus.NewRegistry(), store),
		Logger:        promslog.New(&promslog.Config{Writer: io.Discard}),
		TimeoutOffset: 500 * time.Millisecond,
		History:       history.New(history.DefaultLimit),
		Limits:        limits.New(limits.Derive(0, 0, 0, 0)),
	}
}

// scrape is one kind of /probe request.
type scrape struct {
	name   string
	query  string // added to target=...&module=tcp_connect
	header http.Header
	want   string // a line the answer must hold
}

var scrapes = []scrape{
	{name: "plain", want: "tcp_verdict{class=\"connected\"} 1\n"},
	{name: "prometheus", header: http.Header{
		"Accept":                              {promAccept},
		"Accept-Encoding":                     {"gzip"},
		"X-Prometheus-Scrape-Timeout-Seconds": {"10"},
	}}, // gzip: checked by status only
	{name: "debug", query: "&debug=true", want: "Connected to 127.0.0.1."},
	// An expected verdict: one more series, parsed and judged per probe.
	{name: "expect", query: "&expect=reachable", want: "tcp_verdict_expected{expectation=\"connected,closed_by_peer,refused\"} 1\n"},
}

func newRequest(addr string, s scrape) *http.Request {
	r := httptest.NewRequest(http.MethodGet,
		"/probe?target="+url.QueryEscape(addr)+"&module=tcp_connect"+s.query, nil)
	for k, v := range s.header {
		r.Header[k] = v
	}
	return r
}

// serve runs one request and checks the answer.
func serve(h http.Handler, addr string, s scrape) error {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, newRequest(addr, s))
	if w.Code != http.StatusOK || !bytes.Contains(w.Body.Bytes(), []byte(s.want)) {
		return fmt.Errorf("%s: status %d, answer lacks %q:\n%s", s.name, w.Code, s.want, w.Body.String())
	}
	return nil
}

func BenchmarkBareDial(b *testing.B) { benchtarget.BenchBareDial(b) }

// BenchmarkProbeHandler serves /probe through the handler: plain (a bare
// GET, text format), prometheus (Prometheus's Accept and gzip headers),
// debug (debug=true: transcript and text report) and expect (a plain GET
// with an expected verdict).
func BenchmarkProbeHandler(b *testing.B) {
	for _, s := range scrapes {
		b.Run(s.name, func(b *testing.B) {
			h := benchHandler(b)
			addr := benchtarget.Listener(b)
			benchtarget.Loop(b, func() error { return serve(h, addr, s) })
		})
	}
}

// BenchmarkProbeHandlerVsBareDial interleaves one bare dial and one plain
// /probe per iteration (alternating which goes first) and times each, so
// both figures come from the same moments. rate-vs-bare is bare ns /
// handler ns: the /probe rate as a fraction of the bare-dial rate (target
// ≥ 0.5).
func BenchmarkProbeHandlerVsBareDial(b *testing.B) {
	h := benchHandler(b)
	addr := benchtarget.Listener(b)
	benchtarget.VsBareDial(b, addr, func() error { return serve(h, addr, scrapes[0]) })
}

// The parallel pair measures throughput with benchtarget.Parallelism
// goroutines per CPU, as the load test does with many concurrent scrapes.
func BenchmarkBareDialParallel(b *testing.B) { benchtarget.BenchBareDialParallel(b) }

func BenchmarkProbeHandlerParallel(b *testing.B) {
	h := benchHandler(b)
	addr := benchtarget.Listener(b)
	benchtarget.LoopParallel(b, func() error {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, newRequest(addr, scrapes[0]))
		if w.Code != http.StatusOK {
			return fmt.Errorf("status %d: %s", w.Code, w.Body.String())
		}
		return nil
	})
}
