//go:build !unix

package benchtarget

import "testing"

// TestProcessCPU holds the documented promise where the platform does not
// tell: always zero.
func TestProcessCPU(t *testing.T) {
	if got := ProcessCPU(); got != 0 {
		t.Fatalf("ProcessCPU() = %s, want 0 on this platform", got)
	}
}
