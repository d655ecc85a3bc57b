package collector

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tcp-verdict/tcp_verdict_exporter/prober"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

func serveRegistry(t *testing.T, r *prober.Result) string {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(Probe{Result: r})
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	return rec.Body.String()
}

// traceSeries returns the tcp_trace_* lines of an exposition.
func traceSeries(body string) []string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, "tcp_trace_") {
			out = append(out, l)
		}
	}
	return out
}

func TestTraceMetrics(t *testing.T) {
	r1, r2 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	te := func(ttl int, from netip.Addr) prober.Hop {
		return prober.Hop{TTL: ttl, Addr: from, RTT: time.Millisecond, Reason: verdict.TimeExceeded,
			ICMP: &verdict.ICMP{Type: 11, Offender: from}}
	}
	base := prober.Result{Class: verdict.Firewall, Reason: verdict.NoResponse, IPProtocol: 4,
		Addr:   netip.MustParseAddrPort("198.51.100.7:443"),
		Phases: []prober.PhaseDuration{{Phase: prober.PhaseResolve}, {Phase: prober.PhaseConnect, Duration: time.Second}, {Phase: prober.PhaseHold}}}
	cases := []struct {
		name string
		hops []prober.Hop
		skip prober.TraceSkip
		want []string
	}{
		{"no trace ran", nil, "", nil},
		{"no sockets for the trace", nil, prober.TraceNoDescriptors, []string{`tcp_trace_skipped{reason="descriptors"} 1`}},
		{"no time for the trace", nil, prober.TraceNoTime, []string{`tcp_trace_skipped{reason="no-time"} 1`}},
		{"other traces hold the budget", nil, prober.TraceOverBudget, []string{`tcp_trace_skipped{reason="over-budget"} 1`}},
		{"dies after r2", []prober.Hop{te(1, r1), te(2, r2), {TTL: 3}, {TTL: 4}}, "", []string{
			`tcp_trace_hops_answered 2`,
			`tcp_trace_last_hop 2`,
			`tcp_trace_last_hop_info{address="192.0.2.2",reason="time-exceeded"} 1`,
		}},
		{"rejected at hop 3", []prober.Hop{te(1, r1), te(2, r2),
			{TTL: 3, Addr: r2, Reason: verdict.AdminProhibited, ICMP: &verdict.ICMP{Type: 3, Code: 13, Offender: r2}}}, "", []string{
			`tcp_trace_hops_answered 3`,
			`tcp_trace_last_hop 3`,
			`tcp_trace_last_hop_info{address="192.0.2.2",reason="admin-prohibited"} 1`,
		}},
		{"nobody answered", []prober.Hop{{TTL: 1}, {TTL: 2}}, "", []string{
			`tcp_trace_hops_answered 0`,
			`tcp_trace_last_hop 0`,
			`tcp_trace_last_hop_info{address="",reason=""} 1`,
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := base
			r.Hops, r.TraceSkipped = c.hops, c.skip
			body := serveRegistry(t, &r)
			if got := traceSeries(body); strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("trace series:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
			var b bytes.Buffer
			AppendText(&b, &r)
			if b.String() != body {
				t.Errorf("AppendText differs from the registry:\n%s\nregistry:\n%s", b.String(), body)
			}
		})
	}
}
