package handler

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tcp-verdict/tcp_verdict_exporter/collector"
	"github.com/tcp-verdict/tcp_verdict_exporter/config"
	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testnet"
)

const policyModules = `modules:
  tcp:
    prober: tcp
    timeout: 2s
    tcp: {preferred_ip_protocol: ip4, hold: 0s}
`

// counterValue is the value of the series of name with the given labels,
// and whether it exists.
func counterValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue series
				}
			}
			return m.GetCounter().GetValue(), true
		}
	}
	return 0, false
}

// A refused target gets 403 with the one-line refusal, is counted in
// probes_rejected_total{reason="policy"} and not as a probe, and is never
// dialled; a reload applies a new policy, and a bad one keeps the old.
func TestProbeRefusedByPolicy(t *testing.T) {
	var accepts atomic.Int64
	addr4 := testnet.Serve(t, "tcp4", "127.0.0.1:0", func(c *net.TCPConn) { accepts.Add(1); _ = c.Close() })
	addr6 := testnet.Serve(t, "tcp6", "[::1]:0", func(c *net.TCPConn) { accepts.Add(1); _ = c.Close() })
	_, port4, _ := net.SplitHostPort(addr4)

	path := t.TempDir() + "/config.yml"
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("target_policy:\n  deny: [127.0.0.0/8, \"::1\"]\n" + policyModules)
	store, err := config.NewStore(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := &Probe{Store: store, Exporter: collector.NewExporter(reg, store), Logger: logger}
	reload := &Reload{Store: store, Logger: logger}

	for _, reason := range collector.RejectReasons {
		if _, ok := counterValue(t, reg, "tcp_verdict_exporter_probes_rejected_total", map[string]string{"reason": reason}); !ok {
			t.Errorf("probes_rejected_total{reason=%q} does not exist before the first rejection", reason)
		}
	}

	const deny4 = "target 127.0.0.1 refused by target_policy.deny 127.0.0.0/8\n"
	for _, tc := range []struct{ name, query, body string }{
		{"literal", "target=" + addr4, deny4},
		{"v4-mapped", "target=[::ffff:127.0.0.1]:" + port4, deny4},
		{"IPv6", "target=" + addr6, "target ::1 refused by target_policy.deny ::1\n"},
		{"debug", "target=" + addr4 + "&debug=true", deny4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := get(t, h, tc.query, nil)
			if rec.Code != http.StatusForbidden || rec.Body.String() != tc.body {
				t.Errorf("status %d body %q, want 403 %q", rec.Code, rec.Body.String(), tc.body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "text/plain; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
	if v, _ := counterValue(t, reg, "tcp_verdict_exporter_probes_rejected_total", map[string]string{"reason": collector.RejectPolicy}); v != 4 {
		t.Errorf(`probes_rejected_total{reason="policy"} = %v, want 4`, v)
	}
	if v, _ := counterValue(t, reg, "tcp_verdict_exporter_probes_rejected_total", map[string]string{"reason": collector.RejectOverloaded}); v != 0 {
		t.Errorf(`probes_rejected_total{reason="overloaded"} = %v, want 0`, v)
	}
	if v, ok := counterValue(t, reg, "tcp_verdict_exporter_probes_total", nil); ok {
		t.Errorf("refusals counted as probes: probes_total = %v", v)
	}
	time.Sleep(50 * time.Millisecond) // an accepted connection would be counted by now
	if n := accepts.Load(); n != 0 {
		t.Fatalf("refused targets were dialled: %d connections accepted", n)
	}

	post := func() int {
		rec := httptest.NewRecorder()
		reload.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/-/reload", nil))
		return rec.Code
	}
	write(policyModules) // the default policy: loopback allowed
	if code := post(); code != http.StatusOK {
		t.Fatalf("reload: status %d", code)
	}
	if rec := get(t, h, "target="+addr4, nil); rec.Code != http.StatusOK {
		t.Fatalf("after reload: status %d %q, want 200", rec.Code, rec.Body.String())
	}
	write("target_policy:\n  deny: [127.0.0.0/33]\n" + policyModules)
	if code := post(); code != http.StatusInternalServerError {
		t.Fatalf("reload with a bad CIDR: status %d, want 500", code)
	}
	if rec := get(t, h, "target=[::ffff:127.0.0.1]:"+port4, nil); rec.Code != http.StatusOK {
		t.Fatalf("after a bad reload: status %d %q; the running policy must stay", rec.Code, rec.Body.String())
	}
	time.Sleep(50 * time.Millisecond)
	if n := accepts.Load(); n != 2 {
		t.Errorf("allowed probes accepted %d connections, want 2", n)
	}
}
