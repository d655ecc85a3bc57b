package check

import "golang.org/x/sys/unix"

// isTerminal reports whether fd is a terminal, as isatty(3) does.
func isTerminal(fd uintptr) bool {
	_, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
	return err == nil
}
