package prober

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// discardQueued reads and drops what the peer has sent and we have not
// read, without waiting: a close() with an empty receive queue sends no RST.
func discardQueued(c net.Conn) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) { // fails only on a closed file
		var buf [4096]byte
		for range 64 { // a receive queue holds a few hundred KiB at most
			if n, _, err := unix.Recvfrom(int(fd), buf[:], unix.MSG_DONTWAIT); n <= 0 || err != nil {
				return
			}
		}
	})
}
