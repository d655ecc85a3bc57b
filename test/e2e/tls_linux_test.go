//go:build linux

package e2e

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testpki"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// TLS in the lab: the server runs TLS services whose certificates the test
// makes, the lab's DNS serves their name, and the exporter in the client
// namespace probes them by name and by IP. For an IP target the server name
// checked is the IP, as blackbox does (issue 8), so a certificate that
// names only the host fails by IP with hostname-mismatch. The plaintext
// port is portBanner (an SSH-like greeting). 7040 and 7050 are the
// multi-address and policy tests'.
const (
	portTLSName    = 7060 // valid for tlsName only
	portTLSNameIP  = 7061 // valid for tlsName and the server's addresses
	portTLSExpired = 7062 // expired; for tlsName and the server's addresses
	portTLSSelf    = 7063 // self-signed; for tlsName and the server's addresses
	portTLSOther   = 7064 // valid for another name only
)

// tlsName is the services' name in the lab's zone (unrooted): the server.
var tlsName = "tls." + strings.TrimSuffix(dnsName, ".")

// labPKI is the lab's CA and the leaf each TLS port presents.
type labPKI struct {
	ca     *testpki.CA
	leaves map[int]testpki.Leaf
}

func newLabPKI(t *testing.T) *labPKI {
	t.Helper()
	ca := testpki.NewCA(t)
	ips := []string{ipv4.server(), ipv6.server()}
	now := time.Now()
	return &labPKI{ca: ca, leaves: map[int]testpki.Leaf{
		// Expiring before the CA, so that the chain's earliest expiry is
		// the leaf's.
		portTLSName:    ca.Issue(t, testpki.Spec{DNSNames: []string{tlsName}, NotAfter: now.Add(12 * time.Hour)}),
		portTLSNameIP:  ca.Issue(t, testpki.Spec{DNSNames: []string{tlsName}, IPs: ips, NotAfter: now.Add(13 * time.Hour)}),
		portTLSExpired: ca.Issue(t, testpki.Spec{DNSNames: []string{tlsName}, IPs: ips, NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-time.Hour)}),
		portTLSSelf:    testpki.SelfSigned(t, testpki.Spec{DNSNames: []string{tlsName}, IPs: ips}),
		portTLSOther:   ca.Issue(t, testpki.Spec{DNSNames: []string{"other." + strings.TrimSuffix(dnsName, ".")}}),
	}}
}

// modules are the TLS modules, v4_tls and v6_tls, trusting the lab's CA.
func (p *labPKI) modules() string {
	var b strings.Builder
	for _, f := range families {
		fmt.Fprintf(&b, "  %s_tls:\n    prober: tcp\n    timeout: 2s\n"+
			"    tcp: {preferred_ip_protocol: ip%s, ip_protocol_fallback: false, hold: 0s, tls: true, tls_config: {ca_file: %q}}\n",
			f.name, strings.TrimPrefix(f.name, "v"), p.ca.File)
	}
	return b.String()
}

// listen starts the TLS services in ns.
func (p *labPKI) listen(s *servers, ns string) error {
	for port, leaf := range p.leaves {
		handle := testpki.Handler(&tls.Config{Certificates: []tls.Certificate{leaf.TLS}})
		err := s.listen(ns, port, func(s *servers, c *net.TCPConn) {
			s.keep(c)
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				handle(c)
			}()
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// tlsCase is one TLS probe: a port by name or by the family's address.
type tlsCase struct {
	port   int
	byName bool
	cause  verdict.Cause // "" when the handshake succeeds
	err    string        // in the real error of a failure
}

func (c tlsCase) target(f family) string {
	host := f.server()
	if c.byName {
		host = tlsName
	}
	return net.JoinHostPort(host, strconv.Itoa(c.port))
}

func (c tlsCase) name() string {
	by := "by IP"
	if c.byName {
		by = "by name"
	}
	what := map[int]string{portTLSName: "valid for the name", portTLSNameIP: "valid for the name and IP", portTLSExpired: "expired",
		portTLSSelf: "self-signed", portTLSOther: "another name", portBanner: "plaintext"}[c.port]
	return fmt.Sprintf("%s %s", what, by)
}

// tlsCases are the probes for family f. The errors are Go's x509 and TLS
// texts; for an IP target they name the IP, the server name used.
func tlsCases(f family) []tlsCase {
	noIPSANs := "x509: cannot validate certificate for " + f.server() + " because it doesn't contain any IP SANs"
	var cases []tlsCase
	for _, byName := range []bool{true, false} {
		cases = append(cases,
			tlsCase{portTLSNameIP, byName, "", ""},
			tlsCase{portTLSExpired, byName, verdict.CauseExpired, "x509: certificate has expired or is not yet valid"},
			tlsCase{portTLSSelf, byName, verdict.CauseUnknownAuthority, "x509: certificate signed by unknown authority"},
			tlsCase{portBanner, byName, verdict.CauseNotTLS, "first record does not look like a TLS handshake"},
		)
	}
	return append(cases,
		tlsCase{portTLSName, true, "", ""},
		tlsCase{portTLSName, false, verdict.CauseHostnameMismatch, noIPSANs},
		tlsCase{portTLSOther, true, verdict.CauseHostnameMismatch, "x509: certificate is valid for other.lab.test, not " + tlsName},
		tlsCase{portTLSOther, false, verdict.CauseHostnameMismatch, noIPSANs},
	)
}

// testTLS probes every TLS case through /probe: the TCP verdict is
// connected / syn-ack from the server; a good handshake gives probe_success 1 and blackbox's TLS
// series, with probe_ssl_earliest_cert_expiry the leaf's NotAfter; a bad one
// gives probe_success 0, tcp_session_failure_info with its cause, no TLS
// series, and the real error in the debug text.
func (l *lab) testTLS(t *testing.T) {
	for _, f := range families {
		for _, c := range tlsCases(f) {
			t.Run(f.name+" "+c.name(), func(t *testing.T) {
				t.Parallel()
				target, module := c.target(f), f.name+"_tls"
				r := l.exporter.probe(target, module)
				if r.err != nil {
					t.Fatal(r.err)
				}
				fail := func(format string, args ...any) {
					t.Helper()
					t.Errorf("%s (module %s): "+format+"\n%s", append([]any{target, module}, append(args, r.body)...)...)
				}
				if r.class != string(verdict.Connected) || r.reason != string(verdict.SynAck) || r.responder != f.server() {
					fail("%s/%s from %s, want connected/syn-ack from %s: TCP connected whatever TLS did", r.class, r.reason, r.responder, f.server())
				}
				tlsSeries := strings.Contains(r.body, "probe_ssl_") || strings.Contains(r.body, "probe_tls_")
				if c.cause == "" {
					expiry := "probe_ssl_earliest_cert_expiry " + strconv.FormatFloat(float64(l.pki.leaves[c.port].Cert.NotAfter.Unix()), 'g', -1, 64) + "\n"
					for _, want := range []string{expiry, `probe_tls_version_info{version="TLS 1.3"} 1`, "probe_ssl_last_chain_info{"} {
						if !strings.Contains(r.body, want) {
							fail("lacks %q", want)
						}
					}
					if r.success != 1 || strings.Contains(r.body, "tcp_session_failure_info{") {
						fail("probe_success %v, want 1 and no tcp_session_failure_info", r.success)
					}
					return
				}
				want := fmt.Sprintf(`tcp_session_failure_info{cause=%q,phase="tls"} 1`, c.cause)
				if r.success != 0 || !strings.Contains(r.body, want) {
					fail("probe_success %v, want 0 and %s", r.success, want)
				}
				if tlsSeries {
					fail("TLS series after a failed handshake")
				}
				if debug := l.exporter.debugProbe(target, module); !strings.Contains(debug, c.err) || strings.Contains(debug, "all is well") {
					t.Errorf("%s: debug text lacks the real error %q, or says all is well\n%s", target, c.err, debug)
				}
			})
		}
	}
}

// testTLSCheck runs check on every TLS case, one command per family: each
// result's class, success, cause and real error, exit code 0 for a good
// handshake and 3 for a failed one, and 3 for the command; and check on a
// good target alone exits 0.
func (l *lab) testTLSCheck(t *testing.T) {
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			module := "--module=" + f.name + "_tls"
			cases := tlsCases(f)
			var targets []string
			for _, c := range cases {
				targets = append(targets, c.target(f))
			}
			out, stderr, code := l.runCheck(t, append([]string{module, "--output=json"}, targets...)...)
			var doc struct {
				ExitCode int `json:"exit_code"`
				Results  []struct {
					Target, Class, Failure string
					Success                bool
					ExitCode               int    `json:"exit_code"`
					FailurePhase           string `json:"failure_phase"`
					FailureCause           string `json:"failure_cause"`
				}
			}
			if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Results) != len(cases) {
				t.Fatalf("check --output=json: %v, %d results for %d targets\n%s\nstderr: %s", err, len(doc.Results), len(cases), out, stderr)
			}
			for i, c := range cases {
				r := doc.Results[i]
				wantCode, wantPhase := 0, ""
				if c.cause != "" {
					wantCode, wantPhase = 3, "tls"
				}
				if r.Target != c.target(f) || r.Class != string(verdict.Connected) || r.Success != (c.cause == "") || r.ExitCode != wantCode ||
					r.FailureCause != string(c.cause) || r.FailurePhase != wantPhase || !strings.Contains(r.Failure, c.err) {
					t.Errorf("%s: check says %+v; want connected, success %v, exit %d, cause %q (phase %q), failure with %q",
						c.name(), r, c.cause == "", wantCode, c.cause, wantPhase, c.err)
				}
			}
			if code != 3 || doc.ExitCode != 3 {
				t.Errorf("exit status %d (JSON %d), want 3\nstderr: %s", code, doc.ExitCode, stderr)
			}
			valid := tlsCase{port: portTLSName, byName: true}.target(f)
			if out, stderr, code := l.runCheck(t, module, valid); code != 0 {
				t.Errorf("check %s: exit %d, want 0\n%s\nstderr: %s", valid, code, out, stderr)
			}
		})
	}
}
