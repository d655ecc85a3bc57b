package collector

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tcp-verdict/tcp_verdict_exporter/conntrack"
	"github.com/tcp-verdict/tcp_verdict_exporter/prober"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// seriesWith returns the lines of an exposition that start with one of prefixes.
func seriesWith(body string, prefixes ...string) []string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		for _, p := range prefixes {
			if strings.HasPrefix(l, p) {
				out = append(out, l)
			}
		}
	}
	return out
}

func TestHostCheckMetrics(t *testing.T) {
	base := prober.Result{Class: verdict.Firewall, Reason: verdict.NoResponse, IPProtocol: 4,
		Addr:   netip.MustParseAddrPort("198.51.100.7:443"),
		Phases: []prober.PhaseDuration{{Phase: prober.PhaseResolve}, {Phase: prober.PhaseConnect, Duration: time.Second}, {Phase: prober.PhaseHold}, {Phase: prober.PhaseControl, Duration: time.Millisecond}}}
	hop := []prober.Hop{{TTL: 1}}
	for _, c := range []struct {
		name   string
		reason verdict.Reason
		host   *prober.HostCheck
		want   []string
	}{
		{"no control ports", verdict.NoResponse, nil, nil},
		{"silent, host up", verdict.NoResponse, &prober.HostCheck{Tried: true, Up: true}, []string{"tcp_host_up 1"}},
		{"silent, host dark", verdict.HostSilent, &prober.HostCheck{Tried: true}, []string{"tcp_host_up 0"}},
		{"forged reset", verdict.ForgedReset, &prober.HostCheck{Tried: true, Up: true, ResetHops: 2, HostHops: 3, ResetTrace: hop, HostTrace: hop},
			[]string{"tcp_host_hops 3", "tcp_host_up 1", "tcp_reset_hops 2"}},
		{"over budget", verdict.ConnRefused, &prober.HostCheck{Skipped: prober.TraceOverBudget},
			[]string{`tcp_host_check_skipped{reason="over-budget"} 1`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := base
			r.Reason, r.Class, r.Host = c.reason, c.reason.Class(), c.host
			body := serveRegistry(t, &r)
			if got := seriesWith(body, "tcp_host_", "tcp_reset_hops"); strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("host series:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
			if !strings.Contains(body, `tcp_phase_duration_seconds{phase="control"} 0.001`) {
				t.Error("no control phase")
			}
			var b bytes.Buffer
			AppendText(&b, &r)
			if b.String() != body {
				t.Errorf("AppendText differs from the registry:\n%s\nregistry:\n%s", b.String(), body)
			}
		})
	}
}

func TestConntrackMetrics(t *testing.T) {
	gather := func(procfs string) []string {
		reg := prometheus.NewRegistry()
		RegisterConntrack(reg, conntrack.New(procfs))
		rec := httptest.NewRecorder()
		promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		return seriesWith(rec.Body.String(), Namespace+"_conntrack")
	}
	root := t.TempDir()
	if got := gather(root); len(got) != 0 {
		t.Errorf("without conntrack: %q, want nothing", got)
	}
	dir := filepath.Join(root, "sys", "net", "netfilter")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, v string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("nf_conntrack_count", "52000\n")
	write("nf_conntrack_max", "65536\n")
	want := []string{Namespace + "_conntrack_entries 52000", Namespace + "_conntrack_entries_limit 65536", Namespace + "_conntrack_read_errors 0"}
	if got := gather(root); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	write("nf_conntrack_count", "garbage\n")
	if got := gather(root); strings.Join(got, "\n") != Namespace+"_conntrack_read_errors 1" {
		t.Errorf("unreadable: %q, want the read error only", got)
	}
}
