package limits

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// pendingBytes reports whether the kernel holds bytes conn has received
// and nobody has read yet (SIOCINQ).
func pendingBytes(conn net.Conn) bool {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	n := 0
	if err := rc.Control(func(fd uintptr) { n, _ = unix.IoctlGetInt(int(fd), unix.SIOCINQ) }); err != nil {
		return false
	}
	return n > 0
}
