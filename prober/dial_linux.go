package prober

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// dialTCP connects to dst (from src, when valid) on a socket whose ICMP
// error queue is armed, and keeps the socket until the queue is read, so a
// failure comes back with its evidence. It drives socket/connect itself, on
// the runtime's poller: Go's net.Dialer closes the socket when connect()
// fails, taking the queue with it, and spends system calls a probe does not
// need (keepalive, TCP_NODELAY, getsockname). wantLocal asks for our own
// address, which costs a getsockname.
//
// A connection to one of this host's own addresses can connect to itself:
// when the kernel picks the target's port as the source port, the SYN
// meets itself (a simultaneous open) and no listener is involved. dialTCP
// closes such a connection and dials again, at most selfConnectTries
// times; when every try met itself it returns errSelfConnect. Go's
// net.Dialer does the same check (docs/kernel-evidence.md, "Other host facts").
func dialTCP(ctx context.Context, src netip.Addr, dst netip.AddrPort, want dialWant, info *dialInfo) (net.Conn, verdict.DialEvidence, error) {
	for try := 1; ; try++ {
		conn, ev, err := dialOnce(ctx, src, dst, want, info)
		if !errors.Is(err, errSelfConnect) {
			return conn, ev, err
		}
		if try == selfConnectTries || ctx.Err() != nil {
			return nil, ev, fmt.Errorf("%w (%d tries)", err, try)
		}
	}
}

// dialWant says what a dial does beyond connecting.
type dialWant uint8

const (
	// wantNoDelay turns Nagle off: the probe sends (query_response).
	wantNoDelay dialWant = 1 << iota
	// wantLocal asks for our own address, which costs a getsockname
	// after the handshake.
	wantLocal
	// wantFlow asks for our own address and port as soon as the SYN is
	// sent, failure or not, and marks the socket SO_REUSEADDR, so that a
	// path trace can send its SYNs from the same port once the attempt
	// has closed (traceFlow). It costs a setsockopt and a getsockname.
	wantFlow
)

// dialInfo is what a dial learnt besides its verdict.
type dialInfo struct {
	// Local is our own address (wantLocal, after the handshake) or address
	// and port (wantFlow, as soon as the SYN is sent); invalid otherwise.
	Local netip.AddrPort
	// SynRetransmits is how many times the kernel sent the SYN again before
	// the handshake completed (tcp_info's tcpi_total_retrans, read when it
	// completed; docs/intermittent.md). 0 when it did not complete.
	SynRetransmits int
}

// dialOnce is one try of dialTCP.
func dialOnce(ctx context.Context, src netip.Addr, dst netip.AddrPort, want dialWant, info *dialInfo) (net.Conn, verdict.DialEvidence, error) {
	*info = dialInfo{}
	fd, err := armedSocket(src, dst, func(fd int) error {
		if want&wantFlow != 0 {
			if err := setsockopt(unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)); err != nil {
				return err
			}
		}
		if want&wantNoDelay == 0 {
			return nil
		}
		return setsockopt(unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1))
	})
	if err != nil {
		var own *syscallError
		errors.As(err, &own) // armedSocket's errors are all *syscallError
		return nil, localEvidence(own.call, own.err), os.NewSyscallError(own.call, own.err)
	}
	sa, err := sockaddrZone(dst)
	if err != nil {
		_ = unix.Close(fd) // the dial already failed; that error is reported
		return nil, localEvidence("connect", err), os.NewSyscallError("connect", err)
	}
	switch err := unix.Connect(fd, sa); {
	case err == nil, errors.Is(err, unix.EINPROGRESS):
		if want&wantFlow != 0 {
			info.Local = localAddrPort(fd) // the kernel chose the port in connect()
		}
	default:
		// Answered before connect() returned (loopback, our own kernel).
		ev := verdict.DialEvidence{Syscall: "connect", Errno: errnoOf(err), ICMP: (&errQueue{fd: fd}).read()}
		_ = unix.Close(fd) // the dial already failed; that error is reported
		return nil, ev, os.NewSyscallError("connect", err)
	}

	// The first look, before the runtime's poller: on loopback and on
	// this host's own addresses the handshake is often over when connect()
	// returns, and then the socket joins the poller only if the session
	// reads or writes (tcpConn): a connect-only probe saves the fcntl and
	// two epoll_ctl calls os.NewFile and its close cost (docs/performance.md,
	// "Hot path").
	switch hs, err := handshakeOf(fd); {
	case err != nil:
		_ = unix.Close(fd) // the dial already failed; that error is reported
		return nil, localEvidence("getsockopt", err), os.NewSyscallError("getsockopt", err)
	case hs.connected():
		info.SynRetransmits = hs.synRetrans
		return connected(fd, nil, nil, dst, want, info, hs.maybeSelf())
	}

	f := os.NewFile(uintptr(fd), "tcp") // non-blocking: joins the runtime's poller
	if d, ok := ctx.Deadline(); ok {
		if err := f.SetWriteDeadline(d); err != nil { // not pollable: the wait could never end
			_ = f.Close() // the set-up error is the one to report
			return nil, localEvidence("connect", err), fmt.Errorf("arming the connect deadline: %w", err)
		}
	}
	rc, err := f.SyscallConn()
	if err != nil { // only on a closed file: it cannot happen here
		_ = f.Close()
		return nil, localEvidence("connect", err), fmt.Errorf("socket: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = f.SetWriteDeadline(time.Unix(1, 0)) }) // a client gone
	var hs handshake
	connErr := waitConnected(rc, &hs)
	stop()
	if connErr != nil {
		var ev verdict.DialEvidence
		_ = rc.Control(func(fd uintptr) { // f is open, so Control runs
			ev = verdict.DialEvidence{Syscall: "connect", Errno: errnoOf(connErr), ICMP: (&errQueue{fd: int(fd)}).read()}
		})
		ev.TimedOut = errors.Is(connErr, os.ErrDeadlineExceeded)
		_ = f.Close() // the dial already failed; that error is reported
		if ev.TimedOut && ctx.Err() != nil {
			connErr = ctx.Err()
		}
		return nil, ev, connErr
	}
	_ = f.SetWriteDeadline(time.Time{}) // f is open and pollable: cannot fail
	info.SynRetransmits = hs.synRetrans
	return connected(fd, f, rc, dst, want, info, hs.maybeSelf())
}

// connected makes the connected socket fd (in f when it has joined the
// poller, f nil otherwise) a tcpConn, after the self-connect check, which
// needs our own address only when the handshake may have been one
// (maybeSelf); wantLocal asks for it all the same.
func connected(fd int, f *os.File, rc syscall.RawConn, dst netip.AddrPort, want dialWant, info *dialInfo, maybeSelf bool) (net.Conn, verdict.DialEvidence, error) {
	c := &tcpConn{fd: fd, file: f, rc: rc, remote: net.TCPAddrFromAddrPort(dst)}
	if maybeSelf || want&wantLocal != 0 {
		local := sockName(fd) // one getsockname serves the self-connect check and the local address
		if selfConnected(local, dst) {
			// Close with an abort: nobody else is on this connection, and a
			// TIME_WAIT would keep a service from binding the target's port
			// for a minute (docs/verdicts.md, "No self-connect").
			_ = unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0}) // without it, a TIME_WAIT: no worse
			_ = c.Close()                                                                                     // nothing was sent or queued on it: there is nothing to report
			return nil, verdict.DialEvidence{Syscall: "connect"}, errSelfConnect
		}
		if want&wantLocal != 0 && !info.Local.IsValid() {
			info.Local = netip.AddrPortFrom(local.Addr(), 0)
		}
	}
	c.local = net.TCPAddrFromAddrPort(info.Local)
	return c, verdict.DialEvidence{}, nil
}

// selfConnected reports whether a connected socket whose own address and
// port are local connected to itself: they are the target's.
func selfConnected(local, dst netip.AddrPort) bool {
	return local.IsValid() && local.Port() == dst.Port() && local.Addr() == dst.Addr().WithZone("").Unmap()
}

// sockName is the socket's own address and port; not valid when it cannot
// be read. It calls getsockname itself: unix.Getsockname also asks for
// SO_PROTOCOL (one system call more) and allocates the address, for every
// probe.
func sockName(fd int) netip.AddrPort {
	var rsa unix.RawSockaddrAny
	n := uint32(unsafe.Sizeof(rsa))
	if _, _, e := unix.RawSyscall(unix.SYS_GETSOCKNAME, uintptr(fd), uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&n))); e != 0 {
		return netip.AddrPort{}
	}
	switch rsa.Addr.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&rsa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), portOf(sa.Port))
	case unix.AF_INET6:
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(&rsa))
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), portOf(sa.Port))
	}
	return netip.AddrPort{}
}

// portOf reads a sockaddr's port, which is in network byte order.
func portOf(p uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return uint16(b[0])<<8 | uint16(b[1])
}

// waitConnected waits until the handshake ends, and writes what
// TCP_INFO said of it to hs. A connecting socket turns writable when the
// handshake completes, and reports EPOLLERR when an error (or a queued
// ICMP) arrives. TCP_INFO's state tells a completed handshake (Go's own
// dialer asks getpeername; this one call also brings the SYN
// retransmissions, docs/intermittent.md); SO_ERROR, asked only when it is
// not complete, tells a failure from a handshake still under way. The
// first look comes before any wait: the poller forgets readiness that
// arrived before the wait began.
func waitConnected(rc syscall.RawConn, hs *handshake) error {
	var connErr error
	err := rc.Write(func(fd uintptr) bool {
		var err error
		if *hs, err = handshakeOf(int(fd)); err != nil {
			connErr = os.NewSyscallError("getsockopt", err)
			return true
		}
		if hs.connected() {
			return true
		}
		switch v, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR); {
		case err != nil:
			connErr = os.NewSyscallError("getsockopt", err)
		case v != 0:
			connErr = os.NewSyscallError("connect", syscall.Errno(v))
		default:
			return false // the handshake is still under way
		}
		return true
	})
	if err != nil {
		return err // the deadline, or the client gone
	}
	return connErr
}

// armedSocket makes a non-blocking TCP socket for dst with its ICMP error
// queue armed, applies setup, and binds it to src when src is valid; the
// caller connects it. Every error is a *syscallError naming the call.
func armedSocket(src netip.Addr, dst netip.AddrPort, setup func(fd int) error) (int, error) {
	v6 := dst.Addr().Is6()
	domain := unix.AF_INET
	if v6 {
		domain = unix.AF_INET6
	}
	fd, err := unix.Socket(domain, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return -1, &syscallError{"socket", err}
	}
	err = setRecvErr(fd, v6)
	if err == nil {
		err = setup(fd)
	}
	if err == nil && src.IsValid() {
		if berr := unix.Bind(fd, sockaddr(netip.AddrPortFrom(src, 0))); berr != nil {
			err = &syscallError{"bind", berr}
		}
	}
	if err != nil {
		_ = unix.Close(fd) // the set-up error is the one to report
		return -1, err
	}
	return fd, nil
}

// setsockopt wraps a setsockopt error as a failure of our own set-up.
func setsockopt(err error) error {
	if err != nil {
		return &syscallError{"setsockopt", err}
	}
	return nil
}

// localEvidence is the evidence of a failure of our own socket set-up.
func localEvidence(call string, err error) verdict.DialEvidence {
	return verdict.DialEvidence{Syscall: call, Errno: errnoOf(err)}
}

// sockaddrZone is sockaddr with an IPv6 zone resolved to its interface.
func sockaddrZone(a netip.AddrPort) (unix.Sockaddr, error) {
	sa := sockaddr(a)
	if zone := a.Addr().Zone(); zone != "" {
		ifi, err := net.InterfaceByName(zone)
		if err != nil {
			return nil, unix.EINVAL
		}
		sa.(*unix.SockaddrInet6).ZoneId = uint32(ifi.Index)
	}
	return sa, nil
}

// tcpConn is a connected socket as a net.Conn. It joins the runtime's
// poller (an os.File, which brings reads, writes and deadlines) only when
// the session first reads, writes or sets a deadline; a connect-only probe
// ends it with system calls on the descriptor alone (dialOnce).
type tcpConn struct {
	fd            int             // the socket; owned by file once there is one
	file          *os.File        // nil until the session does I/O (fileOf)
	rc            syscall.RawConn // file's, for the calls os.File has no method for
	local, remote *net.TCPAddr
}

// fileConn is a tcpConn for a socket already in the poller.
func fileConn(f *os.File) *tcpConn {
	c := &tcpConn{fd: -1}
	c.adopt(f)
	return c
}

// fileOf is c's os.File, made on first use. A probe's session runs on one
// goroutine, and the drains take the conn over after it.
func (c *tcpConn) fileOf() *os.File {
	if c.file == nil {
		c.adopt(os.NewFile(uintptr(c.fd), "tcp"))
	}
	return c.file
}

// adopt hands the socket over to f.
func (c *tcpConn) adopt(f *os.File) {
	c.file = f
	c.rc, _ = f.SyscallConn() // an error only on a closed file, whose calls then fail in turn
}

func (c *tcpConn) Read(b []byte) (int, error)  { return c.fileOf().Read(b) }
func (c *tcpConn) Write(b []byte) (int, error) { return c.fileOf().Write(b) }
func (c *tcpConn) SetDeadline(t time.Time) error {
	return c.fileOf().SetDeadline(t)
}
func (c *tcpConn) SetReadDeadline(t time.Time) error {
	return c.fileOf().SetReadDeadline(t)
}
func (c *tcpConn) SetWriteDeadline(t time.Time) error {
	return c.fileOf().SetWriteDeadline(t)
}

// Close closes the socket, through its File when it has one.
func (c *tcpConn) Close() error {
	if c.file != nil {
		return c.file.Close()
	}
	if c.fd < 0 {
		return os.ErrClosed
	}
	fd := c.fd
	c.fd = -1
	return os.NewSyscallError("close", unix.Close(fd))
}

// control runs fn on the open socket.
func (c *tcpConn) control(fn func(fd int)) error {
	if c.file == nil {
		if c.fd < 0 {
			return os.ErrClosed
		}
		fn(c.fd)
		return nil
	}
	if c.rc == nil {
		return os.ErrClosed
	}
	return c.rc.Control(func(fd uintptr) { fn(int(fd)) })
}

func (c *tcpConn) LocalAddr() net.Addr  { return c.local }
func (c *tcpConn) RemoteAddr() net.Addr { return c.remote }

// CloseWrite sends our FIN and keeps the socket open for reading.
func (c *tcpConn) CloseWrite() error {
	var serr error
	if err := c.control(func(fd int) { serr = unix.Shutdown(fd, unix.SHUT_WR) }); err != nil {
		return err
	}
	return serr
}
