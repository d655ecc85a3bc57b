//go:build linux

package benchtarget

import (
	"fmt"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// quiet is a Hold-mode target whose accept loop makes raw system calls and
// no Go allocations, so that a benchmark's allocs/op count only the
// dialling side. It serves one connection at a time, which is enough:
// the kernel completes the handshake before accept, and a dialler closes
// right after connecting.
type quiet struct {
	fd      int
	addr    string
	closing atomic.Bool
	done    chan struct{}
}

// ListenQuiet listens on 127.0.0.1 (a free port) and serves like
// Listen(addr, Hold): it waits for the dialler's FIN, then closes with an
// RST, so no TIME_WAIT socket is left. Its accept loop allocates nothing.
// Benchmarks use it; the load test's separate target process uses Listen.
func ListenQuiet() (Server, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	fail := func(call string, err error) (Server, error) {
		_ = syscall.Close(fd) // the first error is the one to report
		return nil, fmt.Errorf("%s: %w", call, err)
	}
	// Accepted sockets inherit SO_LINGER and SO_RCVTIMEO from the listener:
	// every close is an RST, and every blocking call (accept included)
	// returns within holdLimit, so Close never waits long.
	opts := []struct {
		name string
		set  func() error
	}{
		{"SO_REUSEADDR", func() error { return syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1) }},
		{"SO_LINGER", func() error {
			return syscall.SetsockoptLinger(fd, syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1})
		}},
		{"SO_RCVTIMEO", func() error {
			tv := syscall.NsecToTimeval(int64(holdLimit / 4))
			return syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv)
		}},
	}
	for _, o := range opts {
		if err := o.set(); err != nil {
			return fail("setsockopt "+o.name, err)
		}
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

// discard receives what diallers send; only the loop goroutine uses it.
var discard [512]byte

func (q *quiet) serve() {
	defer close(q.done)
	for !q.closing.Load() {
		// Blocking calls with no address buffer: nothing to allocate.
		nfd, _, errno := syscall.Syscall6(syscall.SYS_ACCEPT4, uintptr(q.fd), 0, 0, syscall.SOCK_CLOEXEC, 0, 0)
		if errno != 0 {
			continue // EAGAIN (the timeout), EINTR, ECONNABORTED, EMFILE...
		}
		deadline := time.Now().Add(holdLimit)
		for time.Now().Before(deadline) {
			n, _, errno := syscall.Syscall6(syscall.SYS_RECVFROM, nfd, uintptr(unsafe.Pointer(&discard[0])), uintptr(len(discard)), 0, 0, 0)
			if errno == syscall.EINTR || errno == syscall.EAGAIN && !q.closing.Load() {
				continue
			}
			if errno != 0 || n == 0 {
				break // EOF: the dialler closed
			}
		}
		_ = syscall.Close(int(nfd)) // an RST, by the inherited SO_LINGER 0
	}
}

// Close stops the loop (shutdown wakes a blocked accept on Linux; the
// receive timeout bounds the rest) and closes the socket.
func (q *quiet) Close() error {
	if q.closing.Swap(true) {
		return nil
	}
	_ = syscall.Shutdown(q.fd, syscall.SHUT_RDWR)
	<-q.done
	return syscall.Close(q.fd)
}
