package prober

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tcp-verdict/tcp_verdict_exporter/limits"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// traceRoute is an unprivileged TCP traceroute (Linux ≥ 5.8; see
// docs/kernel-evidence.md, "Unprivileged TCP traceroute (Linux ≥ 5.8)"): one
// non-blocking TCP socket per TTL from 1 to maxHops, each with its ICMP error
// queue armed and its TTL (hop limit) set, sends its SYN with connect(), all at
// once. A router whose TTL runs out answers with ICMP time-exceeded, a hop that
// rejects with its unreachable or prohibited message, the target with SYN-ACK or
// RST; the error queue names the sender. It waits up to wait (and no longer than
// ctx), or until a hop ends the path and every TTL below it has answered, then
// closes every socket and returns the hops up to the one that ended the path.
//
// The sockets are watched through the runtime's poller, one goroutine each;
// the work is bounded by maxHops (at most config.MaxTraceHops) and wait.
func traceRoute(ctx context.Context, src netip.Addr, dst netip.AddrPort, maxHops int, wait time.Duration, drains *limits.Drains) ([]Hop, error) {
	deadline := time.Now().Add(wait)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	sockets := make([]*traceSocket, 0, maxHops)
	defer func() {
		for _, s := range sockets {
			// One that reached the target ends with FIN, as a probe does;
			// the others (no connection) just close.
			closePolitely(fileConn(s.f), drains)
		}
	}()
	results := make(chan Hop, maxHops)
	stop := func() {
		for _, s := range sockets {
			_ = s.f.SetWriteDeadline(time.Unix(1, 0)) // wakes its watcher
		}
	}
	collect := func(n int) {
		for range n {
			<-results
		}
	}
	for ttl := 1; ttl <= maxHops; ttl++ {
		s, err := openTraceSocket(netip.AddrPortFrom(src, 0), dst, ttl)
		if err != nil {
			stop()
			collect(len(sockets))
			return nil, err
		}
		sockets = append(sockets, s)
		// Set before the watcher starts, so that stop() always wins.
		if err := s.f.SetWriteDeadline(deadline); err != nil { // its watcher could wait forever
			stop()
			collect(len(sockets) - 1) // this one's watcher never started
			return nil, fmt.Errorf("trace socket for TTL %d: %w", ttl, err)
		}
		go s.watch(results)
	}

	hops := make([]Hop, maxHops)
	for i := range hops {
		hops[i].TTL = i + 1
	}
	done := make([]bool, maxHops)
	cancelled := ctx.Done()
	stopped := false
	for range maxHops {
		var h Hop
		select {
		case h = <-results:
		case <-cancelled:
			stop()
			stopped, cancelled = true, nil
			h = <-results
		}
		hops[h.TTL-1], done[h.TTL-1] = h, true
		if !stopped && traceComplete(hops, done) {
			stop()
			stopped = true
		}
	}
	return endTrace(hops), nil
}

// traceSocket is one TTL's socket.
type traceSocket struct {
	f      *os.File // non-blocking, so os.NewFile put it in the runtime's poller
	ttl    int
	sent   time.Time
	target netip.Addr
	// connErr is connect()'s own error, other than EINPROGRESS: the answer
	// came before connect() returned (on loopback, or from our own kernel).
	connErr syscall.Errno
}

// openTraceSocket makes the socket for one TTL and sends its SYN, from src
// when it is valid: from its address alone when its port is 0, else from
// that very address and port (traceFlow), bound with SO_REUSEADDR as the
// attempt's socket was.
func openTraceSocket(src, dst netip.AddrPort, ttl int) (*traceSocket, error) {
	level, opt := unix.IPPROTO_IP, unix.IP_TTL
	if dst.Addr().Is6() {
		level, opt = unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS
	}
	bindAddr, flow := src.Addr(), src.Port() != 0
	if flow {
		bindAddr = netip.Addr{} // bound below, port and all
	}
	fd, err := armedSocket(bindAddr, dst, func(fd int) error {
		if err := setsockopt(unix.SetsockoptInt(fd, level, opt, ttl)); err != nil {
			return err
		}
		// The kernel stamps the ICMP answer when it arrives: the hop's RTT
		// then leaves out how late this process reads it.
		if err := setsockopt(unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)); err != nil || !flow {
			return err
		}
		if err := setsockopt(unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)); err != nil {
			return err
		}
		if err := unix.Bind(fd, sockaddr(src)); err != nil {
			return &syscallError{"bind", err}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	keep := false
	defer func() {
		if !keep {
			_ = unix.Close(fd)
		}
	}()
	sa, err := sockaddrZone(dst)
	if err != nil {
		return nil, &syscallError{"connect", err}
	}
	s := &traceSocket{ttl: ttl, target: dst.Addr(), sent: time.Now()}
	err = unix.Connect(fd, sa)
	var errno syscall.Errno
	switch {
	case err == nil, errors.Is(err, unix.EINPROGRESS):
	case errors.As(err, &errno) && answerErrno(errno):
		s.connErr = errno
	default:
		return nil, &syscallError{"connect", err}
	}
	s.f = os.NewFile(uintptr(fd), "traceroute")
	keep = true
	return s, nil
}

// answerErrno tells connect() errors that are an answer (or the absence of
// one) for the trace from failures of this host.
func answerErrno(e syscall.Errno) bool {
	switch e {
	case unix.ECONNREFUSED, unix.ECONNRESET, unix.EHOSTUNREACH, unix.ENETUNREACH, unix.EACCES, unix.EPERM:
		return true
	}
	return false
}

func sockaddr(a netip.AddrPort) unix.Sockaddr {
	if a.Addr().Is4() {
		return &unix.SockaddrInet4{Port: int(a.Port()), Addr: a.Addr().As4()}
	}
	return &unix.SockaddrInet6{Port: int(a.Port()), Addr: a.Addr().As16()}
}

// watch waits, through the runtime's poller, until the socket has its
// answer or its deadline passes, and sends the hop (silent on a deadline).
func (s *traceSocket) watch(out chan<- Hop) {
	h := Hop{TTL: s.ttl}
	if rc, err := s.f.SyscallConn(); err == nil {
		// A connecting socket becomes writable when the handshake completes,
		// and reports EPOLLERR when an error is queued: both wake a writer.
		_ = rc.Write(func(fd uintptr) bool { return s.inspect(int(fd), &h) })
	}
	out <- h
}

// TCP states (include/net/tcp_states.h).
const (
	tcpSynSent = 2
	tcpClose   = 7
)

// inspect reads what the socket has heard; it reports false while its SYN
// is still unanswered.
func (s *traceSocket) inspect(fd int, h *Hop) bool {
	// The state first: one that has left SYN_SENT without an error has completed
	// the handshake. Then SO_ERROR, before the queue, whose reading clears the
	// pending error (docs/kernel-evidence.md, "The ICMP error queue (IP_RECVERR,
	// IPV6_RECVERR)").
	state := uint8(tcpSynSent)
	if info, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
		state = info.State
	}
	soErr, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	errno := syscall.Errno(soErr)
	if errno == 0 {
		errno, s.connErr = s.connErr, 0
	}
	q := errQueue{fd: fd} // borrowed: the file closes the descriptor
	icmp, arrived := q.readStamped()
	rtt := time.Since(s.sent)
	switch {
	case icmp != nil:
		// The kernel's receive time is on the wall clock: trust it only
		// within what the monotonic clock saw.
		if k := arrived.Sub(s.sent.Round(0)); !arrived.IsZero() && k > 0 && k <= rtt {
			rtt = k
		}
		h.Addr, h.ICMP, h.RTT = icmp.Offender, icmp, rtt
		if r, ok := verdict.FromICMP(*icmp); ok {
			h.Reason = r
		}
		h.Reached = icmp.Offender == s.target
	case errno == unix.ECONNREFUSED:
		h.Addr, h.Reason, h.Reached, h.RTT = s.target, verdict.ConnRefused, true, rtt
	case errno == unix.ECONNRESET || errno == unix.EPIPE:
		// Past SYN_SENT, then reset: the target had answered the SYN.
		h.Addr, h.Reason, h.Reached, h.RTT = s.target, verdict.SynAck, true, rtt
	case errno != 0:
		// Failed with no ICMP to say who: nothing on the path answered.
	case state == tcpSynSent:
		return false
	case state != tcpClose:
		h.Addr, h.Reason, h.Reached, h.RTT = s.target, verdict.SynAck, true, rtt
	}
	return true
}
