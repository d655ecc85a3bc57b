package prober_test

// Benchmarks of one probe against a loopback listener, beside the baseline
// the issue asks for: a bare net.Dial + Close to the same listener, in the
// same run. scripts/bench.sh runs them and prints the ratios.
//
// The listener (benchtarget.ListenQuiet) accepts in a loop and closes each
// connection with SO_LINGER 0, so neither side keeps TIME_WAIT sockets and
// a long run never exhausts ephemeral ports; the dialling side is exactly
// what the prober (or the bare baseline) does. Its accept loop allocates
// nothing, so allocs/op are the dialling side's alone. cpu-ns/op is the
// whole process's CPU time per operation (dialler, listener and GC).

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/tcp-verdict/tcp_verdict_exporter/bench/benchtarget"
	"github.com/tcp-verdict/tcp_verdict_exporter/config"
	"github.com/tcp-verdict/tcp_verdict_exporter/prober"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// benchModule is the shipped config.yml's tcp_connect module (hold: 0s).
func benchModule(b *testing.B) config.Module {
	b.Helper()
	data, err := os.ReadFile("../config.yml")
	if err != nil {
		b.Fatal(err)
	}
	cfg, err := config.Parse(data)
	if err != nil {
		b.Fatal(err)
	}
	m, err := cfg.Lookup("tcp_connect")
	if err != nil {
		b.Fatal(err)
	}
	if m.TCP.Hold != 0 {
		b.Fatalf("module tcp_connect has hold %s; the benchmark needs 0s", m.TCP.Hold)
	}
	return m
}

func benchTarget(b *testing.B, addr string) prober.Target {
	b.Helper()
	t, err := prober.ParseTarget(addr)
	if err != nil {
		b.Fatal(err)
	}
	return t
}

// probeOnce probes t and wants it connected, the session surviving.
func probeOnce(t prober.Target, m config.Module, opts prober.Options) error {
	res := prober.Probe(context.Background(), t, m, opts)
	if res.Class != verdict.Connected || !res.Success {
		return fmt.Errorf("probe of %s: %s (%v)", t, res.Summary(), res.Err)
	}
	return nil
}

// BenchmarkBareDial is the baseline: what `telnet host port` followed by
// quit costs (benchtarget.BareDial).
func BenchmarkBareDial(b *testing.B) { benchtarget.BenchBareDial(b) }

func BenchmarkProbe(b *testing.B) {
	m := benchModule(b)
	t := benchTarget(b, benchtarget.Listener(b))
	benchtarget.Loop(b, func() error { return probeOnce(t, m, prober.Options{}) })
}

// BenchmarkProbeTrace is the debug=true path: the transcript is built.
func BenchmarkProbeTrace(b *testing.B) {
	m := benchModule(b)
	t := benchTarget(b, benchtarget.Listener(b))
	benchtarget.Loop(b, func() error { return probeOnce(t, m, prober.Options{Trace: true}) })
}

// BenchmarkProbeVsBareDial interleaves one bare dial and one probe per
// iteration (alternating which goes first) and times each, so that both
// figures come from the same moments and the ratio is immune to drift.
// rate-vs-bare is bare ns / probe ns: the probe rate as a fraction of the
// bare-dial rate (target ≥ 0.5).
func BenchmarkProbeVsBareDial(b *testing.B) {
	m := benchModule(b)
	addr := benchtarget.Listener(b)
	t := benchTarget(b, addr)
	benchtarget.VsBareDial(b, addr, func() error { return probeOnce(t, m, prober.Options{}) })
}

// The parallel pair measures throughput with benchtarget.Parallelism
// goroutines per CPU, as the load test does with many concurrent scrapes.
func BenchmarkBareDialParallel(b *testing.B) { benchtarget.BenchBareDialParallel(b) }

func BenchmarkProbeParallel(b *testing.B) {
	m := benchModule(b)
	t := benchTarget(b, benchtarget.Listener(b))
	benchtarget.LoopParallel(b, func() error {
		res := prober.Probe(context.Background(), t, m, prober.Options{})
		if res.Class != verdict.Connected {
			return fmt.Errorf("probe of %s: %s (%v)", t, res.Summary(), res.Err)
		}
		return nil
	})
}

// TestProbeBuildsNoTranscript guards the rule: without Trace (that
// is, without debug=true) a probe builds no transcript.
func TestProbeBuildsNoTranscript(t *testing.T) {
	srv, err := benchtarget.ListenQuiet()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close() //nolint:errcheck // the benchmark is over; a close error changes no figure
	target, err := prober.ParseTarget(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	m := config.DefaultModule
	m.TCP.IPProtocol, m.TCP.Hold, m.Timeout = "ip4", 0, 5*time.Second
	if res := prober.Probe(context.Background(), target, m, prober.Options{}); res.Class != verdict.Connected || res.Transcript != nil {
		t.Errorf("without Trace: %s (%v), transcript %q; want connected and no transcript", res.Summary(), res.Err, res.TranscriptText())
	}
	if res := prober.Probe(context.Background(), target, m, prober.Options{Trace: true}); len(res.Transcript) == 0 {
		t.Errorf("with Trace: no transcript")
	}
}
