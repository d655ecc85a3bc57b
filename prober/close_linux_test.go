package prober

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testnet"
	"github.com/tcp-verdict/tcp_verdict_exporter/limits"
)

// readToEnd reads c to its end as the peer of a probe: nil when it ended
// with our FIN alone. A RST that follows our FIN (close() with unread
// data) comes after the EOF, so it is looked for a little later, in the
// socket's state: a RST moves CLOSE_WAIT to CLOSE.
func readToEnd(c *net.TCPConn) error {
	if _, err := io.Copy(io.Discard, c); err != nil {
		return err
	}
	time.Sleep(20 * time.Millisecond)
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var state uint8
	if err := rc.Control(func(fd uintptr) {
		if info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
			state = info.State
		}
	}); err != nil {
		return err
	}
	if state == tcpClose {
		return fmt.Errorf("a RST after our FIN: %w", syscall.ECONNRESET)
	}
	return nil
}

// A probe ends every session with FIN, never a RST of its own, whatever
// the module and whatever the peer left unread: the peer reads EOF.
func TestProbesCloseWithFIN(t *testing.T) {
	type peer func(c *net.TCPConn)
	silent := peer(func(*net.TCPConn) {})
	banner := peer(func(c *net.TCPConn) { _, _ = c.Write([]byte("SSH-2.0-tve\r\n")) })
	chatty := peer(func(c *net.TCPConn) {
		// An SMTP-like dialogue whose last answer the probe never reads.
		_, _ = c.Write([]byte("220 hello\r\n"))
		if line, err := bufio.NewReader(c).ReadString('\n'); err == nil && line == "QUIT\n" {
			_, _ = c.Write([]byte("221 bye\r\n"))
		}
	})
	// A peer that answers our FIN with a last line, as some services say
	// goodbye: it arrives after the probe is over, and only a session
	// still open to read it keeps the kernel from resetting it.
	farewell := peer(func(c *net.TCPConn) {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _ = io.Copy(io.Discard, c) // until our FIN
		time.Sleep(5 * time.Millisecond)
		_, _ = c.Write([]byte("421 closing\r\n"))
	})
	cases := []struct {
		name string
		peer peer
		yaml string
	}{
		{"hold, silent peer", silent, "    tcp: {hold: 50ms}\n"},
		{"hold, banner", banner, "    tcp: {hold: 50ms}\n"},
		{"hold 0s, silent peer", silent, "    tcp: {hold: 0s}\n"},
		{"hold 0s, unread banner", banner, "    tcp: {hold: 0s}\n"},
		{"hold 0s, a line after our FIN", farewell, "    tcp: {hold: 0s}\n"},
		{"query_response, unread answer", chatty, "    tcp:\n      hold: 0s\n      query_response:\n        - expect: \"^220\"\n          send: \"QUIT\"\n"},
		{"query_response, hold after it", chatty, "    tcp:\n      hold: 50ms\n      query_response:\n        - expect: \"^220\"\n          send: \"QUIT\"\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ended := make(chan error, 1)
			target := testnet.Serve(t, "tcp4", "127.0.0.1:0", func(c *net.TCPConn) {
				defer func() { _ = c.Close() }() // after our read saw the end
				tc.peer(c)
				// Read to the end: nil is our FIN, ECONNRESET our RST.
				if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
					ended <- err
					return
				}
				ended <- readToEnd(c)
			})
			r := probeTarget(t, target, module(t, tc.yaml))
			if !r.Success {
				t.Fatalf("probe failed: %s/%s %s %v", r.Class, r.Reason, r.Failure, r.Err)
			}
			switch err := awaitEnd(t, ended); {
			case err == nil:
			case errors.Is(err, syscall.ECONNRESET):
				t.Errorf("the probe reset the session (the peer read ECONNRESET)")
			default:
				t.Errorf("the peer's read ended with %v, want EOF", err)
			}
		})
	}
}

// Beyond the drain bound a session is closed at once, after dropping what
// had already arrived: still FIN, never RST, for data that came before
// close.
func TestCloseBeyondDrainBoundDropsQueuedData(t *testing.T) {

	ended := make(chan error, 1)
	sent := make(chan struct{})
	target := testnet.Serve(t, "tcp4", "127.0.0.1:0", func(c *net.TCPConn) {
		defer func() { _ = c.Close() }()
		_, _ = c.Write([]byte("SSH-2.0-tve\r\n"))
		close(sent)
		if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
			ended <- err
			return
		}
		ended <- readToEnd(c)
	})
	nc, err := net.Dial("tcp4", target)
	if err != nil {
		t.Fatal(err)
	}
	<-sent
	// Wait until the banner sits in our receive queue, unread.
	buf := make([]byte, 1)
	for deadline := time.Now().Add(5 * time.Second); ; {
		rc, _ := nc.(*net.TCPConn).SyscallConn()
		n := 0
		_ = rc.Control(func(fd uintptr) {
			n, _, _ = syscall.Recvfrom(int(fd), buf, syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		})
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the banner never arrived")
		}
		time.Sleep(time.Millisecond)
	}
	closePolitely(nc, limits.NewDrains(0))
	if _, err := nc.Read(buf); !errors.Is(err, net.ErrClosed) {
		t.Errorf("beyond the bound the session is still open (read: %v)", err)
	}
	if err := awaitEnd(t, ended); err != nil {
		t.Errorf("the peer's read ended with %v, want our FIN alone", err)
	}
}

// awaitEnd is how the peer's read of a probed session ended, as its
// handler reports it on ended; the test fails when that takes over 5 s.
func awaitEnd(t *testing.T, ended <-chan error) error {
	t.Helper()
	select {
	case err := <-ended:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("the session never ended")
		return nil
	}
}

// A session the peer has ended closes at once, not through the drains: a
// RST leaves nothing to be polite to, and a FIN read at the end of a
// plaintext stream leaves nothing unread and nothing more to come. After
// its own FIN the peer sees ours, never a RST: its socket ends in
// TIME_WAIT, which a RST would have cut short.
func TestPeerEndedSessionClosesAtOnce(t *testing.T) {
	cases := []struct {
		name   string
		end    func(c *net.TCPConn)
		reason string
	}{
		{"fin", func(c *net.TCPConn) { _ = c.CloseWrite() }, "fin"},
		{"reset", func(c *net.TCPConn) { _ = c.SetLinger(0); _ = c.Close() }, "reset"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ended := make(chan error, 1)
			target := testnet.Serve(t, "tcp4", "127.0.0.1:0", func(c *net.TCPConn) {
				_, _ = c.Write([]byte("220 bye\r\n"))
				tc.end(c)
				if tc.reason == "reset" {
					return
				}
				defer func() { _ = c.Close() }()
				_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
				_, err := io.Copy(io.Discard, c)
				ended <- err
			})
			tg, err := ParseTarget(target)
			if err != nil {
				t.Fatal(err)
			}
			drains := limits.NewDrains(8)
			r := Probe(context.Background(), tg, module(t, "    tcp: {hold: 2s}\n"), Options{Drains: drains})
			// A session handed to the drains stays there at least until
			// their first poll, milliseconds later.
			if n := drains.InUse(); n != 0 {
				t.Errorf("%d sessions went to the drains, want none", n)
			}
			if string(r.Reason) != tc.reason {
				t.Fatalf("reason %s, want %s (%s)", r.Reason, tc.reason, r.Summary())
			}
			if tc.reason == "reset" {
				return
			}
			if err := awaitEnd(t, ended); err != nil {
				t.Fatalf("the peer's read ended with %v, want our FIN", err)
			}
			port := tg.Port
			for deadline := time.Now().Add(2 * time.Second); !timeWaitOn(t, port); time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("no TIME_WAIT on the peer's port %d: our close reset the session", port)
				}
			}
		})
	}
}

// timeWaitOn reports whether an IPv4 socket whose own port is port is in
// TIME_WAIT (/proc/net/tcp: state 06).
func timeWaitOn(t *testing.T, port uint16) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(":%04X", port)
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 3 && strings.HasSuffix(f[1], want) && f[3] == "06" {
			return true
		}
	}
	return false
}
