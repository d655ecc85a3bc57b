package collector

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/tcp-verdict/tcp_verdict_exporter/prober"
)

// blackbox_exporter's TLS series, with its names, help, labels and values,
// so that certificate-expiry alerts written for its tcp+tls modules work
// unchanged. As there, they appear only when a TLS handshake succeeded
// (tls, or a query_response starttls); a failed handshake gives none of
// them, and tcp_session_failure_info says why it failed.
var (
	sslEarliestExpiryFamily = newFamily("probe_ssl_earliest_cert_expiry",
		"Returns the earliest expiry of any certificate the server sent, as a Unix timestamp, verified or not.")
	sslLastChainExpiryFamily = newFamily("probe_ssl_last_chain_expiry_timestamp_seconds",
		"Returns the expiry of the verified chain that expires last (each chain expiring with its earliest certificate), as a Unix timestamp; the zero time (-62135596800) when nothing was verified.")
	sslLastChainInfoFamily = newFamily("probe_ssl_last_chain_info",
		"Contains SSL leaf certificate information",
		// Sorted by name, as a registry exposes label pairs.
		"fingerprint_sha256", "issuer", "serialnumber", "subject", "subjectalternative")
	tlsVersionFamily = newFamily("probe_tls_version_info",
		"Returns the TLS version used or NaN when unknown", "version")
	tlsCipherFamily = newFamily("probe_tls_cipher_info",
		"Returns the TLS cipher negotiated during handshake", "cipher")
)

// sessionFailureFamily is our own: why a connected session failed, as a
// bounded (phase, cause) pair from verdict.Causes.
var sessionFailureFamily = newFamily("tcp_session_failure_info",
	"Why the session failed after the TCP connection was made: the phase (tls, query, hold) and a bounded cause (expired, unknown-authority, hostname-mismatch, not-tls, expect-timeout, ...). Only when such a step failed.",
	"cause", "phase")

// tlsSamples adds the TLS series when a handshake succeeded, and the
// session failure when a step after the connection failed.
func tlsSamples(s []sample, r *prober.Result) []sample {
	if r.Cause != "" {
		s = append(s, sample{sessionFailureFamily, []string{string(r.Cause), r.Cause.Info().Phase}, 1})
	}
	st := r.TLS
	if st == nil || len(st.PeerCertificates) == 0 {
		return s
	}
	leaf := st.PeerCertificates[0]
	fingerprint := sha256.Sum256(leaf.Raw)
	return append(s,
		sample{sslEarliestExpiryFamily, nil, unixSeconds(earliestExpiry(st.PeerCertificates))},
		sample{sslLastChainExpiryFamily, nil, unixSeconds(lastChainExpiry(st))},
		sample{sslLastChainInfoFamily, []string{
			hex.EncodeToString(fingerprint[:]),
			leaf.Issuer.String(),
			serialNumber(leaf),
			leaf.Subject.String(),
			strings.Join(leaf.DNSNames, ","),
		}, 1},
		sample{tlsVersionFamily, []string{tlsVersion(st.Version)}, 1},
		sample{tlsCipherFamily, []string{tls.CipherSuiteName(st.CipherSuite)}, 1},
	)
}

// earliestExpiry is the soonest NotAfter among the certificates the server
// sent, verified or not.
func earliestExpiry(certs []*x509.Certificate) time.Time {
	var t time.Time
	for _, c := range certs {
		if !c.NotAfter.IsZero() && (t.IsZero() || c.NotAfter.Before(t)) {
			t = c.NotAfter
		}
	}
	return t
}

// lastChainExpiry is, over the verified chains, the latest of each chain's
// soonest NotAfter: when the last chain that could still verify expires.
// It is the zero time when nothing was verified (insecure_skip_verify), as
// in blackbox_exporter.
func lastChainExpiry(st *tls.ConnectionState) time.Time {
	var last time.Time
	for _, chain := range st.VerifiedChains {
		if e := earliestExpiry(chain); last.IsZero() || last.Before(e) {
			last = e
		}
	}
	return last
}

// serialNumber is the bytes in hex, keeping the leading zeros that
// big.Int's Text drops, as blackbox_exporter's serialnumber label does.
func serialNumber(c *x509.Certificate) string {
	if c.SerialNumber == nil {
		return ""
	}
	return fmt.Sprintf("%x", c.SerialNumber.Bytes())
}

func unixSeconds(t time.Time) float64 { return float64(t.Unix()) }

// tlsVersion spells a version as blackbox_exporter's version label does.
func tlsVersion(v uint16) string {
	switch v {
	case tls.VersionTLS10:
		return "TLS 1.0"
	case tls.VersionTLS11:
		return "TLS 1.1"
	case tls.VersionTLS12:
		return "TLS 1.2"
	case tls.VersionTLS13:
		return "TLS 1.3"
	}
	return "unknown"
}
