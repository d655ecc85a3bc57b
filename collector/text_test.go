package collector

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tcp-verdict/tcp_verdict_exporter/prober"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// The fast text path must serve exactly what a registry serves.
func TestAppendTextMatchesRegistry(t *testing.T) {
	phases := []prober.PhaseDuration{{Phase: prober.PhaseResolve, Duration: 1000}, {Phase: prober.PhaseConnect, Duration: 123456}, {Phase: prober.PhaseTLS, Duration: 7}, {Phase: prober.PhaseQuery, Duration: 9}, {Phase: prober.PhaseHold, Duration: 5}}
	results := map[string]prober.Result{
		"connected with expect labels": {
			Class: verdict.Connected, Reason: verdict.SynAck, Success: true, IPProtocol: 4,
			Responder: netip.MustParseAddr("127.0.0.1"), Addr: netip.MustParseAddrPort("127.0.0.1:80"),
			Phases: phases, Duration: 7654321 * time.Nanosecond,
			ExpectLabels: []prober.ExpectLabel{{Name: "version", Value: "a\"b\\c\nd"}, {Name: "a_first", Value: "x"}},
		},
		"firewall from a router, v6": {
			Class: verdict.Firewall, Reason: verdict.AdminProhibited, IPProtocol: 6,
			Responder: netip.MustParseAddr("fd00::1"), Addr: netip.MustParseAddrPort("[fd00::2]:443"),
			Phases: phases[:2], Duration: 3 * time.Second, FailedDueToRegex: true,
		},
		"dns error, nothing resolved": {Class: verdict.DNSError, Reason: verdict.NXDomain},
	}
	for name, r := range results {
		t.Run(name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			reg.MustRegister(Probe{Result: &r})
			rec := httptest.NewRecorder()
			promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
			var b bytes.Buffer
			AppendText(&b, &r)
			if rec.Body.String() != b.String() {
				t.Errorf("registry:\n%s\nAppendText:\n%s", rec.Body.String(), b.String())
			}
			if ct := rec.Header().Get("Content-Type"); ct != TextContentType {
				t.Errorf("content type %q, registry serves %q", TextContentType, ct)
			}
		})
	}
}
