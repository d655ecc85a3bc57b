//go:build unix

package main

import "syscall"

// nofileLimit is the process's RLIMIT_NOFILE soft limit (which Go's runtime
// has raised to the hard limit at start), or 0 when unknown.
func nofileLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<31 {
		return 0
	}
	return int(rl.Cur)
}
