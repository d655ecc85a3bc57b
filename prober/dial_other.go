//go:build !linux

package prober

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"

	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// dialTCP elsewhere than Linux: no ICMP error queue, so the verdict rests
// on errno alone.
func dialTCP(ctx context.Context, src netip.Addr, dst netip.AddrPort, _, _ bool) (net.Conn, netip.Addr, verdict.DialEvidence, error) {
	d := net.Dialer{KeepAlive: -1}
	if src.IsValid() {
		d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0))
	}
	network := "tcp4"
	if dst.Addr().Is6() {
		network = "tcp6"
	}
	conn, err := d.DialContext(ctx, network, dst.String())
	if err == nil {
		la, _ := conn.LocalAddr().(*net.TCPAddr)
		return conn, la.AddrPort().Addr().Unmap(), verdict.DialEvidence{}, nil
	}
	ev := verdict.DialEvidence{Syscall: "connect", Errno: errnoOf(err), TimedOut: isTimeout(err)}
	var sysErr *os.SyscallError
	if errors.As(err, &sysErr) {
		ev.Syscall = sysErr.Syscall
	}
	return nil, netip.Addr{}, ev, err
}
