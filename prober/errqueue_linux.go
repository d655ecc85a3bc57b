package prober

import (
	"encoding/binary"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// errQueue keeps a duplicate of the dialling socket's descriptor. Go's
// net.Dialer closes the socket when connect() fails, and with it the ICMP
// error queue that tells *why*; the duplicate keeps the socket, and so the
// queue, alive until we have read it.
type errQueue struct {
	fd int
}

// arm runs inside net.Dialer.Control, before bind() and connect(): it asks
// the kernel to queue ICMP errors and keeps a duplicate descriptor.
func (q *errQueue) arm(v6 bool, fd uintptr) error {
	level, opt := unix.IPPROTO_IP, unix.IP_RECVERR
	if v6 {
		level, opt = unix.IPPROTO_IPV6, unix.IPV6_RECVERR
	}
	if err := unix.SetsockoptInt(int(fd), level, opt, 1); err != nil {
		return &syscallError{"setsockopt", err}
	}
	dup, err := unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return &syscallError{"dup", err}
	}
	q.fd = dup
	return nil
}

// read drains the queue and returns its first ICMP error, if any.
func (q *errQueue) read() *verdict.ICMP {
	if q.fd <= 0 {
		return nil
	}
	var (
		data  [64]byte
		oob   [256]byte
		first *verdict.ICMP
	)
	for range 8 { // the queue is short; bound the loop all the same
		_, oobn, _, _, err := unix.Recvmsg(q.fd, data[:], oob[:], unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT)
		if err != nil {
			break
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			continue
		}
		for _, m := range msgs {
			if icmp := parseExtendedErr(m); icmp != nil && first == nil {
				first = icmp
			}
		}
	}
	if first != nil {
		// An ICMP from the socket's own address was made by this host's
		// kernel (e.g. its ARP/NDP failed): no router is the responder.
		first.Local = first.Offender.IsValid() && first.Offender == q.localAddr()
	}
	return first
}

// localAddr is the socket's own address, as connect() bound it.
func (q *errQueue) localAddr() netip.Addr {
	sa, err := unix.Getsockname(q.fd)
	if err != nil {
		return netip.Addr{}
	}
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrFrom4(sa.Addr)
	case *unix.SockaddrInet6:
		return netip.AddrFrom16(sa.Addr).Unmap()
	}
	return netip.Addr{}
}

func (q *errQueue) close() {
	if q.fd > 0 {
		unix.Close(q.fd)
		q.fd = 0
	}
}

// parseExtendedErr decodes a sock_extended_err and the offender address
// (SO_EE_OFFENDER) that follows it.
func parseExtendedErr(m unix.SocketControlMessage) *verdict.ICMP {
	isV4 := m.Header.Level == unix.IPPROTO_IP && m.Header.Type == unix.IP_RECVERR
	isV6 := m.Header.Level == unix.IPPROTO_IPV6 && m.Header.Type == unix.IPV6_RECVERR
	const eeSize = int(unsafe.Sizeof(unix.SockExtendedErr{}))
	if !isV4 && !isV6 || len(m.Data) < eeSize {
		return nil
	}
	ee := (*unix.SockExtendedErr)(unsafe.Pointer(&m.Data[0]))
	var icmp verdict.ICMP
	switch ee.Origin {
	case unix.SO_EE_ORIGIN_ICMP:
	case unix.SO_EE_ORIGIN_ICMP6:
		icmp.V6 = true
	default:
		return nil // local errors (e.g. EMSGSIZE) are not network evidence
	}
	icmp.Type, icmp.Code = ee.Type, ee.Code
	icmp.Offender = parseSockaddr(m.Data[eeSize:])
	return &icmp
}

func parseSockaddr(b []byte) netip.Addr {
	if len(b) < 2 {
		return netip.Addr{}
	}
	switch binary.NativeEndian.Uint16(b) {
	case unix.AF_INET:
		if len(b) >= 8 {
			return netip.AddrFrom4([4]byte(b[4:8]))
		}
	case unix.AF_INET6:
		if len(b) >= 24 {
			return netip.AddrFrom16([16]byte(b[8:24])).Unmap()
		}
	}
	return netip.Addr{}
}
