package prober

import (
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testnet"
	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testpki"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// Every way a TLS probe fails names its cause, keeps TCP's verdict, shows
// the real error, and never shows handshake bytes as the banner.
func TestTLSCauses(t *testing.T) {
	ca := testpki.NewCA(t)
	now := time.Now()
	valid := ca.Issue(t, testpki.Spec{DNSNames: []string{"tls.test", "localhost"}, IPs: []string{"127.0.0.1", "::1"}})
	expired := ca.Issue(t, testpki.Spec{IPs: []string{"127.0.0.1"}, NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-24 * time.Hour)})
	notYet := ca.Issue(t, testpki.Spec{IPs: []string{"127.0.0.1"}, NotBefore: now.Add(24 * time.Hour), NotAfter: now.Add(48 * time.Hour)})
	wrongName := ca.Issue(t, testpki.Spec{DNSNames: []string{"other.test"}})
	selfSigned := testpki.SelfSigned(t, testpki.Spec{DNSNames: []string{"tls.test"}, IPs: []string{"127.0.0.1"}})

	validAddr := testpki.Serve(t, "tcp4", valid)
	valid6 := testpki.Serve(t, "tcp6", valid)
	_, validPort, _ := net.SplitHostPort(validAddr)
	http := testpki.ServePlaintext(t, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", true)
	ssh := testpki.ServePlaintext(t, "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n", false)
	silent := testnet.Serve(t, "tcp4", "127.0.0.1:0", testnet.KeepOpen)
	hangUp := testnet.Serve(t, "tcp4", "127.0.0.1:0", func(c *net.TCPConn) {
		buf := make([]byte, 4096)
		c.Read(buf) //nolint:errcheck // read the ClientHello, then hang up
		_ = c.Close()
	})

	tlsModule := "    timeout: 2s\n    tcp:\n      hold: 0s\n      tls: true\n      tls_config: {ca_file: " + ca.File + "%s}\n      query_response:\n        - expect: \"^\\\\+OK\"\n"
	plain := module(t, strings.ReplaceAll(tlsModule, "%s", ""))
	named := module(t, strings.ReplaceAll(tlsModule, "%s", ", server_name: tls.test"))
	cases := []struct {
		name    string
		target  string
		m       string // module yaml; tlsModule when empty
		class   verdict.Class
		cause   verdict.Cause
		failure string // in Failure, the real error's words
		banner  string
	}{
		{"valid by IP", validAddr, "", verdict.Connected, "", "", testpki.Greeting},
		{"valid by IPv6", valid6, "", verdict.Connected, "", "", testpki.Greeting},
		// localhost comes from /etc/hosts (as in TestLocalhostResolves); ip4,
		// as the server listens on 127.0.0.1 only.
		{"valid by name", "localhost:" + validPort, strings.Replace(strings.ReplaceAll(tlsModule, "%s", ""), "      hold: 0s\n", "      hold: 0s\n      preferred_ip_protocol: ip4\n", 1),
			verdict.Connected, "", "", testpki.Greeting},
		{"expired", testpki.Serve(t, "tcp4", expired), "", verdict.Connected, verdict.CauseExpired, "certificate has expired", ""},
		{"not yet valid", testpki.Serve(t, "tcp4", notYet), "", verdict.Connected, verdict.CauseNotYetValid, "is before", ""},
		{"self-signed", testpki.Serve(t, "tcp4", selfSigned), "", verdict.Connected, verdict.CauseUnknownAuthority, "unknown authority", ""},
		{"wrong name, by IP", testpki.Serve(t, "tcp4", wrongName), "", verdict.Connected, verdict.CauseHostnameMismatch, "127.0.0.1", ""},
		{"plaintext HTTP", http, "", verdict.Connected, verdict.CauseNotTLS, "does not look like a TLS handshake", "HTTP/1.1 400 Bad Request"},
		{"plaintext SSH banner", ssh, "", verdict.Connected, verdict.CauseNotTLS, "does not look like a TLS handshake", "SSH-2.0-OpenSSH_9.2p1 Debian-2"},
		{"silent: handshake times out", silent, "    timeout: 300ms\n    tcp:\n      tls: true\n", verdict.Connected, verdict.CauseHandshakeTimeout, "timeout", ""},
		{"hangs up during the handshake", hangUp, "", verdict.ClosedByPeer, verdict.CauseHandshakeClosed, "EOF", ""},
		{"missing CA file", validAddr, "    tcp:\n      tls: true\n      tls_config: {ca_file: /nonexistent/ca.pem}\n", verdict.Connected, verdict.CauseTLSConfig, "/nonexistent/ca.pem", ""},
		// TLS 1.3: the client's handshake is done before the server checks
		// for a client certificate; its alert comes on the first read.
		{"wants a client certificate", testpki.ServeConfig(t, "tcp4", &tls.Config{Certificates: []tls.Certificate{valid.TLS}, ClientAuth: tls.RequireAnyClientCert}),
			"", verdict.Connected, verdict.CauseHandshake, "certificate required", ""},
		{"expect not met after TLS", validAddr, "    timeout: 1s\n    tcp:\n      tls: true\n      tls_config: {ca_file: " + ca.File + "}\n      query_response:\n        - expect: \"^NEVER\"\n",
			verdict.Connected, verdict.CauseExpectTimeout, "i/o timeout", testpki.Greeting},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := plain
			if tc.m != "" {
				m = module(t, tc.m)
			}
			r := probeTarget(t, tc.target, m)
			if r.Class != tc.class || r.Cause != tc.cause || r.Success != (tc.cause == "") {
				t.Fatalf("got %s cause %q success %v (failure %q), want %s cause %q", r.Summary(), r.Cause, r.Success, r.Failure, tc.class, tc.cause)
			}
			if !strings.Contains(r.Failure, tc.failure) {
				t.Errorf("failure %q lacks the real error's %q", r.Failure, tc.failure)
			}
			if tc.failure != "" && !strings.Contains(r.TranscriptText(), tc.failure) {
				t.Errorf("transcript lacks %q:\n%s", tc.failure, r.TranscriptText())
			}
			if r.Banner != tc.banner {
				t.Errorf("banner %q, want %q", r.Banner, tc.banner)
			}
			// The TLS state (and so blackbox's series) follows the client's
			// handshake, which a post-handshake alert comes after.
			handshakeOK := tc.cause == "" || tc.cause.Info().Phase != "tls" || tc.name == "wants a client certificate"
			if (r.TLS != nil) != handshakeOK {
				t.Errorf("TLS state present = %v, want %v", r.TLS != nil, handshakeOK)
			}
		})
	}

	// tls_config.server_name wins over the target's host.
	r := probeTarget(t, validAddr, named)
	if !r.Success || r.TLS == nil || r.TLS.ServerName != "tls.test" {
		t.Fatalf("server_name: %s failure %q", r.Summary(), r.Failure)
	}
	r = probeTarget(t, testpki.Serve(t, "tcp4", wrongName), named)
	if r.Cause != verdict.CauseHostnameMismatch || !strings.Contains(r.Failure, "tls.test") {
		t.Fatalf("server_name against a certificate for another name: cause %q failure %q", r.Cause, r.Failure)
	}
}

// STARTTLS inside query_response: the banner is the plaintext greeting,
// the TLS state is the upgraded session's.
func TestStartTLS(t *testing.T) {
	ca := testpki.NewCA(t)
	leaf := ca.Issue(t, testpki.Spec{IPs: []string{"127.0.0.1"}})
	addr := testpki.ServeStartTLS(t, leaf)
	m := module(t, "    tcp:\n      hold: 0s\n      tls_config: {ca_file: "+ca.File+"}\n      query_response:\n"+
		"        - expect: \"^220 .*ESMTP\"\n          send: STARTTLS\n        - expect: \"^220 go\"\n          starttls: true\n        - expect: \"^\\\\+OK\"\n")
	r := probeTarget(t, addr, m)
	if !r.Success || r.TLS == nil {
		t.Fatalf("starttls: %s failure %q", r.Summary(), r.Failure)
	}
	if r.Banner != "220 smtp.test ESMTP ready" {
		t.Errorf("banner %q, want the plaintext greeting", r.Banner)
	}
	if !strings.Contains(r.TranscriptText(), "< "+testpki.Greeting) {
		t.Errorf("the decrypted greeting is not in the transcript:\n%s", r.TranscriptText())
	}

	// A STARTTLS whose certificate fails: cause and phase tls, the
	// plaintext banner, and each phase once.
	self := testpki.ServeStartTLS(t, testpki.SelfSigned(t, testpki.Spec{IPs: []string{"127.0.0.1"}}))
	r = probeTarget(t, self, m)
	if r.Cause != verdict.CauseUnknownAuthority || r.Banner != "220 smtp.test ESMTP ready" || r.TLS != nil {
		t.Fatalf("starttls to a self-signed certificate: cause %q banner %q failure %q", r.Cause, r.Banner, r.Failure)
	}
	seen := map[Phase]int{}
	for _, pd := range r.Phases {
		seen[pd.Phase]++
	}
	for _, ph := range []Phase{PhaseResolve, PhaseConnect, PhaseTLS, PhaseQuery, PhaseHold} {
		if seen[ph] != 1 {
			t.Errorf("phase %s reported %d times: %v", ph, seen[ph], r.Phases)
		}
	}
}

// The cause of a failed read is named from how the session ended.
func TestReadCause(t *testing.T) {
	cases := []struct {
		err   error
		ended bool
		want  verdict.Cause
	}{
		{&net.OpError{Op: "read", Err: timeoutErr{}}, false, verdict.CauseExpectTimeout},
		{&net.OpError{Op: "remote error", Err: net.UnknownNetworkError("tls: certificate required")}, false, verdict.CauseHandshake},
		{net.UnknownNetworkError("other"), false, verdict.CauseExpectError},
		{net.UnknownNetworkError("eof"), true, verdict.CauseExpectClosed},
	}
	for _, tc := range cases {
		if got := readCause(tc.err, tc.ended); got != tc.want {
			t.Errorf("readCause(%v, %v) = %q, want %q", tc.err, tc.ended, got, tc.want)
		}
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }
