package prober

import (
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// tcpInfoHead is the start of Linux's struct tcp_info
// (include/uapi/linux/tcp.h), up to tcpi_total_retrans: the kernel copies
// no more than the length asked for, so the read stays on the stack (the
// full struct, as unix.GetsockoptTCPInfo returns it, is 280 bytes on the
// heap for every probe).
type tcpInfoHead struct {
	state        uint8
	_            [7]uint8  // ca_state .. the wscale and app-limited bits
	_            [23]int32 // tcpi_rto .. tcpi_rcv_space
	totalRetrans uint32
}

// tcpInfoHandshake reads the socket's TCP state and tcpi_total_retrans: on
// a socket whose handshake just completed, every retransmission it has made
// is of its SYN (docs/intermittent.md, "Lost SYNs").
func tcpInfoHandshake(fd int) (state uint8, synRetrans int, err error) {
	var info tcpInfoHead
	size := uint32(unsafe.Sizeof(info))
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.IPPROTO_TCP, unix.TCP_INFO,
		uintptr(unsafe.Pointer(&info)), uintptr(unsafe.Pointer(&size)), 0)
	if errno != 0 {
		return 0, 0, syscall.Errno(errno)
	}
	return info.state, int(info.totalRetrans), nil
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
