package prober_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tcp-verdict/tcp_verdict_exporter/bench/benchtarget"
	"github.com/tcp-verdict/tcp_verdict_exporter/config"
	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testnet"
	"github.com/tcp-verdict/tcp_verdict_exporter/prober"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// BenchmarkRefusedHostCheck measures what a refused probe costs with
// tcp.control_ports (the forged-reset check: two traces of max_hops 3 on
// loopback) against the same refused probe without them, interleaved in
// the same run so that the ratio is immune to drift
// (docs/host-evidence.md, "What it costs").
func BenchmarkRefusedHostCheck(b *testing.B) {
	closed := testnet.ClosedPort(b, "tcp4", "127.0.0.1:0")
	open := benchtarget.Listener(b)
	t := benchTarget(b, closed)
	plain := benchModule(b)
	plain.TCP.Trace.MaxHops, plain.TCP.Trace.Timeout = 3, 300*time.Millisecond
	checked := plain
	checked.TCP.ControlPorts = []uint16{benchTarget(b, open).Port}
	run := func(m config.Module) (time.Duration, error) {
		start := time.Now()
		r := prober.Probe(context.Background(), t, m, prober.Options{})
		if r.Reason != verdict.ConnRefused {
			return 0, fmt.Errorf("probe of %s: %s", closed, r.Summary())
		}
		return time.Since(start), nil
	}
	var plainNs, checkedNs time.Duration
	b.ResetTimer()
	for i := range b.N {
		first, second := plain, checked
		if i%2 == 1 {
			first, second = checked, plain
		}
		d1, err := run(first)
		if err != nil {
			b.Fatal(err)
		}
		d2, err := run(second)
		if err != nil {
			b.Fatal(err)
		}
		if i%2 == 1 {
			d1, d2 = d2, d1
		}
		plainNs, checkedNs = plainNs+d1, checkedNs+d2
	}
	b.ReportMetric(float64(plainNs.Nanoseconds())/float64(b.N), "plain-ns/op")
	b.ReportMetric(float64(checkedNs.Nanoseconds())/float64(b.N), "checked-ns/op")
	b.ReportMetric(float64(checkedNs)/float64(plainNs), "checked-vs-plain")
}
