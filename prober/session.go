package prober

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tcp-verdict/tcp_verdict_exporter/config"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

const (
	maxBanner   = 200  // bytes of the first line kept as the banner
	maxLineRead = 4096 // longest line a query_response expect reads
	// MaxReceivedTranscript bounds the bytes of the peer's data the
	// transcript shows during the hold: a peer that streams must not grow a
	// debug answer without end (docs/security.md, "Load limits, HTTP hardening and debug").
	MaxReceivedTranscript = 32 << 10
)

// bannerTap records the first bytes the peer sends, whoever reads them.
type bannerTap struct {
	r    io.Reader
	seen []byte
}

func (t *bannerTap) Read(b []byte) (int, error) {
	n, err := t.r.Read(b)
	if room := maxBanner + 2 - len(t.seen); room > 0 && n > 0 {
		t.seen = append(t.seen, b[:min(n, room)]...)
	}
	return n, err
}

// banner returns the first line received, with control characters and
// invalid UTF-8 replaced so that it is safe in logs and terminals, and
// whether it was cut at maxBanner bytes.
func (t *bannerTap) banner() (string, bool) {
	line := t.seen
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	line = bytes.TrimRight(line, "\r")
	cut := len(line) > maxBanner
	if cut {
		line = line[:maxBanner]
	}
	return sanitize(line), cut
}

func sanitize(b []byte) string {
	var s strings.Builder
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		b = b[size:]
		switch {
		case r == utf8.RuneError && size <= 1:
			s.WriteRune('\uFFFD')
		case !unicode.IsPrint(r) && r != ' ':
			s.WriteRune('\uFFFD')
		default:
			s.WriteRune(r)
		}
	}
	return s.String()
}

// session runs the steps after the handshake: TLS, the query_response
// script, then the hold watch that tells a live session from one the peer
// closes at once.
func (p *probe) session(conn net.Conn, tcp *config.TCPProbe) {
	peer := p.res.Addr.Addr()
	if tcp.Hold <= 0 && !tcp.TLS && len(tcp.QueryResponse) == 0 {
		p.hold(conn, nil, 0, peer) // connect only: nothing to read, no deadline to set
		return
	}
	if err := conn.SetDeadline(p.deadline); err != nil {
		p.verdict(verdict.LocalError, netip.Addr{}, fmt.Errorf("setting deadline: %w", err))
		return
	}
	s := newStream(conn)
	defer func() { p.res.Banner, p.res.BannerCut = s.tap.banner() }()

	if tcp.TLS {
		tlsConn, ok := p.startTLS(s, tcp.TLSConfig)
		if !ok {
			return
		}
		s.upgrade(tlsConn)
	}
	if len(tcp.QueryResponse) > 0 {
		start := time.Now()
		ok := p.query(s, tcp)
		p.phase(PhaseQuery, start)
		if !ok {
			p.holdSkipped()
			return
		}
	}
	p.hold(conn, s.r, tcp.Hold, peer)
}

// stream is the session's two directions as the query_response script
// sees them: reads through the banner tap and a line buffer, writes to the
// raw connection until a TLS handshake (tls or starttls) replaces both.
type stream struct {
	conn net.Conn // the raw connection, under any TLS
	tap  *bannerTap
	r    *bufio.Reader
	w    io.Writer
}

func newStream(conn net.Conn) *stream {
	tap := &bannerTap{r: conn}
	return &stream{conn: conn, tap: tap, r: bufio.NewReaderSize(tap, maxLineRead), w: conn}
}

// upgrade moves both directions onto a TLS connection over s.conn. The
// banner tap moves above TLS: the banner is what the service said, in
// plaintext before a STARTTLS or decrypted after, never handshake bytes.
func (s *stream) upgrade(tlsConn *tls.Conn) {
	s.tap.r = tlsConn
	s.r, s.w = bufio.NewReaderSize(s.tap, maxLineRead), tlsConn
}

// holdSkipped records the hold a failure skipped, once: a STARTTLS that
// fails inside query_response ends both the TLS step and the script.
func (p *probe) holdSkipped() {
	if _, ok := p.res.PhaseDuration(PhaseHold); !ok {
		p.res.Phases = append(p.res.Phases, PhaseDuration{Phase: PhaseHold})
	}
}

// query runs blackbox_exporter's query_response steps.
func (p *probe) query(s *stream, tcp *config.TCPProbe) bool {
	for i, qr := range tcp.QueryResponse {
		var match []int
		var line string
		if qr.Expect.Regexp != nil {
			var err error
			line, match, err = expectLine(s.r, qr.Expect)
			if err != nil {
				p.res.FailedDueToRegex = true
				p.logf("(expected %q, got: %v)", qr.Expect.String(), err)
				p.fail(readCause(err, p.sessionEnded(err)), fmt.Sprintf("query_response[%d]: expected %q: %v", i, qr.Expect.String(), err))
				return false
			}
			p.logf("< %s", sanitize([]byte(line)))
			for _, l := range qr.Labels {
				value := string(qr.Expect.ExpandString(nil, l.Value, line, match))
				p.res.ExpectLabels = append(p.res.ExpectLabels, ExpectLabel{l.Name, value})
			}
		}
		if qr.ExpectBytes != "" {
			if err := expectBytes(s.r, []byte(qr.ExpectBytes)); err != nil {
				p.res.FailedDueToRegex = true
				p.logf("(expected bytes %q, got: %v)", qr.ExpectBytes, err)
				p.fail(readCause(err, p.sessionEnded(err)), fmt.Sprintf("query_response[%d]: expected bytes %q: %v", i, qr.ExpectBytes, err))
				return false
			}
		}
		if qr.Send != "" {
			send := qr.Send
			if match != nil {
				send = string(qr.Expect.ExpandString(nil, send, line, match))
			}
			p.logf("> %s", sanitize([]byte(send)))
			if _, err := fmt.Fprintf(s.w, "%s\n", send); err != nil {
				p.fail(verdict.CauseSendFailed, fmt.Sprintf("query_response[%d]: sending: %v", i, err))
				p.sessionEnded(err)
				return false
			}
		}
		if qr.StartTLS {
			tlsConn, ok := p.startTLS(s, tcp.TLSConfig)
			if !ok {
				return false
			}
			s.upgrade(tlsConn)
		}
	}
	return true
}

func expectLine(br *bufio.Reader, re config.Regexp) (string, []int, error) {
	for {
		raw, err := br.ReadSlice('\n')
		if len(raw) > 0 {
			line := strings.TrimRight(string(raw), "\r\n")
			if m := re.FindStringSubmatchIndex(line); m != nil {
				return line, m, nil
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue // a line longer than the buffer: test its pieces
		}
		if err != nil {
			return "", nil, err
		}
	}
}

func expectBytes(br *bufio.Reader, want []byte) error {
	var got []byte
	buf := make([]byte, 512)
	for !bytes.Contains(got, want) {
		n, err := br.Read(buf)
		got = append(got, buf[:n]...)
		if len(got) > 64*1024 {
			got = got[len(got)-len(want):]
		}
		if err != nil && !bytes.Contains(got, want) {
			return err
		}
	}
	return nil
}

// hold reads br until the hold time ends: EOF means the peer closed the
// session (FIN), ECONNRESET or EPIPE that it reset it (sessionEnded);
// silence or data means it stays up. br is nil when there is nothing to
// read (hold 0).
func (p *probe) hold(conn net.Conn, br *bufio.Reader, hold time.Duration, peer netip.Addr) {
	start := time.Now()
	defer p.phase(PhaseHold, start)
	if hold <= 0 {
		p.verdict(verdict.SynAck, peer, nil)
		return
	}
	end := start.Add(hold)
	if end.After(p.deadline) {
		end = p.deadline
	}
	// The raw connection's deadline also bounds a TLS session above it.
	if err := conn.SetReadDeadline(end); err != nil {
		p.verdict(verdict.LocalError, netip.Addr{}, fmt.Errorf("setting hold deadline: %w", err))
		return
	}
	var buf [512]byte
	var pending []byte
	for {
		n, err := br.Read(buf[:])
		if n > 0 && p.trace {
			pending = p.logLines(append(pending, buf[:n]...))
		}
		if err == nil {
			continue
		}
		if len(pending) > 0 {
			p.logReceived(pending)
		}
		if p.notShown > 0 {
			p.logf("(%d more bytes received, not shown: the transcript shows the first %d)", p.notShown, MaxReceivedTranscript)
		}
		if isTimeout(err) {
			p.verdict(verdict.SynAck, peer, nil)
			p.logf("(session still up after %s hold)", RoundDuration(time.Since(start)))
			return
		}
		p.sessionEnded(err)
		if p.res.Class == verdict.Connected { // an error that is not an ending
			cause := verdict.CauseReadError
			if isTLSAlert(err) {
				cause = verdict.CauseHandshake
			}
			p.fail(cause, fmt.Sprintf("reading: %v", err))
			p.logf("(%s)", p.res.Failure)
		}
		return
	}
}

// logLines writes complete lines to the transcript and returns the rest.
func (p *probe) logLines(b []byte) []byte {
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			if len(b) > maxBanner {
				p.logReceived(b)
				return nil
			}
			return b
		}
		p.logReceived(bytes.TrimRight(b[:i], "\r"))
		b = b[i+1:]
	}
}

// logReceived writes a line the peer sent to the transcript, until
// MaxReceivedTranscript bytes are shown; beyond, it only counts them.
func (p *probe) logReceived(line []byte) {
	if p.notShown > 0 || p.shown+len(line) > MaxReceivedTranscript {
		p.notShown += len(line)
		return
	}
	p.shown += len(line)
	p.logf("< %s", sanitize(line))
}

// sessionEnded classifies an error met after the handshake: FIN or RST
// from the peer closes the session; anything else leaves it connected.
// It reports whether the error was such an ending.
func (p *probe) sessionEnded(err error) bool {
	peer := p.res.Addr.Addr()
	switch {
	case isFin(err):
		p.verdict(verdict.Fin, peer, nil)
		p.logf("Connection closed by foreign host.")
		return true
	case isReset(err):
		p.verdict(verdict.Reset, peer, nil)
		p.logf("Connection reset by foreign host.")
		return true
	}
	p.verdict(verdict.SynAck, peer, nil)
	return false
}

func isFin(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// isEnding tells whether err is the peer ending the session (FIN or RST).
func isEnding(err error) bool { return isFin(err) || isReset(err) }
