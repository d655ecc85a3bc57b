//go:build linux

package e2e

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testnet"
)

// servers are the lab's TCP and DNS servers. Their sockets are created
// inside a namespace; accept loops and handlers run on ordinary goroutines.
type servers struct {
	mu      sync.Mutex
	closers []interface{ Close() error }
	wg      sync.WaitGroup
}

func (s *servers) keep(c interface{ Close() error }) {
	s.mu.Lock()
	s.closers = append(s.closers, c)
	s.mu.Unlock()
}

// Close closes every listener and every connection still held.
func (s *servers) Close() error {
	s.mu.Lock()
	cs := s.closers
	s.closers = nil
	s.mu.Unlock()
	for _, c := range cs {
		_ = c.Close() // a handler may have closed it already
	}
	s.wg.Wait()
	return nil
}

// serverBehaviour is what a listener does with each connection it accepts.
type serverBehaviour func(s *servers, c *net.TCPConn)

// The behaviours ignore their write and close errors: the prober on the
// other end may have gone already, and its verdict is what the tests check.

var (
	// silent accepts and stays silent: telnet shows "Connected".
	silent serverBehaviour = func(s *servers, c *net.TCPConn) { s.keep(c) }
	// banner sends a greeting and keeps the session open.
	banner serverBehaviour = func(s *servers, c *net.TCPConn) {
		_, _ = c.Write([]byte("SSH-2.0-tve_lab\r\n"))
		s.keep(c)
	}
	// closeFIN closes at once: a FIN.
	closeFIN serverBehaviour = func(_ *servers, c *net.TCPConn) { _ = c.Close() }
	// closeRST closes with SO_LINGER 0: a RST.
	closeRST serverBehaviour = func(_ *servers, c *net.TCPConn) {
		_ = c.SetLinger(0)
		_ = c.Close()
	}
	// accessDenied says so, then closes (FIN), as tcpwrappers-style services do.
	accessDenied serverBehaviour = func(_ *servers, c *net.TCPConn) {
		_, _ = c.Write([]byte("Access denied\r\n"))
		_ = c.Close()
	}
	// stream sends lines without end until the peer goes away: a debug
	// answer must stay bounded (load_linux_test.go).
	stream serverBehaviour = func(s *servers, c *net.TCPConn) {
		s.keep(c)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			line := []byte(strings.Repeat("streaming line ", 8) + "\r\n")
			for {
				if _, err := c.Write(line); err != nil {
					return
				}
			}
		}()
	}
)

// listen starts a dual-stack listener on port in ns.
func (s *servers) listen(ns string, port int, behave serverBehaviour) error {
	var ln *net.TCPListener
	err := inNS(ns, func() error {
		l, err := net.ListenTCP("tcp", &net.TCPAddr{Port: port})
		ln = l
		return err
	})
	if err != nil {
		return fmt.Errorf("listening on port %d in %s: %w", port, ns, err)
	}
	s.keep(ln)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.AcceptTCP()
			if err != nil {
				return
			}
			behave(s, c)
		}
	}()
	return nil
}

// fdCloser closes a raw descriptor.
type fdCloser int

func (fd fdCloser) Close() error { return unix.Close(int(fd)) }

// listenFullBacklog makes a dual-stack listener on port in ns that never
// accepts, with an accept backlog of 1, and fills its accept queue from
// inside ns (connecting to fill): from then on the kernel drops every SYN
// to the port (ListenOverflows), exactly like a firewall that drops.
func (s *servers) listenFullBacklog(ns string, port int, fill netip.Addr) error {
	return inNS(ns, func() error {
		fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		s.keep(fdCloser(fd))
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0); err != nil {
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrInet6{Port: port}); err != nil {
			return err
		}
		if err := unix.Listen(fd, 1); err != nil {
			return err
		}
		target := netip.AddrPortFrom(fill, uint16(port)).String()
		for range 8 {
			info, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
			if err != nil {
				return err
			}
			// For a listener, tcpi_unacked is the accept queue's length and
			// tcpi_sacked its limit; the queue is full beyond the limit.
			if info.Unacked > info.Sacked {
				return nil
			}
			c, err := net.DialTimeout("tcp", target, 500*time.Millisecond)
			if err != nil {
				return fmt.Errorf("filling the backlog of port %d: %w", port, err)
			}
			s.keep(c)
			time.Sleep(10 * time.Millisecond) // let the final ACK reach the queue
		}
		return fmt.Errorf("the accept queue of port %d does not fill", port)
	})
}

// serveDNS answers UDP queries on addr (inside ns) from zone.
func (s *servers) serveDNS(ns string, addr netip.AddrPort, zone *testnet.DNSZone) error {
	var conn *net.UDPConn
	err := inNS(ns, func() error {
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr))
		conn = c
		return err
	})
	if err != nil {
		return fmt.Errorf("DNS server on %s in %s: %w", addr, ns, err)
	}
	s.keep(conn)
	testnet.ServeDNS(conn, zone, &s.wg)
	return nil
}
