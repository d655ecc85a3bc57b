package verdict

import "fmt"

// Cause names what failed after the TCP connection was made: a step of the
// session (the TLS handshake, a query_response step, the hold) that the
// class alone does not tell. The class stays what TCP saw (connected, or
// closed_by_peer when the peer ended the session during the step); the
// cause says why probe_success is 0 anyway. It is a bounded label value
// (tcp_session_failure_info{phase, cause}), so an alert can name it.
type Cause string

// The causes.
const (
	CauseExpired          Cause = "expired"
	CauseNotYetValid      Cause = "not-yet-valid"
	CauseUnknownAuthority Cause = "unknown-authority"
	CauseHostnameMismatch Cause = "hostname-mismatch"
	CauseBadCertificate   Cause = "bad-certificate"
	CauseNotTLS           Cause = "not-tls"
	CauseHandshake        Cause = "handshake"
	CauseHandshakeTimeout Cause = "handshake-timeout"
	CauseHandshakeClosed  Cause = "handshake-closed"
	CauseTLSConfig        Cause = "tls-config"
	CauseExpectTimeout    Cause = "expect-timeout"
	CauseExpectClosed     Cause = "expect-closed"
	CauseExpectError      Cause = "expect-error"
	CauseSendFailed       Cause = "send-failed"
	CauseReadError        Cause = "read-error"
)

// CauseInfo describes one cause.
type CauseInfo struct {
	Cause Cause
	// Phase is the step that failed, as the phase label of
	// tcp_phase_duration_seconds spells it: tls, query or hold. A STARTTLS
	// handshake inside query_response is phase tls too.
	Phase    string
	Evidence string // what the probe saw, after "the TCP handshake completed; then"
	Meaning  string // what that most likely means
	Ask      string // whom to ask, and for what
	// Owner and Team are who fixes it and its routing key, copied from a
	// class (closed_by_peer's service team, or error's exporter operator)
	// so that a cause is routed as the classes are.
	Owner, Team string
}

const askService = "the team that runs the service"

// The teams a cause routes to are the classes' own: a failed session is the
// service's business, as closed_by_peer is; a broken module is the
// exporter's, as error is.
var (
	service  = classInfo(ClosedByPeer)
	exporter = classInfo(Error)
)

// classInfo reads Classes directly: it runs during package initialisation,
// before init builds the class index.
func classInfo(c Class) ClassInfo {
	for _, ci := range Classes {
		if ci.Class == c {
			return ci
		}
	}
	return ClassInfo{}
}

// Causes is every cause, in the order they are documented.
var Causes = []CauseInfo{
	{
		Cause: CauseExpired, Phase: "tls",
		Evidence: "the TLS handshake failed: a certificate the server sent has expired (its NotAfter is in the past)",
		Meaning:  "the service's certificate was not renewed in time",
		Ask:      askService + " to renew its certificate",
		Owner:    service.Owner, Team: service.Team,
	},
	{
		Cause: CauseNotYetValid, Phase: "tls",
		Evidence: "the TLS handshake failed: a certificate the server sent is not valid yet (its NotBefore is in the future)",
		Meaning:  "the service installed a certificate dated in the future, or this host's clock is wrong",
		Ask:      askService + " to check its certificate's dates, and whoever runs the exporter to check this host's clock",
		Owner:    service.Owner, Team: service.Team,
	},
	{
		Cause: CauseUnknownAuthority, Phase: "tls",
		Evidence: "the TLS handshake failed: the server's certificate is not signed by an authority the probe trusts",
		Meaning:  "a self-signed certificate, a private CA the module does not name (tls_config.ca_file), or a chain missing its intermediate",
		Ask:      askService + " to serve a full chain from a trusted CA (or whoever runs the exporter to set tls_config.ca_file, if the CA is private)",
		Owner:    service.Owner, Team: service.Team,
	},
	{
		Cause: CauseHostnameMismatch, Phase: "tls",
		Evidence: "the TLS handshake failed: the server's certificate does not name the target (the name probed, or the IP address for an IP target; tls_config.server_name overrides it)",
		Meaning:  "the certificate was issued for another name, or the target is probed by an address its certificate does not list",
		Ask:      askService + " to serve a certificate that names the target (or whoever runs the exporter to set tls_config.server_name)",
		Owner:    service.Owner, Team: service.Team,
	},
	{
		Cause: CauseBadCertificate, Phase: "tls",
		Evidence: "the TLS handshake failed: the server's certificate chain is invalid for another reason (key usage, constraints, an intermediate that may not sign)",
		Meaning:  "the service's certificate or chain is malformed",
		Ask:      askService + " to fix its certificate chain",
		Owner:    service.Owner, Team: service.Team,
	},
	{
		Cause: CauseNotTLS, Phase: "tls",
		Evidence: "the peer did not answer with TLS: its first bytes are not a TLS record (the banner shows what it sent in plaintext)",
		Meaning:  "the port speaks another protocol in plaintext: TLS is not enabled there, or the wrong port is probed",
		Ask:      askService + " to enable TLS on this port, or whoever owns the target to fix its port",
		Owner:    service.Owner, Team: service.Team,
	},
	{
		Cause: CauseHandshake, Phase: "tls",
		Evidence: "the TLS handshake failed: the server sent a TLS alert, or the two sides share no TLS version or cipher",
		Meaning:  "the service rejects this client's TLS (it may want a client certificate) or its TLS settings and the module's do not overlap",
		Ask:      askService + " (the real error is under \"failed\"), or whoever runs the exporter if the module's tls_config is wrong",
		Owner:    service.Owner, Team: service.Team,
	},
	{
		Cause: CauseHandshakeTimeout, Phase: "tls",
		Evidence: "the server did not complete the TLS handshake before the probe's deadline",
		Meaning:  "the service accepts connections but does not speak TLS in time: it is overloaded, or waits for the client to speak first in plaintext",
		Ask:      askService + " to look at the service's health",
		Owner:    service.Owner, Team: service.Team,
	},
	{
		Cause: CauseHandshakeClosed, Phase: "tls",
		Evidence: "the server closed the connection during the TLS handshake",
		Meaning:  "the service refused this client's TLS parameters (server name, version) or does not speak TLS and hung up",
		Ask:      askService + " to say why it ends TLS handshakes from this client",
		Owner:    service.Owner, Team: service.Team,
	},
	{
		Cause: CauseTLSConfig, Phase: "tls",
		Evidence: "the module's tls_config could not be loaded (a CA, certificate or key file is missing or unreadable); no handshake was attempted",
		Meaning:  "the exporter's own configuration is broken; nothing is known about the service's TLS",
		Ask:      "whoever runs the exporter to fix the module's tls_config files",
		Owner:    exporter.Owner, Team: exporter.Team,
	},
	{
		Cause: CauseExpectTimeout, Phase: "query",
		Evidence: "no line matched a query_response expect before the deadline (the lines read are in the transcript)",
		Meaning:  "the service answered something else, or nothing, in time",
		Ask:      askService + " if its answer changed, or whoever runs the exporter if the module's expect is wrong",
		Owner:    service.Owner, Team: service.Team,
	},
	{
		Cause: CauseExpectClosed, Phase: "query",
		Evidence: "the peer ended the session before a line matched a query_response expect",
		Meaning:  "the service refused the dialogue (an access rule, a protocol error) and hung up",
		Ask:      askService + " to say why it ends the session, or whoever runs the exporter if the module's expect is wrong",
		Owner:    service.Owner, Team: service.Team,
	},
	{
		Cause: CauseExpectError, Phase: "query",
		Evidence: "reading the answer to a query_response step failed with an error that is neither a close nor the deadline",
		Meaning:  "the session broke while the service answered (the real error is under \"failed\")",
		Ask:      askService,
		Owner:    service.Owner, Team: service.Team,
	},
	{
		Cause: CauseSendFailed, Phase: "query",
		Evidence: "sending a query_response line failed",
		Meaning:  "the session broke before the service could be asked",
		Ask:      askService,
		Owner:    service.Owner, Team: service.Team,
	},
	{
		Cause: CauseReadError, Phase: "hold",
		Evidence: "reading during the hold failed with an error that is neither a close nor the end of the hold",
		Meaning:  "the session broke while it was watched (the real error is under \"failed\")",
		Ask:      askService,
		Owner:    service.Owner, Team: service.Team,
	},
}

var causeIndex = func() map[Cause]int {
	m := make(map[Cause]int, len(Causes))
	for i, c := range Causes {
		m[c.Cause] = i
	}
	return m
}()

// unknownCause explains a session that failed for a cause the table does not
// name, so that no failed probe is ever explained as a working one.
var unknownCause = CauseInfo{
	Evidence: "a step after the connection failed (see \"failed\")",
	Meaning:  "the port is reachable but the session did not do what the module expects",
	Ask:      askService + ", or whoever runs the exporter if the module is wrong",
	Owner:    service.Owner, Team: service.Team,
}

// Info returns the description of a cause; an unknown cause yields a generic
// description of a failed session, never an empty one.
func (c Cause) Info() CauseInfo {
	if i, ok := causeIndex[c]; ok {
		return Causes[i]
	}
	i := unknownCause
	i.Cause = c
	return i
}

// FailedEvidence is the evidence line of a session that connected and then
// failed: TCP's part (fine) and the step's.
func (c CauseInfo) FailedEvidence() string {
	return fmt.Sprintf("the TCP handshake completed (the path and the port are fine); then %s", c.Evidence)
}
