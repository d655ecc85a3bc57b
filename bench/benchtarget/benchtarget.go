// Package benchtarget is the loopback TCP target the benchmarks and the load
// test probe: it accepts connections in a loop and ends each one at once.
// It is test tooling; the exporter never imports it.
package benchtarget

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// holdLimit bounds how long Hold waits for a dialler to close.
const holdLimit = 2 * time.Second

// Mode is how the target ends an accepted connection.
type Mode string

const (
	// Hold waits for the dialler to close (as a real service waits for its
	// client), then closes with SO_LINGER 0. The dialler sees an ordinary
	// session and closes first with a FIN; the RST that answers it leaves
	// neither side a TIME_WAIT socket, so millions of dials never run out
	// of ephemeral ports. The default.
	Hold Mode = "hold"
	// Close closes at once with a FIN. Whichever side closes first keeps a
	// TIME_WAIT socket for 60 s (on loopback, net.ipv4.tcp_tw_reuse=2, the
	// default, lets the dialler reuse them after a second).
	Close Mode = "close"
	// Reset closes at once with an RST. It races the dialler's connect():
	// a dialler that checks SO_ERROR after the RST sees ECONNRESET, so it
	// is for testing that case, not for measuring.
	Reset Mode = "rst"
)

// ParseMode checks a mode name.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case Reset, Close, Hold:
		return m, nil
	}
	return "", fmt.Errorf("target mode %q: want rst, close or hold", s)
}

// Server is a running target: dial Addr, then Close it.
type Server interface {
	Addr() string
	Close() error
}

// Target is a listening loopback target.
type Target struct {
	ln   net.Listener
	mode Mode
	wg   sync.WaitGroup
}

// Listen listens on addr (e.g. "127.0.0.1:0") and serves until Close.
func Listen(addr string, mode Mode) (*Target, error) {
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		return nil, err
	}
	t := &Target{ln: ln, mode: mode}
	t.wg.Add(1)
	go t.serve()
	return t, nil
}

// Addr is the address to dial, e.g. "127.0.0.1:40123".
func (t *Target) Addr() string { return t.ln.Addr().String() }

// Close stops accepting and waits for the accept loop to end.
func (t *Target) Close() error {
	err := t.ln.Close()
	t.wg.Wait()
	return err
}

func (t *Target) serve() {
	defer t.wg.Done()
	for {
		c, err := t.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // e.g. EMFILE under load: keep serving
		}
		switch t.mode {
		case Reset:
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			_ = c.Close()
		case Close:
			_ = c.Close()
		case Hold:
			t.wg.Add(1)
			go func() {
				defer t.wg.Done()
				// Bounded, so that a dialler that never closes cannot
				// keep Close waiting.
				_ = c.SetReadDeadline(time.Now().Add(holdLimit))
				_, _ = io.Copy(io.Discard, c)
				if tc, ok := c.(*net.TCPConn); ok {
					_ = tc.SetLinger(0)
				}
				_ = c.Close()
			}()
		}
	}
}
