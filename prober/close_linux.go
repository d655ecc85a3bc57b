package prober

import (
	"errors"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// discardQueued reads and drops what the peer has sent and we have not
// read, without waiting: a close() with an empty receive queue sends no RST.
func discardQueued(c net.Conn) { _ = pollConn(c) }

// pollConn reads and drops what the peer has sent, without waiting, and
// reports whether the session has ended: the peer's FIN (a read of 0) or
// an error (its RST, or a socket that cannot be read). A receive queue
// holds a few hundred KiB at most; a peer that fills it faster than 64
// reads empty it is polled again later.
func pollConn(c net.Conn) bool {
	if tc, ok := c.(*tcpConn); ok {
		ended := true
		_ = tc.control(func(fd int) { ended = pollFD(fd) }) // fails only on a closed socket: ended
		return ended
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	return pollRaw(rc)
}

func pollRaw(rc syscall.RawConn) bool {
	ended := true
	_ = rc.Control(func(fd uintptr) { ended = pollFD(int(fd)) }) // fails only on a closed file: ended
	return ended
}

// pollFD is pollConn on the socket fd.
func pollFD(fd int) bool {
	var buf [4096]byte
	for range 64 {
		n, _, err := unix.Recvfrom(fd, buf[:], unix.MSG_DONTWAIT)
		switch {
		case n > 0, errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			return false // nothing more now; the peer has not ended
		}
		return true // n == 0 with no error: its FIN; or another error
	}
	return false // still data: poll again
}

// Poll makes a tcpConn a limits.Session.
func (c *tcpConn) Poll() bool { return pollConn(c) }
