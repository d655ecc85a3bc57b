package testnet

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// FullBacklog returns a loopback address whose listener never accepts and
// whose accept queue is full: the kernel drops every further SYN to it
// (ListenOverflows), as a firewall that drops would. It is the silence a
// loopback can offer. Listener and queued connections close when the test
// ends.
func FullBacklog(t testing.TB) netip.AddrPort {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 1); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(sa.(*unix.SockaddrInet4).Port))
	for range 8 {
		info, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
		if err != nil {
			t.Fatal(err)
		}
		if info.Unacked > info.Sacked { // a listener's queue length and limit
			return addr
		}
		c, err := net.DialTimeout("tcp4", addr.String(), 500*time.Millisecond)
		if err != nil {
			t.Fatalf("filling the accept queue: %v", err)
		}
		t.Cleanup(func() { _ = c.Close() })
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the accept queue does not fill")
	return addr
}
