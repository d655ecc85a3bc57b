package benchtarget

import (
	"net"
	"testing"
	"time"
)

// The benchmarks' side of the target: the bare-dial baseline every probe
// benchmark is measured against, and the loops that time an operation
// beside it. prober/bench_test.go and handler/bench_test.go share them, so
// that both packages' figures come from the same measurement.

// Parallelism is the goroutines per CPU of the parallel benchmarks, as the
// load test runs many concurrent scrapes.
const Parallelism = 8

// Listener starts ListenQuiet for b and returns its address; it is closed
// when b ends.
func Listener(b *testing.B) string {
	b.Helper()
	srv, err := ListenQuiet()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := srv.Close(); err != nil {
			b.Error(err)
		}
	})
	return srv.Addr()
}

// BareDial is the baseline: what `telnet host port` followed by quit costs.
func BareDial(addr string) error {
	c, err := net.Dial("tcp4", addr)
	if err != nil {
		return err
	}
	return c.Close()
}

// CPUMeter reports the process's CPU time per operation (the dialling
// side, the listener and GC together) as cpu-ns/op.
type CPUMeter struct{ start time.Duration }

// StartCPU turns on allocation reporting and starts the meter.
func StartCPU(b *testing.B) CPUMeter {
	b.ReportAllocs()
	return CPUMeter{ProcessCPU()}
}

// Report adds cpu-ns/op to b's results.
func (c CPUMeter) Report(b *testing.B) {
	if b.N > 0 {
		b.ReportMetric(float64(ProcessCPU()-c.start)/float64(b.N), "cpu-ns/op")
	}
}

// Loop runs op once per iteration with the CPU meter on; an error ends the
// benchmark.
func Loop(b *testing.B, op func() error) {
	cpu := StartCPU(b)
	for b.Loop() {
		if err := op(); err != nil {
			b.Fatal(err)
		}
	}
	cpu.Report(b)
}

// LoopParallel runs op from Parallelism goroutines per CPU with the CPU
// meter on; an error fails the benchmark and stops its goroutine.
func LoopParallel(b *testing.B, op func() error) {
	cpu := StartCPU(b)
	b.SetParallelism(Parallelism)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := op(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	cpu.Report(b)
}

// BenchBareDial is the baseline benchmark: bare dials to a Listener.
func BenchBareDial(b *testing.B) {
	addr := Listener(b)
	Loop(b, func() error { return BareDial(addr) })
}

// BenchBareDialParallel is BenchBareDial from Parallelism goroutines per
// CPU.
func BenchBareDialParallel(b *testing.B) {
	addr := Listener(b)
	LoopParallel(b, func() error { return BareDial(addr) })
}

// VsBareDial interleaves one bare dial to addr and one run per iteration
// (alternating which goes first) and times each, so that both figures come
// from the same moments and their ratio is immune to drift. It reports
// bare-ns/op, probe-ns/op and rate-vs-bare, bare ns / run ns: run's rate
// as a fraction of the bare-dial rate. An error ends the benchmark.
func VsBareDial(b *testing.B, addr string, run func() error) {
	var bare, probe time.Duration
	timed := func(total *time.Duration, op func() error) {
		start := time.Now()
		if err := op(); err != nil {
			b.Fatal(err)
		}
		*total += time.Since(start)
	}
	dial := func() error { return BareDial(addr) }
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%2 == 0 {
			timed(&bare, dial)
			timed(&probe, run)
		} else {
			timed(&probe, run)
			timed(&bare, dial)
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64(bare)/n, "bare-ns/op")
	b.ReportMetric(float64(probe)/n, "probe-ns/op")
	b.ReportMetric(float64(bare)/float64(probe), "rate-vs-bare")
}
