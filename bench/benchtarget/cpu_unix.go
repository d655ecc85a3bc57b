//go:build unix

package benchtarget

import (
	"syscall"
	"time"
)

// ProcessCPU is the CPU time (user + system) this process has used so far;
// zero where the platform does not tell.
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
