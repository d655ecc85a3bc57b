//go:build !linux && !darwin && !dragonfly && !freebsd && !netbsd && !openbsd

package check

// isTerminal is false where the check command cannot tell: plain output.
func isTerminal(uintptr) bool { return false }
