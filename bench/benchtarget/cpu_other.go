//go:build !unix

package benchtarget

import "time"

// ProcessCPU is the CPU time this process has used so far; this platform
// does not tell, so it is always zero.
func ProcessCPU() time.Duration { return 0 }
