package prober

import (
	"context"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testnet"
)

// tcpInfoHead must lay out the fields it reads where unix.TCPInfo, the
// kernel's struct tcp_info, has them.
func TestTCPInfoHeadLayout(t *testing.T) {
	var ours tcpInfoHead
	var theirs unix.TCPInfo
	for _, f := range []struct {
		name         string
		ours, theirs uintptr
	}{
		{"state", unsafe.Offsetof(ours.state), unsafe.Offsetof(theirs.State)},
		{"total_retrans", unsafe.Offsetof(ours.totalRetrans), unsafe.Offsetof(theirs.Total_retrans)},
		{"segs_out", unsafe.Offsetof(ours.segsOut), unsafe.Offsetof(theirs.Segs_out)},
		{"segs_in", unsafe.Offsetof(ours.segsIn), unsafe.Offsetof(theirs.Segs_in)},
	} {
		if f.ours != f.theirs {
			t.Errorf("tcpi_%s at offset %d, the kernel's at %d", f.name, f.ours, f.theirs)
		}
	}
}

// An ordinary handshake receives one segment before it completes, so the
// self-connect check can skip its getsockname; a socket that meets itself
// (bound to the port it connects to: a simultaneous open) receives two,
// and must be looked at.
func TestHandshakeTellsWhenSelfConnectIsPossible(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	dst := l.Addr().(*net.TCPAddr).AddrPort()

	handshakeTo := func(t *testing.T, bindSelf bool) handshake {
		t.Helper()
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = unix.Close(fd) }()
		to := dst
		if bindSelf {
			if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
				t.Fatal(err)
			}
			to = sockName(fd) // its own address and port
		}
		if err := unix.Connect(fd, sockaddr(to)); err != nil { // blocking
			t.Fatalf("connect to %s: %v", to, err)
		}
		hs, err := handshakeOf(fd)
		if err != nil {
			t.Fatal(err)
		}
		if !hs.connected() {
			t.Fatalf("state %d after a blocking connect, want a completed handshake", hs.state)
		}
		if bindSelf && !selfConnected(sockName(fd), to) {
			t.Fatalf("the socket bound to %s did not meet itself", to)
		}
		return hs
	}
	if hs := handshakeTo(t, false); hs.maybeSelf() {
		t.Errorf("an ordinary handshake (segs_in %d) is taken for a possible self-connect", hs.segsIn)
	}
	if hs := handshakeTo(t, true); !hs.maybeSelf() {
		t.Errorf("a self-connect (segs_in %d) is not taken for one", hs.segsIn)
	}
}

// A connect-only dial to a loopback port completes before connect()
// returns and stays off the runtime's poller; the first read or write
// joins it, and both ways end with FIN (TestProbesCloseWithFIN).
func TestDialJoinsThePollerOnlyForIO(t *testing.T) {
	got := make(chan string, 1)
	target := testnet.Serve(t, "tcp4", "127.0.0.1:0", func(c *net.TCPConn) {
		defer func() { _ = c.Close() }() // our FIN answered with its own
		_, _ = c.Write([]byte("hello\n"))
		b, _ := io.ReadAll(c)
		got <- string(b)
	})
	dst := netip.MustParseAddrPort(target)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	var info dialInfo
	conn, _, err := dialTCP(ctx, netip.Addr{}, dst, 0, &info)
	if err != nil {
		t.Fatal(err)
	}
	c := conn.(*tcpConn)
	if c.file != nil {
		t.Fatal("a loopback dial joined the poller before any I/O")
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatalf("FIN without the poller: %v", err)
	}
	if s := <-got; s != "" {
		t.Errorf("the peer read %q, want our FIN alone", s)
	}
	// The peer closes after our FIN; its FIN may still be on its way.
	for deadline := time.Now().Add(5 * time.Second); !c.Poll(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the peer's FIN was not seen by a poll without the poller")
		}
	}
	if err := c.Close(); err != nil {
		t.Errorf("close without the poller: %v", err)
	}
	if err := c.Close(); err == nil {
		t.Error("a second close succeeded")
	}

	conn, _, err = dialTCP(ctx, netip.Addr{}, dst, 0, &info)
	if err != nil {
		t.Fatal(err)
	}
	c = conn.(*tcpConn)
	defer func() { _ = c.Close() }()
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if c.file == nil {
		t.Fatal("setting a deadline did not join the poller")
	}
	buf := make([]byte, 16)
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "hello\n" {
		t.Errorf("read %q, %v; want the greeting", buf[:n], err)
	}
	if _, err := c.Write([]byte("bye\n")); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s != "bye\n" {
		t.Errorf("the peer read %q, want what we wrote", s)
	}
}
