//go:build linux

package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// Who really answered (tcp.control_ports; docs/host-evidence.md). The
// server is three hops away (r1, r2, the server): its control port 7002
// answers from TTL 3. r1 forges resets for portResetR1 two hops before it,
// which come back from TTL 2; r2, the server's last router, forges them for
// portResetR2 from TTL 3, as the server's own RST for portClosed does.

// hostCase is one target through a control module, and what it must say.
type hostCase struct {
	name      string
	target    func(family) string
	module    string // appended to the family's name; "_control" when empty
	class     verdict.Class
	reason    verdict.Reason
	responder func(family) string // nil: nobody
	// hostUp, hostHops and resetHops are the gauges' values; -1: absent.
	hostUp, hostHops, resetHops float64
	note                        string // the check's host note contains it
	fast                        bool   // answered within fastLimit
}

var hostCases = []hostCase{
	{name: "reset-forged-two-hops-before", target: at(theTarget, portResetR1), fast: true,
		class: verdict.Firewall, reason: verdict.ForgedReset, responder: r1,
		hostUp: 1, hostHops: 3, resetHops: 2, note: "forged it"},
	{name: "closed-port", target: at(theTarget, portClosed), fast: true,
		class: verdict.Refused, reason: verdict.ConnRefused, responder: theTarget,
		hostUp: 1, hostHops: 3, resetHops: 3, note: "nothing more can be told"},
	{name: "reset-forged-by-last-router", target: at(theTarget, portResetR2), fast: true,
		class: verdict.Refused, reason: verdict.ConnRefused, responder: theTarget,
		hostUp: 1, hostHops: 3, resetHops: 3, note: "a firewall at its last router"},
	{name: "port-dropped-host-up", target: at(theTarget, portDropServer),
		class: verdict.Firewall, reason: verdict.NoResponse,
		hostUp: 1, hostHops: -1, resetHops: -1, note: "so it is up"},
	{name: "host-dark", target: at(family.dark, portBanner),
		class: verdict.Unreachable, reason: verdict.HostSilent,
		hostUp: 0, hostHops: -1, resetHops: -1, note: "the host is down, or every packet to it is dropped"},
	// Without control ports, exactly as before: refused, and no host series.
	{name: "reset-forged-no-control-ports", target: at(theTarget, portResetR1), module: "_connect", fast: true,
		class: verdict.Refused, reason: verdict.ConnRefused, responder: theTarget,
		hostUp: -1, hostHops: -1, resetHops: -1},
}

func (c hostCase) moduleFor(f family) string {
	if c.module == "" {
		return f.name + "_control"
	}
	return f.name + c.module
}

// gauges reads single-series gauges of a /probe answer; absent ones are -1.
func gauges(t *testing.T, body string, names ...string) map[string]float64 {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parsing the metrics: %v", err)
	}
	out := map[string]float64{}
	for _, n := range names {
		out[n] = -1
		if mf := mfs[n]; mf != nil && len(mf.GetMetric()) == 1 {
			out[n] = mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return out
}

// testHostEvidence probes every case in both families through /probe, all
// at once, then through the check command (JSON, then the text of the
// forged reset and its last-router twin).
func (l *lab) testHostEvidence(t *testing.T) {
	type job struct {
		c   hostCase
		f   family
		res probeResult
	}
	var jobs []*job
	for _, f := range families {
		for _, c := range hostCases {
			jobs = append(jobs, &job{c: c, f: f})
		}
	}
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Go(func() { j.res = l.exporter.probe(j.c.target(j.f), j.c.moduleFor(j.f)) })
	}
	wg.Wait()
	for _, j := range jobs {
		t.Run("probe/"+j.f.name+"/"+j.c.name, func(t *testing.T) {
			c, f, r := j.c, j.f, j.res
			if r.err != nil {
				t.Fatalf("probe %s with module %s: %v\n%s", r.target, r.module, r.err, r.body)
			}
			defer func() {
				if t.Failed() || os.Getenv("TVE_E2E_TRACE") == "1" {
					t.Logf("GET /probe?target=%s&module=%s&debug=true:\n%s", r.target, r.module, l.exporter.debugProbe(r.target, r.module))
				}
			}()
			want := expectation{class: c.class, reason: c.reason}
			if c.responder != nil {
				want.responder = c.responder(f)
			}
			want.check(t, r)
			got := gauges(t, r.body, "tcp_host_up", "tcp_host_hops", "tcp_reset_hops")
			for name, v := range map[string]float64{"tcp_host_up": c.hostUp, "tcp_host_hops": c.hostHops, "tcp_reset_hops": c.resetHops} {
				if got[name] != v {
					t.Errorf("%s = %v, want %v (-1: absent)", name, got[name], v)
				}
			}
			_, control := r.phases["control"]
			if control != (c.hostUp >= 0) {
				t.Errorf("control phase reported: %v, want %v", control, c.hostUp >= 0)
			}
			if c.fast && r.duration > fastLimit {
				t.Errorf("probe_duration_seconds = %.3f, want < %.2f: the diagnosis adds only a few round trips", r.duration, fastLimit)
			}
			if r.duration > 2.05 {
				t.Errorf("probe_duration_seconds = %.3f: beyond the module's 2s", r.duration)
			}
			t.Logf("%s module %s: %s/%s from %q, host up %v, hops host %v reset %v; connect %.1f ms, control %.1f ms, probe %.1f ms",
				r.target, r.module, r.class, r.reason, r.responder, got["tcp_host_up"], got["tcp_host_hops"], got["tcp_reset_hops"],
				r.phases["connect"]*1000, r.phases["control"]*1000, r.duration*1000)
		})
	}

	for _, f := range families {
		t.Run("check/"+f.name, func(t *testing.T) { l.testHostCheckCommand(t, f) })
	}
}

// testHostCheckCommand runs `check --output=json` with the control module
// on every case that uses it, and the text output on the two resets.
func (l *lab) testHostCheckCommand(t *testing.T, f family) {
	var picked []hostCase
	var targets []string
	for _, c := range hostCases {
		if c.module == "" {
			picked = append(picked, c)
			targets = append(targets, c.target(f))
		}
	}
	out, stderr, code := l.runCheck(t, append([]string{"--module=" + f.name + "_control", "--output=json"}, targets...)...)
	var doc struct {
		ExitCode int `json:"exit_code"`
		Results  []struct {
			Target, Class, Reason, Responder string
			Host                             *struct {
				Tried      bool   `json:"tried"`
				Up         bool   `json:"up"`
				HostHops   int    `json:"host_hops"`
				ResetHops  int    `json:"reset_hops"`
				Note       string `json:"note"`
				ResetTrace []struct {
					TTL     int    `json:"ttl"`
					Address string `json:"address"`
					Reason  string `json:"reason"`
				} `json:"reset_trace"`
			} `json:"host"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("check output is not JSON: %v\n%s\nstderr: %s", err, out, stderr)
	}
	if len(doc.Results) != len(picked) {
		t.Fatalf("%d results for %d targets:\n%s", len(doc.Results), len(picked), out)
	}
	highest := 0
	for i, c := range picked {
		r := doc.Results[i]
		wantResponder := ""
		if c.responder != nil {
			wantResponder = c.responder(f)
		}
		highest = max(highest, c.class.Info().ExitCode)
		if r.Class != string(c.class) || r.Reason != string(c.reason) || r.Responder != wantResponder {
			t.Errorf("%s (%s): check says %s/%s from %q; want %s/%s from %q", c.name, r.Target, r.Class, r.Reason, r.Responder, c.class, c.reason, wantResponder)
		}
		h := r.Host
		if h == nil || !h.Tried || h.Up != (c.hostUp == 1) || !strings.Contains(h.Note, c.note) {
			t.Errorf("%s: host %+v, want tried, up %v, a note with %q", c.name, h, c.hostUp == 1, c.note)
			continue
		}
		if c.resetHops > 0 && (h.HostHops != int(c.hostHops) || h.ResetHops != int(c.resetHops) || len(h.ResetTrace) < h.ResetHops) {
			t.Errorf("%s: host hops %d, reset hops %d (%d TTLs), want %v and %v", c.name, h.HostHops, h.ResetHops, len(h.ResetTrace), c.hostHops, c.resetHops)
		}
		if c.reason == verdict.ForgedReset && h.ResetTrace[0].Address != r1(f) {
			t.Errorf("%s: TTL 1 of the reset trace answered from %q, want r1 %s", c.name, h.ResetTrace[0].Address, r1(f))
		}
	}
	if code != highest || doc.ExitCode != highest {
		t.Errorf("exit status %d (JSON %d), want %d\nstderr: %s", code, doc.ExitCode, highest, stderr)
	}

	text, stderr, _ := l.runCheck(t, "--module="+f.name+"_control", at(theTarget, portResetR1)(f), at(theTarget, portResetR2)(f))
	for _, want := range []string{
		fmt.Sprintf("verdict   firewall (forged-reset from %s", r1(f)),
		fmt.Sprintf("hop 1 (%s) forged it", r1(f)),
		fmt.Sprintf("TTL  PORT %d", portResetR1),
		fmt.Sprintf("CONTROL PORT %d", portBanner),
		fmt.Sprintf("RST as from %s", theTarget(f)),
		fmt.Sprintf("a firewall at its last router (%s)", r2(f)),
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the check's text lacks %q", want)
		}
	}
	if t.Failed() || os.Getenv("TVE_E2E_TRACE") == "1" {
		t.Logf("check --output=json:\n%s\ncheck (text):\n%s\nstderr: %s", out, text, stderr)
	}
}

// testConntrackFull starts a second exporter whose --path.procfs holds a
// conntrack table at its limit: a silent port is this host's error, named;
// an answered one keeps its verdict; /metrics shows the fill; and the check
// command, given the same --path.procfs, says the same.
func (l *lab) testConntrackFull(t *testing.T) {
	procfs := filepath.Join(l.dir, "procfs-full")
	dir := filepath.Join(procfs, "sys", "net", "netfilter")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]string{"nf_conntrack_count": "65536\n", "nf_conntrack_max": "65536\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e, err := startExporterWithin(l.client, l.bin, l.config, "127.0.0.1:9767", 0, 10*time.Second, "--path.procfs="+procfs)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := e.stop(); err != nil {
			t.Error(err)
		}
	}()
	const cause = "conntrack table is full (nf_conntrack_count 65536 >= nf_conntrack_max 65536)"
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			dropped := at(theTarget, portDropServer)(f)
			r := e.probe(dropped, f.name+"_control")
			if r.err != nil {
				t.Fatalf("probe: %v", r.err)
			}
			expectation{class: verdict.Error, reason: verdict.LocalError}.check(t, r)
			if g := gauges(t, r.body, "tcp_host_up"); g["tcp_host_up"] != -1 {
				t.Errorf("tcp_host_up = %v: no host check may run when this host drops the SYNs", g["tcp_host_up"])
			}
			if debug := e.debugProbe(dropped, f.name); !strings.Contains(debug, cause) {
				t.Errorf("the debug output does not name the cause %q:\n%s", cause, debug)
			}
			refused := e.probe(at(theTarget, portClosed)(f), f.name)
			expectation{class: verdict.Refused, reason: verdict.ConnRefused, responder: theTarget(f)}.check(t, refused)

			out, stderr, code := runCheckIn(t, l.client, l.bin, l.config, "--path.procfs="+procfs, "--module="+f.name, "--output=json", dropped)
			if want := verdict.Error.Info().ExitCode; code != want || !strings.Contains(out, `"reason": "local-error"`) || !strings.Contains(out, cause) {
				t.Errorf("check exit %d (want %d), output:\n%s\nstderr: %s", code, want, out, stderr)
			}
		})
	}
	resp, err := e.get(t.Context(), "/metrics", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close() //nolint:errcheck // read to the end below; its errors come from ReadAll
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"tcp_verdict_exporter_conntrack_entries 65536", "tcp_verdict_exporter_conntrack_entries_limit 65536"} {
		if !strings.Contains(string(body), want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// testHostCheckStorm: 40 probes of a forged reset at once, under the load
// tests' RLIMIT_NOFILE (56 trace sockets; a check of v4_control takes 16).
// The checks share the trace budget: those that do not fit say so
// (tcp_host_check_skipped{reason="over-budget"}) and keep refused, the
// others say forged-reset; nothing else, and the budget and the
// descriptors hold.
func (l *lab) testHostCheckStorm(t *testing.T) {
	e, err := startExporter(l.client, l.bin, l.config, "127.0.0.1:9768", smallNofile)
	if err != nil {
		t.Fatal(err)
	}
	defer e.stop() //nolint:errcheck // stop reports nothing; the lab's teardown would stop it too
	d := newNSDialer(t, l.client, 4)
	c := d.client()
	const n = 40
	var peakTrace atomic.Int64
	stop := make(chan struct{})
	peak := e.peakFiles(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			if mfs, err := e.scrape(c); err == nil {
				v := int64(metricSum(mfs, "tcp_verdict_exporter_trace_sockets_in_use", nil))
				for old := peakTrace.Load(); v > old && !peakTrace.CompareAndSwap(old, v); old = peakTrace.Load() {
				}
			}
		}
	}()
	answers := fire(c, "http://"+e.addr, n, at(theTarget, portResetR1)(ipv4), "v4_control")
	close(stop)
	states := map[string]int{}
	for i, a := range answers {
		switch {
		case a.err != nil || a.status != http.StatusOK:
			t.Errorf("probe %d: HTTP %d, %v", i, a.status, a.err)
		case a.reason == string(verdict.ForgedReset) && a.hostUp && a.hostSkip == "":
			states["forged-reset"]++
		case a.reason == string(verdict.ConnRefused) && !a.hostUp && a.hostSkip == "over-budget":
			states["refused, over-budget"]++
		default:
			t.Errorf("probe %d: %s/%s, host check ran %v, skipped %q; want forged-reset, or conn-refused skipped over budget", i, a.class, a.reason, a.hostUp, a.hostSkip)
		}
	}
	p := <-peak
	t.Logf("%d forged-reset probes at once: %v; trace sockets peaked at %d of %d; %d descriptors of %d",
		n, states, peakTrace.Load(), smallTraceSocks, p, smallNofile)
	if states["forged-reset"] == 0 {
		t.Error("no host check ran")
	}
	if peakTrace.Load() > smallTraceSocks {
		t.Errorf("trace sockets peaked at %d, over the budget %d", peakTrace.Load(), smallTraceSocks)
	}
	if p >= smallNofile {
		t.Errorf("peak %d descriptors reached RLIMIT_NOFILE %d", p, smallNofile)
	}
}
