//go:build unix

package benchtarget

import (
	"runtime"
	"testing"
	"time"
)

// TestProcessCPU spins until the process has used 30ms of CPU by
// ProcessCPU's count. A meter that does not advance fails on the wall-clock
// limit; one in the wrong unit (µs read as ns, or s as ns) fails one bound
// or the other: CPU time cannot outrun wall time on every core.
func TestProcessCPU(t *testing.T) {
	const want = 30 * time.Millisecond
	wallStart, cpuStart := time.Now(), ProcessCPU()
	var used time.Duration
	for used < want {
		if time.Since(wallStart) > 10*time.Second {
			t.Fatalf("ProcessCPU advanced only %s in 10s of spinning", used)
		}
		for end := time.Now().Add(time.Millisecond); time.Now().Before(end); {
		}
		used = ProcessCPU() - cpuStart
	}
	wall := time.Since(wallStart)
	// 10ms slack: the kernel accounts CPU in ticks.
	if limit := wall*time.Duration(runtime.NumCPU()) + 10*time.Millisecond; used > limit {
		t.Fatalf("ProcessCPU says %s of CPU in %s of wall time on %d CPUs", used, wall, runtime.NumCPU())
	}
	if used > want+time.Second {
		t.Fatalf("ProcessCPU jumped to %s, wanted about %s", used, want)
	}
}
