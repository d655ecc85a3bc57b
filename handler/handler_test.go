package handler

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tcp-verdict/tcp_verdict_exporter/collector"
	"github.com/tcp-verdict/tcp_verdict_exporter/config"
	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testnet"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

const testConfig = `modules:
  tcp:
    prober: tcp
    timeout: 2s
    tcp:
      preferred_ip_protocol: ip4
      hold: 50ms
  web:
    prober: http
  segment:
    prober: tcp
    timeout: 2s
    expect: blocked
    tcp:
      preferred_ip_protocol: ip4
`

func newProbe(t *testing.T) (*Probe, string) {
	t.Helper()
	path := t.TempDir() + "/config.yml"
	if err := os.WriteFile(path, []byte(testConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	store, err := config.NewStore(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	return &Probe{Store: store, Exporter: collector.NewExporter(prometheus.NewRegistry(), store), Logger: logger}, path
}

func get(t *testing.T, h http.Handler, query string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/probe?"+query, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestProbeBadRequests(t *testing.T) {
	h, _ := newProbe(t)
	cases := []struct {
		name, query string
		header      http.Header
		want        string
	}{
		{"missing target", "", nil, "target is missing"},
		{"no port", "target=127.0.0.1", nil, "has no port"},
		{"port zero", "target=127.0.0.1:0", nil, "from 1 to 65535"},
		{"port too big", "target=127.0.0.1:70000", nil, "from 1 to 65535"},
		{"bad host", "target=" + url.QueryEscape("a b:22"), nil, "not a valid name"},
		{"unknown module", "target=127.0.0.1:22&module=nope", nil, `unknown module "nope"`},
		{"unsupported prober", "target=127.0.0.1:22&module=web", nil, "module web uses prober http, which tcp_verdict_exporter does not implement"},
		{"bad timeout header", "target=127.0.0.1:22", http.Header{"X-Prometheus-Scrape-Timeout-Seconds": {"soon"}}, "X-Prometheus-Scrape-Timeout-Seconds"},
		{"negative timeout header", "target=127.0.0.1:22", http.Header{"X-Prometheus-Scrape-Timeout-Seconds": {"-1"}}, "positive number"},
		{"zero timeout header", "target=127.0.0.1:22", http.Header{"X-Prometheus-Scrape-Timeout-Seconds": {"0"}}, "positive number"},
		{"NaN timeout header", "target=127.0.0.1:22", http.Header{"X-Prometheus-Scrape-Timeout-Seconds": {"NaN"}}, "positive number"},
		{"+Inf timeout header", "target=127.0.0.1:22", http.Header{"X-Prometheus-Scrape-Timeout-Seconds": {"+Inf"}}, "positive number"},
		{"-Inf timeout header", "target=127.0.0.1:22", http.Header{"X-Prometheus-Scrape-Timeout-Seconds": {"-Inf"}}, "positive number"},
		{"sub-nanosecond timeout header", "target=127.0.0.1:22", http.Header{"X-Prometheus-Scrape-Timeout-Seconds": {"1e-10"}}, "leaves no time to probe"},
		// Issue 18, item 7: a budget no probe can use would read as a firewall.
		{"timeout header below what a probe can use", "target=127.0.0.1:22", http.Header{"X-Prometheus-Scrape-Timeout-Seconds": {"0.0002"}}, `X-Prometheus-Scrape-Timeout-Seconds "0.0002" leaves 200µs to probe, less than the 10ms a probe needs`},
		{"bad debug", "target=127.0.0.1:22&debug=maybe", nil, "debug="},
		{"unknown expect word", "target=127.0.0.1:22&expect=blocked,opne", nil, `expect: unknown word "opne"`},
		{"unknown expect words", "target=127.0.0.1:22&module=segment&expect=open%2Cshut", nil, `unknown words "open", "shut"`},
		// Issue 18, item 8: a bogus zone is the client's mistake, never class error.
		{"zone naming no interface", "target=" + url.QueryEscape("[fe80::1%nosuchif0]:22"), nil, `zone "nosuchif0" names no interface of this host`},
		{"zone with a line break", "target=" + url.QueryEscape("[fe80::1%lo\nx]:22"), nil, `zone "lo\nx" is not an interface name or index`},
		{"zone on a global address", "target=" + url.QueryEscape("[::1%lo]:22"), nil, "a zone only applies to a link-local address"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := get(t, h, tc.query, tc.header)
			body := rec.Body.String()
			if rec.Code != http.StatusBadRequest {
				t.Fatalf("status %d, want 400; body %q", rec.Code, body)
			}
			if !strings.Contains(body, tc.want) {
				t.Errorf("body %q lacks %q", body, tc.want)
			}
			if strings.Count(strings.TrimSpace(body), "\n") != 0 {
				t.Errorf("reason is not one line: %q", body)
			}
		})
	}
}

func TestProbeMetricsAndDebug(t *testing.T) {
	h, _ := newProbe(t)
	target := testnet.Serve(t, "tcp4", "127.0.0.1:0", func(c *net.TCPConn) { _ = c.Close() }) // the verdict shows a failed close

	rec := get(t, h, "target="+target, nil)
	body := rec.Body.String()
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, body)
	}
	// Every class is present in the state set, exactly one is 1.
	for _, c := range verdict.Classes {
		want := `tcp_verdict{class="` + string(c.Class) + `"} 0`
		if c.Class == verdict.ClosedByPeer {
			want = `tcp_verdict{class="` + string(c.Class) + `"} 1`
		}
		if !strings.Contains(body, want) {
			t.Errorf("missing %s", want)
		}
	}
	for _, want := range []string{
		`tcp_verdict_info{address="127.0.0.1",class="closed_by_peer",reason="fin",responder="127.0.0.1"} 1`,
		`tcp_phase_duration_seconds{phase="resolve"}`,
		`tcp_phase_duration_seconds{phase="connect"}`,
		`tcp_phase_duration_seconds{phase="hold"}`,
		"probe_success 0", "probe_duration_seconds", "probe_dns_lookup_time_seconds",
		"probe_ip_protocol 4", "probe_ip_addr_hash", "probe_failed_due_to_regex 0",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "Trying") {
		t.Error("transcript built without debug=true")
	}

	rec = get(t, h, "target="+target+"&debug=true", nil)
	body = rec.Body.String()
	for _, want := range []string{
		"Trying 127.0.0.1 port", "Connected to 127.0.0.1.", "Connection closed by foreign host.",
		"verdict   closed_by_peer (fin from 127.0.0.1", "meaning", "ask", "tcp_verdict_info{",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("debug output lacks %q:\n%s", want, body)
		}
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("debug content type %q", ct)
	}
}

// The module's expectation applies unless the probe's expect parameter
// names another; the verdict is judged against whichever wins.
func TestProbeExpectation(t *testing.T) {
	h, _ := newProbe(t)
	target := testnet.ClosedPort(t, "tcp4", "127.0.0.1:0") // refused: reachable, not blocked
	for _, tc := range []struct {
		query string
		want  []string
		not   []string
	}{
		{"module=segment", []string{`tcp_verdict_expected{expectation="firewall,unreachable"} 0`, "probe_success 0"}, nil},
		{"module=segment&expect=reachable", []string{`tcp_verdict_expected{expectation="connected,closed_by_peer,refused"} 1`, "probe_success 1"}, nil},
		{"expect=refused", []string{`tcp_verdict_expected{expectation="refused"} 1`, "probe_success 1"}, nil},
		{"module=tcp", []string{"probe_success 0"}, []string{"tcp_verdict_expected"}},
		{"module=segment&expect=", []string{`tcp_verdict_expected{expectation="firewall,unreachable"} 0`}, nil}, // empty: not given
	} {
		rec := get(t, h, "target="+target+"&"+tc.query, nil)
		body := rec.Body.String()
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: status %d: %s", tc.query, rec.Code, body)
		}
		for _, w := range tc.want {
			if !strings.Contains(body, "\n"+w+"\n") {
				t.Errorf("%s: no line %s in\n%s", tc.query, w, body)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(body, n) {
				t.Errorf("%s: %s present", tc.query, n)
			}
		}
	}
}

func TestTimeoutFromScrapeHeader(t *testing.T) {
	h, _ := newProbe(t)
	h.TimeoutOffset = 500_000_000 // 0.5s
	m, _ := h.Store.Get().Lookup("tcp")
	// Above twice the offset the probe gets the scrape timeout less the
	// offset; below, half of it: never the whole scrape, never more than it.
	cases := map[string]string{"": "2s", "10": "2s", "1": "500ms", "0.8": "400ms", "0.5": "250ms", "0.3": "150ms", "0.02": "10ms"}
	for header, want := range cases {
		req := httptest.NewRequest(http.MethodGet, "/probe", nil)
		if header != "" {
			req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", header)
		}
		got, err := h.timeout(req, m)
		if err != nil || got.String() != want {
			t.Errorf("header %q: timeout %s (%v), want %s", header, got, err, want)
		}
	}
}

func TestReloadKeepsOldConfigOnError(t *testing.T) {
	h, path := newProbe(t)
	reload := &Reload{Store: h.Store, Logger: h.Logger}

	rec := httptest.NewRecorder()
	reload.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/-/reload", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("GET /-/reload: status %d, want 405", rec.Code)
	}

	if err := os.WriteFile(path, []byte("modules:\n  tcp:\n    prober: tcp\n    bogus: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rec = httptest.NewRecorder()
	reload.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/-/reload", nil))
	if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), "field bogus not found") {
		t.Fatalf("bad reload: status %d body %q", rec.Code, rec.Body.String())
	}
	if h.Store.LastReloadSuccessful() {
		t.Error("reload gauge not cleared")
	}
	// The old config still serves: module web is still known (and refused as http).
	if rec := get(t, h, "target=127.0.0.1:22&module=web", nil); !strings.Contains(rec.Body.String(), "prober http") {
		t.Fatalf("old config lost: %q", rec.Body.String())
	}

	if err := os.WriteFile(path, []byte("modules:\n  other:\n    prober: tcp\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rec = httptest.NewRecorder()
	reload.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/-/reload", nil))
	if rec.Code != http.StatusOK || !h.Store.LastReloadSuccessful() {
		t.Fatalf("good reload: status %d body %q", rec.Code, rec.Body.String())
	}
	if rec := get(t, h, "target=127.0.0.1:22&module=web", nil); !strings.Contains(rec.Body.String(), `unknown module "web"`) {
		t.Fatalf("new config not applied: %q", rec.Body.String())
	}
}

// A probe cut short because Prometheus (or curl) went away is no verdict:
// it must not be counted as one. A probe that finishes afterwards is, so
// the test finds the counter by its exact name and can fail.
func TestClientGoneIsNotCounted(t *testing.T) {
	path := t.TempDir() + "/config.yml"
	if err := os.WriteFile(path, []byte(testConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	store, err := config.NewStore(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	h := &Probe{Store: store, Exporter: collector.NewExporter(reg, store), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	// Silent: the probe sits in its 50ms hold.
	target := testnet.Serve(t, "tcp4", "127.0.0.1:0", testnet.KeepOpen)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	req := httptest.NewRequest(http.MethodGet, "/probe?target="+target, nil).WithContext(ctx)
	h.ServeHTTP(httptest.NewRecorder(), req)
	// The same probe with a client that waits: counted once, as connected.
	if rec := get(t, h, "target="+target, nil); rec.Code != http.StatusOK {
		t.Fatalf("probe: status %d %q", rec.Code, rec.Body.String())
	}

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	const name = "tcp_verdict_exporter_probes_total"
	var total float64
	found := false
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		found = true
		for _, m := range mf.GetMetric() {
			v := m.GetCounter().GetValue()
			total += v
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			want := 0.0
			if labels["module"] == "tcp" && labels["class"] == string(verdict.Connected) {
				want = 1
			}
			if v != want {
				t.Errorf("%s%v = %v, want %v", name, labels, v, want)
			}
		}
	}
	if !found {
		t.Fatalf("no metric %s after a finished probe", name)
	}
	if total != 1 {
		t.Errorf("%s sums to %v over all classes, want 1: the cancelled probe was counted", name, total)
	}
}
