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
// and data that arrives after close() by another, which services such as
// MySQL (max_connect_errors) count against the probing host. So it shuts
// down our direction (FIN) and hands the session to drains, which reads
// and drops what the peer still sends until its FIN or RST (or drainTime)
// and only then closes it. The verdict does not wait, and no goroutine is
// spent per session: drains polls them all from one (limits.Drains), and
// on loopback or in a LAN the peer's answer to our FIN is there at the
// first poll. Beyond the drains' bound, or with nil drains, a session
// drains only what has already arrived, then closes. A peer that keeps
// sending past drainTime may still get a RST: the kernel resets data
// arriving for a closed socket (docs/kernel-evidence.md, "Other host
// facts"; docs/verdicts.md, "Polite probes").
func closePolitely(c net.Conn, drains *limits.Drains) {
	cw, ok := c.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		_ = c.Close() // not connected (a trace's socket): nothing to end politely
		return
	}
	s, ok := c.(limits.Session) // *tcpConn is one
	if !ok {
		s = polledConn{c}
	}
	if !drains.Drain(s, time.Now().Add(drainTime)) {
		discardQueued(c)
		_ = c.Close() // the session is over; a close error changes nothing
	}
}

// polledConn is a net.Conn as a limits.Session.
type polledConn struct{ net.Conn }

func (c polledConn) Poll() bool { return pollConn(c.Conn) }
