package prober

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"time"

	promconfig "github.com/prometheus/common/config"

	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// startTLS runs a TLS handshake over the raw connection. The server name is
// the module's tls_config.server_name, else the target's host: its name, or
// its IP address for an IP target, as blackbox_exporter does, so that an IP
// target is verified against the certificate's IP addresses rather than
// refused by crypto/tls before a byte is sent.
func (p *probe) startTLS(s *stream, cfg promconfig.TLSConfig) (*tls.Conn, bool) {
	start := time.Now()
	// The phases in the order they ran: tls, then the hold a failure skips.
	failed := func() (*tls.Conn, bool) {
		p.phase(PhaseTLS, start)
		p.holdSkipped()
		return nil, false
	}
	tlsCfg, err := promconfig.NewTLSConfig(&cfg)
	if err != nil {
		p.fail(verdict.CauseTLSConfig, fmt.Sprintf("tls config: %v", err))
		p.logf("TLS: %s", p.res.Failure)
		p.verdict(verdict.SynAck, p.res.Addr.Addr(), nil) // TCP's part went well
		return failed()
	}
	if tlsCfg.ServerName == "" {
		tlsCfg.ServerName = p.res.Target.Host
	}
	// The handshake's bytes bypass the banner tap; they are kept apart and
	// become the banner only when they were not TLS at all (a plaintext
	// "HTTP/1.1 400 Bad Request" or an SSH banner says what the port speaks).
	handshake := &bannerTap{r: s.conn}
	tlsConn := tls.Client(tappedConn{s.conn, handshake}, tlsCfg)
	if err := tlsConn.Handshake(); err != nil {
		cause := tlsCause(err)
		p.fail(cause, fmt.Sprintf("tls handshake: %v", err))
		p.logf("TLS handshake failed: %v", err)
		if cause == verdict.CauseNotTLS && len(s.tap.seen) == 0 {
			s.tap.seen = handshake.seen
		}
		p.sessionEnded(err)
		return failed()
	}
	p.phase(PhaseTLS, start)
	st := tlsConn.ConnectionState()
	p.res.TLS = &st
	p.logf("TLS %s established (%s)", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
	return tlsConn, true
}

// tappedConn is a net.Conn whose reads go through a banner tap.
type tappedConn struct {
	net.Conn
	tap *bannerTap
}

func (c tappedConn) Read(b []byte) (int, error) { return c.tap.Read(b) }

// fail records why the session failed after connecting: the real error's
// text for people, and its bounded cause for metrics and alerts.
func (p *probe) fail(cause verdict.Cause, failure string) {
	p.res.Cause, p.res.Failure = cause, failure
}

// tlsCause names a failed handshake's cause from the error crypto/tls and
// crypto/x509 return.
func tlsCause(err error) verdict.Cause {
	var invalid x509.CertificateInvalidError
	var authority x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var record tls.RecordHeaderError
	switch {
	case errors.As(err, &invalid):
		if invalid.Reason != x509.Expired {
			return verdict.CauseBadCertificate
		}
		// x509 says Expired for both ends of the validity period.
		if invalid.Cert != nil && time.Now().Before(invalid.Cert.NotBefore) {
			return verdict.CauseNotYetValid
		}
		return verdict.CauseExpired
	case errors.As(err, &authority):
		return verdict.CauseUnknownAuthority
	case errors.As(err, &hostname):
		return verdict.CauseHostnameMismatch
	case errors.As(err, &record):
		return verdict.CauseNotTLS
	case isTimeout(err):
		return verdict.CauseHandshakeTimeout
	case isEnding(err):
		return verdict.CauseHandshakeClosed
	}
	return verdict.CauseHandshake
}

// isTLSAlert tells a TLS alert the server sent after the handshake, as a
// TLS 1.3 server that wants a client certificate does on the first read.
func isTLSAlert(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "remote error"
}

// readCause names the cause of a failed query_response read (after
// sessionEnded has classified it: ended tells whether the peer closed).
func readCause(err error, ended bool) verdict.Cause {
	switch {
	case ended:
		return verdict.CauseExpectClosed
	case isTimeout(err):
		return verdict.CauseExpectTimeout
	case isTLSAlert(err):
		return verdict.CauseHandshake
	}
	return verdict.CauseExpectError
}
