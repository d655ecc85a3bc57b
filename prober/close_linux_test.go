package prober

import (
	"bufio"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testnet"
)

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
	cases := []struct {
		name string
		peer peer
		yaml string
	}{
		{"hold, silent peer", silent, "    tcp: {hold: 50ms}\n"},
		{"hold, banner", banner, "    tcp: {hold: 50ms}\n"},
		{"hold 0s, silent peer", silent, "    tcp: {hold: 0s}\n"},
		{"hold 0s, unread banner", banner, "    tcp: {hold: 0s}\n"},
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
				_, err := io.Copy(io.Discard, c)
				ended <- err
			})
			r := probeTarget(t, target, module(t, tc.yaml))
			if !r.Success {
				t.Fatalf("probe failed: %s/%s %s %v", r.Class, r.Reason, r.Failure, r.Err)
			}
			select {
			case err := <-ended:
				switch {
				case err == nil:
				case errors.Is(err, syscall.ECONNRESET):
					t.Errorf("the probe reset the session (the peer read ECONNRESET)")
				default:
					t.Errorf("the peer's read ended with %v, want EOF", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the session never ended")
			}
		})
	}
}
