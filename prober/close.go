package prober

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// drainTime bounds how long a closed session waits for the peer's FIN.
const drainTime = time.Second

// maxDraining bounds the sessions draining at once, each holding a
// descriptor for up to drainTime; beyond it a session drains only what has
// already arrived, then closes.
var maxDraining int64 = DefaultMaxDraining // a var for the test of the bound

// DefaultMaxDraining is maxDraining unless SetMaxDraining changes it.
const DefaultMaxDraining = 256

// SetMaxDraining bounds the sessions draining at once: the exporter fits
// them in its descriptor plan (handler.DeriveLimits). Call it before any
// probe runs.
func SetMaxDraining(n int) { maxDraining = int64(max(n, 0)) }

var (
	closing  sync.WaitGroup // the sessions still draining after closePolitely
	draining atomic.Int64
)

// closePolitely ends a session with FIN, never with a RST of our own:
// Linux answers a close() with unread data in the receive queue by a RST,
// which services such as MySQL (max_connect_errors) count against the
// probing host. So it shuts down our direction (FIN), then, in the
// background so that the verdict does not wait, reads and discards what
// the peer still sends until its FIN (or drainTime), and only then closes.
// A peer that keeps sending past drainTime may still get a RST: the kernel
// resets data arriving for a closed socket (docs/kernel-evidence.md,
// "Other host facts"; docs/verdicts.md, "Polite probes").
func closePolitely(c net.Conn) {
	cw, ok := c.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		_ = c.Close() // not connected (a trace's socket): nothing to end politely
		return
	}
	if draining.Add(1) > maxDraining {
		draining.Add(-1)
		discardQueued(c)
		_ = c.Close() // the session is over; a close error changes nothing
		return
	}
	closing.Add(1)
	go func() {
		defer closing.Done()
		defer draining.Add(-1)
		defer func() { _ = c.Close() }() // the session is over; a close error changes nothing
		if c.SetReadDeadline(time.Now().Add(drainTime)) != nil {
			return
		}
		var buf [512]byte
		for {
			if _, err := c.Read(buf[:]); err != nil {
				return // the peer's FIN (EOF), its RST, or drainTime
			}
		}
	}()
}

// WaitClosed waits, at most timeout, until every session closePolitely
// ended has seen the peer's FIN or its drain time: a command about to exit
// calls it, as exit would close the sockets with their unread data.
func WaitClosed(timeout time.Duration) {
	done := make(chan struct{})
	go func() {
		closing.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(timeout):
	}
}
