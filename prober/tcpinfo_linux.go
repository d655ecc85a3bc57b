package prober

import (
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// tcpInfoHead is the start of Linux's struct tcp_info
// (include/uapi/linux/tcp.h), up to tcpi_segs_in: the kernel copies no
// more than the length asked for, so the read stays on the stack (the full
// struct, as unix.GetsockoptTCPInfo returns it, is 280 bytes on the heap
// for every probe). TestTCPInfoHeadLayout holds it to unix.TCPInfo.
type tcpInfoHead struct {
	state        uint8
	_            [7]uint8  // ca_state .. the wscale and app-limited bits
	_            [23]int32 // tcpi_rto .. tcpi_rcv_space
	totalRetrans uint32
	_            [4]uint64 // tcpi_pacing_rate .. tcpi_bytes_received
	segsOut      uint32
	segsIn       uint32
}

// segsInEnd is how much of tcp_info a kernel must copy for tcpi_segs_in
// (Linux 4.2 and later do).
const segsInEnd = uint32(unsafe.Offsetof(tcpInfoHead{}.segsIn) + unsafe.Sizeof(tcpInfoHead{}.segsIn))

// handshake is what TCP_INFO says of a connecting socket.
type handshake struct {
	state uint8
	// synRetrans is tcpi_total_retrans: on a socket whose handshake just
	// completed, every retransmission it has made is of its SYN
	// (docs/intermittent.md, "Lost SYNs").
	synRetrans int
	// segsIn is tcpi_segs_in, the segments received; -1 when the kernel
	// does not report it.
	segsIn int
}

// connected reports whether the handshake has completed: any state but
// SYN_SENT (under way) and CLOSE (failed, or not begun).
func (h handshake) connected() bool {
	return h.state != tcpSynSent && h.state != tcpClose
}

// maybeSelf reports whether a completed handshake may have been the socket
// meeting itself, which only getsockname can tell (selfConnected). Such a
// simultaneous open receives two segments before it completes (its own SYN,
// then its own SYN-ACK), an ordinary handshake one (the SYN-ACK): one
// segment received rules it out, and spares the call (docs/verdicts.md,
// "No self-connect").
func (h handshake) maybeSelf() bool { return h.segsIn != 1 }

// handshakeOf reads the socket's TCP state, tcpi_total_retrans and
// tcpi_segs_in in one getsockopt.
func handshakeOf(fd int) (handshake, error) {
	var info tcpInfoHead
	size := uint32(unsafe.Sizeof(info))
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.IPPROTO_TCP, unix.TCP_INFO,
		uintptr(unsafe.Pointer(&info)), uintptr(unsafe.Pointer(&size)), 0)
	if errno != 0 {
		return handshake{}, syscall.Errno(errno)
	}
	h := handshake{state: info.state, synRetrans: int(info.totalRetrans), segsIn: int(info.segsIn)}
	if size < segsInEnd {
		h.segsIn = -1
	}
	return h, nil
}

// localAddrPort is the socket's own address and port; invalid when
// getsockname fails.
func localAddrPort(fd int) netip.AddrPort {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return netip.AddrPort{}
	}
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), uint16(sa.Port))
	}
	return netip.AddrPort{}
}
