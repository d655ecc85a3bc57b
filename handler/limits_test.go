package handler

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tcp-verdict/tcp_verdict_exporter/collector"
	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testnet"
	"github.com/tcp-verdict/tcp_verdict_exporter/limits"
)

// A probe that finds no free slot is answered 503 at once, with
// Retry-After, counted as overloaded, and never dials.
func TestProbeOverloaded(t *testing.T) {
	h, _ := newProbe(t)
	reg := prometheus.NewRegistry()
	h.Exporter = collector.NewExporter(reg, h.Store)
	h.Limits = limits.New(limits.Plan{MaxInFlight: 1})
	target := testnet.Serve(t, "tcp4", "127.0.0.1:0", testnet.KeepOpen) // the probe holds 50ms
	first := make(chan int)
	go func() { first <- get(t, h, "target="+target, nil).Code }()
	deadline := time.Now().Add(2 * time.Second)
	for h.Limits.Slots.InUse() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	rec := get(t, h, "target="+target, nil)
	if took := time.Since(start); took > 20*time.Millisecond {
		t.Errorf("the 503 took %s; it must not wait for the slot", took)
	}
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), "overloaded") {
		t.Errorf("second probe: %d %q, Retry-After %q; want 503 overloaded with Retry-After", rec.Code, rec.Body.String(), rec.Header().Get("Retry-After"))
	}
	if code := <-first; code != http.StatusOK {
		t.Errorf("first probe: %d, want 200", code)
	}
	if h.Limits.Slots.InUse() != 0 {
		t.Errorf("%d slots still taken after both requests", h.Limits.Slots.InUse())
	}
	if got := gathered(t, reg, "tcp_verdict_exporter_probes_rejected_total", "reason", "overloaded"); got != 1 {
		t.Errorf("probes_rejected_total{reason=overloaded} = %v, want 1", got)
	}
	if got := gathered(t, reg, "tcp_verdict_exporter_probes_in_flight", "", ""); got != 0 {
		t.Errorf("probes_in_flight = %v after the probes, want 0", got)
	}
}

func TestDebugDisabled(t *testing.T) {
	h, _ := newProbe(t)
	h.DisableDebug = true
	target := testnet.Serve(t, "tcp4", "127.0.0.1:0", testnet.KeepOpen)
	rec := get(t, h, "target="+target+"&debug=true", nil)
	if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "--web.disable-debug") {
		t.Errorf("debug=true: %d %q, want 403 naming --web.disable-debug", rec.Code, rec.Body.String())
	}
	if rec := get(t, h, "target="+target+"&debug=false", nil); rec.Code != http.StatusOK {
		t.Errorf("debug=false: %d %q, want 200", rec.Code, rec.Body.String())
	}
	// The status page's transcripts show the banner: refused too.
	tr := &Transcript{History: h.History, Disabled: true}
	req := httptest.NewRequest(http.MethodGet, "/transcript?id=1", nil)
	rec = httptest.NewRecorder()
	tr.ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden {
		t.Errorf("/transcript with debug disabled: %d %q, want 403", rec.Code, rec.Body.String())
	}
}

// A peer that streams lines through the hold: the debug answer stays
// under maxDebugBytes and says what it left out.
func TestDebugCapped(t *testing.T) {
	h, _ := newProbe(t)
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) }) // the streamer must not eat the next tests' CPU
	target := testnet.Serve(t, "tcp4", "127.0.0.1:0", func(c *net.TCPConn) {
		line := []byte(strings.Repeat("x", 100) + "\n")
		_ = c.SetWriteDeadline(time.Now().Add(2 * time.Second))
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := c.Write(line); err != nil {
				return
			}
		}
	})
	rec := get(t, h, "target="+target+"&debug=true", nil)
	body, _ := io.ReadAll(rec.Body)
	if rec.Code != http.StatusOK {
		t.Fatalf("%d %q", rec.Code, body)
	}
	if len(body) > maxDebugBytes {
		t.Errorf("debug answer of %d bytes, over %d", len(body), maxDebugBytes)
	}
	if !strings.Contains(string(body), "more bytes received, not shown") {
		t.Errorf("the answer does not say that it left data out:\n%s", tail(string(body), 2000))
	}
	if !strings.Contains(string(body), "tcp_verdict{") {
		t.Errorf("the metrics are missing from the capped answer:\n%s", tail(string(body), 2000))
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// gathered is the value of the series of name whose label has value (any
// series when label is empty); it fails the test when there is none.
func gathered(t *testing.T, g prometheus.Gatherer, name, label, value string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			ok := label == ""
			for _, l := range m.GetLabel() {
				ok = ok || l.GetName() == label && l.GetValue() == value
			}
			if !ok {
				continue
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no series %s{%s=%q}", name, label, value)
	return 0
}
