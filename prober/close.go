package prober

import (
	"net"
	"time"

	"github.com/tcp-verdict/tcp_verdict_exporter/limits"
)

// drainTime bounds how long a closed session waits for the peer's FIN.
const drainTime = time.Second

// closePolitely ends a session with FIN, never with a RST of our own:
// Linux answers a close() with unread data in the receive queue by a RST,
// which services such as MySQL (max_connect_errors) count against the
// probing host. So it shuts down our direction (FIN), then, in the
// background so that the verdict does not wait, reads and discards what
// the peer still sends until its FIN (or drainTime), and only then closes.
// drains bounds the sessions draining at once (each holds a descriptor);
// beyond it, or with nil drains, a session drains only what has already
// arrived, then closes. A peer that keeps sending past drainTime may still
// get a RST: the kernel resets data arriving for a closed socket
// (docs/kernel-evidence.md, "Other host facts"; docs/verdicts.md, "Polite probes").
func closePolitely(c net.Conn, drains *limits.Drains) {
	cw, ok := c.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		_ = c.Close() // not connected (a trace's socket): nothing to end politely
		return
	}
	if !drains.Start() {
		discardQueued(c)
		_ = c.Close() // the session is over; a close error changes nothing
		return
	}
	go func() {
		defer drains.Done()
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
