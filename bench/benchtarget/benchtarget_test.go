package benchtarget

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"
)

// serveAndStop dials srv n times, closing each connection, then checks that
// Close returns promptly. Reset mode's RST may beat connect(): that
// ECONNRESET is its documented behaviour, not a failure.
func serveAndStop(t *testing.T, srv Server, n int, mode Mode) {
	t.Helper()
	for i := range n {
		c, err := net.DialTimeout("tcp4", srv.Addr(), 2*time.Second)
		if mode == Reset && errors.Is(err, syscall.ECONNRESET) {
			continue
		}
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		if err := c.Close(); err != nil {
			t.Fatalf("close %d: %v", i, err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- srv.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Close did not return within 3s")
	}
}

func TestListenModes(t *testing.T) {
	for _, name := range []string{"hold", "close", "rst"} {
		t.Run(name, func(t *testing.T) {
			mode, err := ParseMode(name)
			if err != nil {
				t.Fatal(err)
			}
			srv, err := Listen("127.0.0.1:0", mode)
			if err != nil {
				t.Fatal(err)
			}
			serveAndStop(t, srv, 50, mode)
		})
	}
	if _, err := ParseMode("nope"); err == nil {
		t.Error("ParseMode accepted an unknown mode")
	}
}

func TestListenQuiet(t *testing.T) {
	srv, err := ListenQuiet()
	if err != nil {
		t.Fatal(err)
	}
	serveAndStop(t, srv, 200, Hold)
}

// TestListenQuietIdleClose stops a target whose accept loop is blocked.
func TestListenQuietIdleClose(t *testing.T) {
	srv, err := ListenQuiet()
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	serveAndStop(t, srv, 0, Hold)
}
