//go:build linux

package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// The path traces through the lab (modules v4_trace and v6_trace: max_hops
// 8, timeout 1s, module timeout 2s). A router checks the TTL before its
// forward chain runs, so a router that drops or rejects still answers the
// SYN whose TTL runs out on it with time-exceeded.
//
// The routers' per-destination ICMP rate limit is lifted in their
// namespaces (setupLab): a trace has r2 answer up to 7 SYNs at once, and the
// lab traces the same paths through /probe and through the check command.

// hopWant is one TTL's expected answer; a nil addr means no answer.
type hopWant struct {
	addr   func(family) string
	reason verdict.Reason
}

// pathWant is the whole trace: every TTL the trace lists, from 1.
type pathWant struct {
	hops []hopWant
}

const traceMaxHops = 8 // the lab's trace modules' max_hops

func silentTo(hops []hopWant, ttl int) []hopWant {
	for len(hops) < ttl {
		hops = append(hops, hopWant{})
	}
	return hops
}

var (
	// r1 drops the SYN: r1 answers TTL 1, nothing answers after.
	traceDropR1 = &pathWant{silentTo([]hopWant{{r1, verdict.TimeExceeded}}, traceMaxHops)}
	// The server drops it: r1 and r2 answer, the server does not.
	traceDropServer = &pathWant{silentTo([]hopWant{{r1, verdict.TimeExceeded}, {r2, verdict.TimeExceeded}}, traceMaxHops)}
	// r2 rejects it: hops 1 and 2 answer time-exceeded, then r2's
	// admin-prohibited ends the trace at TTL 3.
	traceRejectR2 = &pathWant{[]hopWant{{r1, verdict.TimeExceeded}, {r2, verdict.TimeExceeded}, {r2, verdict.AdminProhibited}}}
)

// last is the expected last hop that answered: TTL, address, reason.
func (p *pathWant) last(f family) (ttl int, addr string, reason verdict.Reason) {
	for i := len(p.hops) - 1; i >= 0; i-- {
		if h := p.hops[i]; h.addr != nil {
			return i + 1, h.addr(f), h.reason
		}
	}
	return 0, "", ""
}

func (p *pathWant) answered() int {
	n := 0
	for _, h := range p.hops {
		if h.addr != nil {
			n++
		}
	}
	return n
}

// checkMetrics checks a /probe answer's tcp_trace_* series: absent when
// no trace is expected (p is nil), else exactly one of each with the
// expected values; and that the traced probe kept within its module's
// timeout.
func (p *pathWant) checkMetrics(t *testing.T, r probeResult, f family) {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(strings.NewReader(r.body))
	if err != nil {
		t.Fatalf("parsing the metrics: %v", err)
	}
	names := []string{"tcp_trace_hops_answered", "tcp_trace_last_hop", "tcp_trace_last_hop_info"}
	if p == nil {
		for _, n := range names {
			if mfs[n] != nil {
				t.Errorf("%s present, but no trace ran", n)
			}
		}
		if _, ok := r.phases["trace"]; ok {
			t.Errorf("a trace phase is reported, but no trace ran")
		}
		return
	}
	one := func(name string) *dto.Metric {
		if mf := mfs[name]; mf != nil && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0]
		}
		t.Errorf("want exactly one %s series", name)
		return &dto.Metric{}
	}
	wantTTL, wantAddr, wantReason := p.last(f)
	if got := one("tcp_trace_hops_answered").GetGauge().GetValue(); got != float64(p.answered()) {
		t.Errorf("tcp_trace_hops_answered = %v, want %d", got, p.answered())
	}
	if got := one("tcp_trace_last_hop").GetGauge().GetValue(); got != float64(wantTTL) {
		t.Errorf("tcp_trace_last_hop = %v, want %d", got, wantTTL)
	}
	info := one("tcp_trace_last_hop_info")
	labels := map[string]string{}
	for _, l := range info.GetLabel() {
		labels[l.GetName()] = l.GetValue()
	}
	if labels["address"] != wantAddr || labels["reason"] != string(wantReason) || info.GetGauge().GetValue() != 1 {
		t.Errorf("tcp_trace_last_hop_info{address=%q,reason=%q} %v, want {address=%q,reason=%q} 1",
			labels["address"], labels["reason"], info.GetGauge().GetValue(), wantAddr, wantReason)
	}
	// The trace's time comes out of the probe's: never beyond the module's
	// 2 s timeout.
	trace, ok := r.phases["trace"]
	if !ok {
		t.Errorf("no trace phase in tcp_phase_duration_seconds")
	}
	if r.duration > 2.05 {
		t.Errorf("probe_duration_seconds = %.3f: the traced probe outlived the module's 2s timeout", r.duration)
	}
	t.Logf("trace: %d hops answered, last hop %d %s %s; phases connect %.3f s, trace %.3f s; probe %.3f s",
		p.answered(), wantTTL, wantAddr, wantReason, r.phases["connect"], trace, r.duration)
}

// The check command's JSON, as far as these tests read it.
type checkJSON struct {
	ExitCode int `json:"exit_code"`
	Results  []struct {
		Target string `json:"target"`
		Class  string `json:"class"`
		Reason string `json:"reason"`
		Trace  *struct {
			HopsAnswered   int    `json:"hops_answered"`
			LastHop        int    `json:"last_hop"`
			LastHopAddress string `json:"last_hop_address"`
			LastHopReason  string `json:"last_hop_reason"`
			Path           string `json:"path"`
			Hops           []struct {
				TTL        int     `json:"ttl"`
				Address    string  `json:"address"`
				RTTSeconds float64 `json:"rtt_seconds"`
				Reason     string  `json:"reason"`
				Answer     string  `json:"answer"`
			} `json:"hops"`
		} `json:"trace"`
	} `json:"results"`
}

// testTraceCheck runs `tcp_verdict_exporter check --output=json` in the
// client's namespace on the three traced paths in both families, all at
// once, and checks every hop of every trace; then the text output of one.
func (l *lab) testTraceCheck(t *testing.T) {
	type job struct {
		name string
		f    family
		sc   scenario
	}
	var jobs []job
	var targets []string
	for _, f := range families {
		for _, sc := range scenarios {
			if sc.path != nil {
				jobs = append(jobs, job{sc.name, f, sc})
				targets = append(targets, sc.target(f))
			}
		}
	}
	if len(jobs) != 6 {
		t.Fatalf("%d traced scenarios, want 3 per family", len(jobs))
	}
	start := time.Now()
	out, stderr, code := l.runCheck(t, append([]string{"--module=any_trace", "--output=json"}, targets...)...)
	took := time.Since(start)
	if want := verdict.Firewall.Info().ExitCode; code != want {
		t.Errorf("exit status %d, want %d (firewall)\nstderr: %s", code, want, stderr)
	}
	var doc checkJSON
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("check output is not JSON: %v\n%s\nstderr: %s", err, out, stderr)
	}
	if len(doc.Results) != len(jobs) {
		t.Fatalf("%d results for %d targets:\n%s", len(doc.Results), len(jobs), out)
	}
	t.Logf("check with %d traced targets took %s", len(jobs), took.Round(time.Millisecond))
	for i, j := range jobs {
		t.Run(j.f.name+"/"+j.name, func(t *testing.T) {
			res := doc.Results[i]
			if res.Class != string(j.sc.class) || res.Reason != string(j.sc.reason) {
				t.Errorf("%s: %s/%s, want %s/%s", res.Target, res.Class, res.Reason, j.sc.class, j.sc.reason)
			}
			tr := res.Trace
			if tr == nil {
				t.Fatalf("%s: no trace in the JSON", res.Target)
			}
			want := j.sc.path
			if len(tr.Hops) != len(want.hops) {
				t.Errorf("%s: %d hops, want %d", res.Target, len(tr.Hops), len(want.hops))
			}
			var lines []string
			for n, h := range tr.Hops {
				lines = append(lines, fmt.Sprintf("%d %s %.3f ms %s", h.TTL, h.Address, h.RTTSeconds*1000, h.Answer))
				if n >= len(want.hops) {
					continue
				}
				w, wantAddr := want.hops[n], ""
				if w.addr != nil {
					wantAddr = w.addr(j.f)
				}
				if h.TTL != n+1 || h.Address != wantAddr || h.Reason != string(w.reason) {
					t.Errorf("%s: hop %d = TTL %d %q %q, want TTL %d %q %q", res.Target, n, h.TTL, h.Address, h.Reason, n+1, wantAddr, w.reason)
				}
			}
			ttl, addr, reason := want.last(j.f)
			if tr.HopsAnswered != want.answered() || tr.LastHop != ttl || tr.LastHopAddress != addr || tr.LastHopReason != string(reason) {
				t.Errorf("%s: answered %d, last hop %d %q %q; want %d, %d %q %q", res.Target,
					tr.HopsAnswered, tr.LastHop, tr.LastHopAddress, tr.LastHopReason, want.answered(), ttl, addr, reason)
			}
			t.Logf("%s: %s\n%s", res.Target, tr.Path, strings.Join(lines, "\n"))
		})
	}

	// The text output: the hop table under the verdict block.
	for _, f := range families {
		t.Run("text/"+f.name, func(t *testing.T) {
			target := at(theTarget, portAdminR2)(f)
			out, _, _ := l.runCheck(t, "--module="+f.name+"_trace", target)
			icmp := "icmp 3/13"
			if f.v6 {
				icmp = "icmp6 1/1"
			}
			for _, want := range []string{"path      hop 3, " + f.r2() + ", stops the SYN: admin-prohibited (" + icmp + ")",
				"hops      TTL  ADDRESS", "3    " + f.r2()} {
				if !strings.Contains(out, want) {
					t.Errorf("text output lacks %q:\n%s", want, out)
				}
			}
			if strings.Contains(out, "traceroute to") {
				t.Errorf("text output repeats the traceroute lines above the hop table:\n%s", out)
			}
			t.Logf("check %s:\n%s", target, out)
		})
	}

	// The routers answered every SYN: nothing was lost to a per-destination
	// limit (lifted), and the host-wide one is only reported.
	for _, ns := range []string{l.r1, l.r2} {
		counters, err := icmpRateLimited(ns)
		if err != nil {
			t.Error(err)
			continue
		}
		t.Logf("%s: %v", ns, counters)
		if counters["IcmpOutRateLimitHost"] != 0 || counters["Icmp6OutRateLimitHost"] != 0 {
			t.Errorf("%s: per-destination ICMP rate limit hit %v although icmp_ratelimit is 0", ns, counters)
		}
	}
}

// runCheck runs the exporter's check command inside the client's namespace
// with the lab's config and returns stdout, stderr and the exit status.
func (l *lab) runCheck(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	return runCheckIn(t, l.client, l.bin, l.config, args...)
}

// icmpRateLimited reads the ICMP rate-limit counters inside ns
// (IcmpOutRateLimitGlobal, IcmpOutRateLimitHost, Icmp6OutRateLimitHost).
func icmpRateLimited(ns string) (map[string]int64, error) {
	counters := map[string]int64{}
	err := inNS(ns, func() error {
		icmp, err := netTable("/proc/thread-self/net/snmp", "Icmp")
		if err != nil {
			return err
		}
		for n, v := range icmp {
			if strings.HasPrefix(n, "OutRateLimit") {
				counters["Icmp"+n] = v
			}
		}
		snmp6, err := os.ReadFile("/proc/thread-self/net/snmp6")
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(snmp6), "\n") {
			if f := strings.Fields(line); len(f) == 2 && strings.HasPrefix(f[0], "Icmp6OutRateLimit") {
				var v int64
				if _, err := fmt.Sscan(f[1], &v); err != nil {
					return fmt.Errorf("snmp6 %s: %w", f[0], err)
				}
				counters[f[0]] = v
			}
		}
		if len(counters) == 0 {
			return errors.New("no ICMP rate-limit counters in /proc/net/snmp")
		}
		return nil
	})
	return counters, err
}
