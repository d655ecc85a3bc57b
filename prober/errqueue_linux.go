package prober

import (
	"encoding/binary"
	"net/netip"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// errQueue reads a socket's ICMP error queue (MSG_ERRQUEUE). It borrows
// the descriptor: whoever owns the socket closes it, after the read.
type errQueue struct {
	fd int
}

// setRecvErr asks the kernel to queue the socket's ICMP errors
// (IP_RECVERR; IPV6_RECVERR, which IPv6 requires).
func setRecvErr(fd int, v6 bool) error {
	level, opt := unix.IPPROTO_IP, unix.IP_RECVERR
	if v6 {
		level, opt = unix.IPPROTO_IPV6, unix.IPV6_RECVERR
	}
	if err := unix.SetsockoptInt(fd, level, opt, 1); err != nil {
		return &syscallError{"setsockopt", err}
	}
	return nil
}

// read drains the queue and returns its first ICMP error, if any.
func (q *errQueue) read() *verdict.ICMP {
	icmp, _ := q.readStamped()
	return icmp
}

// readStamped is read, plus the time the kernel received that ICMP
// message when the socket asked for timestamps (SO_TIMESTAMPNS); zero
// otherwise.
func (q *errQueue) readStamped() (*verdict.ICMP, time.Time) {
	if q.fd <= 0 {
		return nil, time.Time{}
	}
	var (
		data  [64]byte
		oob   [256]byte
		first *verdict.ICMP
		at    time.Time
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
		var stamp time.Time
		var icmp *verdict.ICMP
		for _, m := range msgs {
			if e := parseExtendedErr(m); e != nil && icmp == nil {
				icmp = e
			}
			if t, ok := parseTimestamp(m); ok {
				stamp = t
			}
		}
		if icmp != nil && first == nil {
			first, at = icmp, stamp
		}
	}
	if first != nil {
		// An ICMP from the socket's own address was made by this host's
		// kernel (e.g. its ARP/NDP failed): no router is the responder.
		first.Local = first.Offender.IsValid() && first.Offender == q.localAddr()
	}
	return first, at
}

// parseTimestamp decodes an SCM_TIMESTAMPNS message: when the kernel
// received the packet (CLOCK_REALTIME).
func parseTimestamp(m unix.SocketControlMessage) (time.Time, bool) {
	if m.Header.Level != unix.SOL_SOCKET || m.Header.Type != unix.SCM_TIMESTAMPNS ||
		len(m.Data) < int(unsafe.Sizeof(unix.Timespec{})) {
		return time.Time{}, false
	}
	ts := (*unix.Timespec)(unsafe.Pointer(&m.Data[0]))
	if ts.Sec == 0 && ts.Nsec == 0 {
		return time.Time{}, false
	}
	return time.Unix(int64(ts.Sec), int64(ts.Nsec)), true
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
