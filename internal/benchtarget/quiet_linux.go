//go:build linux

package benchtarget

import (
	"fmt"
	"sync/atomic"
	"syscall"
)

// linger0 makes close() send an RST and keep no TIME_WAIT socket. It is a
// package variable so that passing its address never allocates.
var linger0 = syscall.Linger{Onoff: 1, Linger: 0}

// quiet is a Reset-mode target whose accept loop makes raw system calls
// and no Go allocations, so that a benchmark's allocs/op count only the
// dialling side.
type quiet struct {
	fd      int
	addr    string
	closing atomic.Bool
	done    chan struct{}
}

// ListenQuiet listens on 127.0.0.1 (a free port) and ends every accepted
// connection with an RST, like Listen(addr, Reset), but allocation-free on
// the accept side. Benchmarks use it; the load test's target uses Listen.
func ListenQuiet() (Server, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	fail := func(call string, err error) (Server, error) {
		syscall.Close(fd)
		return nil, fmt.Errorf("%s: %w", call, err)
	}
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		return fail("setsockopt", err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return fail("bind", err)
	}
	if err := syscall.Listen(fd, 4096); err != nil {
		return fail("listen", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		return fail("getsockname", err)
	}
	in4, ok := sa.(*syscall.SockaddrInet4)
	if !ok {
		return fail("getsockname", fmt.Errorf("unexpected address %T", sa))
	}
	q := &quiet{fd: fd, addr: fmt.Sprintf("127.0.0.1:%d", in4.Port), done: make(chan struct{})}
	go q.serve()
	return q, nil
}

func (q *quiet) Addr() string { return q.addr }

func (q *quiet) serve() {
	defer close(q.done)
	for {
		// A blocking accept4 with no address buffer: nothing to allocate.
		nfd, _, errno := syscall.Syscall6(syscall.SYS_ACCEPT4, uintptr(q.fd), 0, 0, syscall.SOCK_CLOEXEC, 0, 0)
		if errno != 0 {
			if q.closing.Load() {
				return
			}
			continue // EINTR, ECONNABORTED, EMFILE...: keep serving
		}
		_ = syscall.SetsockoptLinger(int(nfd), syscall.SOL_SOCKET, syscall.SO_LINGER, &linger0)
		syscall.Close(int(nfd))
	}
}

// Close wakes the blocked accept (shutdown does on Linux), waits for the
// loop to end and closes the socket.
func (q *quiet) Close() error {
	if q.closing.Swap(true) {
		return nil
	}
	_ = syscall.Shutdown(q.fd, syscall.SHUT_RDWR)
	<-q.done
	return syscall.Close(q.fd)
}
