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
func dialTCP(ctx context.Context, src netip.Addr, dst netip.AddrPort, _ dialWant, info *dialInfo) (net.Conn, verdict.DialEvidence, error) {
	*info = dialInfo{}
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
		info.Local = netip.AddrPortFrom(la.AddrPort().Addr().Unmap(), la.AddrPort().Port())
		return conn, verdict.DialEvidence{}, nil
	}
	ev := verdict.DialEvidence{Syscall: "connect", Errno: errnoOf(err), TimedOut: isTimeout(err)}
	var sysErr *os.SyscallError
	if errors.As(err, &sysErr) {
		ev.Syscall = sysErr.Syscall
	}
	return nil, ev, err
}

// dialWant and dialInfo as on Linux; SYN retransmissions are unknown here.
type dialWant uint8

const (
	wantNoDelay dialWant = 1 << iota
	wantLocal
	wantFlow
)

type dialInfo struct {
	Local          netip.AddrPort
	SynRetransmits int
}
